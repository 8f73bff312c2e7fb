/**
 * A model's card (`card.json`: what data, how trained, metrics) and its reader. Kept free of TensorFlow.js so that
 * commands that only read cards (`maestro dataset build --base`) need not load it; store.ts re-exports both.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One training run behind a model: a card's own run, or an entry of its history. */
export interface RunRecord {
  /** Name of the model the run produced (history entries). */
  model?: string;
  steps?: number;
  tokensSeen?: number;
  wallSeconds?: number;
  lr?: number;
  command?: string;
  /** How the first cards recorded their command. */
  reproduce?: string;
}

/**
 * How a model was trained, as `maestro train` writes it: its own run, every earlier run it continues or
 * was fine-tuned from (oldest first) and totals over all of them. Cards from older versions may lack fields.
 */
export interface TrainingRecord extends RunRecord {
  /** The --init model directory, or null for a model trained from scratch. */
  init?: string | null;
  /** The --init model's depth when --layers deepened it. */
  deepenedFrom?: number;
  history?: RunRecord[];
  stepsTotal?: number;
  tokensSeenTotal?: number;
  wallSecondsTotal?: number;
  note?: string;
  [key: string]: unknown;
}

/** What a model card records. Free-form beyond these fields. */
export interface ModelCard {
  name: string;
  description: string;
  licence: string;
  data?: Record<string, unknown>;
  training?: TrainingRecord;
  metrics?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The corpus directory a model was trained on, as its card records it. */
export function cardCorpus(card: ModelCard | undefined): string | undefined {
  const corpus = card?.data?.corpus;
  return typeof corpus === 'string' ? corpus : undefined;
}

export function readCard(dir: string): ModelCard | undefined {
  const path = join(dir, 'card.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ModelCard) : undefined;
}
