/**
 * A "model soup" (Wortsman et al., 2022): the uniform average of the weights of several models fine-tuned
 * from one pre-trained lineage. Fine-tunes of the same base stay in one basin of the loss, so their
 * average is a model too — usually a better one than any of them (each seed memorises a little
 * differently; the average keeps what they share). Models trained apart from each other have no such
 * relation, and averaging them gives noise: the caller validates the result before serving it.
 */
import type { ModelConfig } from '../src/model/config.js';
import type { NamedArray } from '../src/model/tensor-file.js';
import { roundMetric, type ModelCard, type RunRecord, type TrainingRecord } from '../src/model/store.js';

export class SoupError extends Error {}

/** Config fields that must agree for weights to be averaged (dropout is a training setting, not shape). */
const SHAPE_FIELDS: (keyof ModelConfig)[] = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd', 'mlpDim', 'maxRelDist', 'tokenizer'];

/** Throws a SoupError naming the first field on which a config differs from the first one. */
export function checkSameArchitecture(configs: { name: string; config: ModelConfig }[]): void {
  const [first, ...rest] = configs;
  for (const other of rest) {
    for (const field of SHAPE_FIELDS) {
      if (other.config[field] !== first.config[field]) {
        throw new SoupError(`${other.name} has ${field} ${String(other.config[field])} but ${first.name} has ${String(first.config[field])}: only models of one architecture can be averaged`);
      }
    }
  }
}

/**
 * Element-wise mean of tensors with the same names and shapes (accumulated in float64, stored as float32).
 * `count` weighs a set that is itself an average of that many models, so adding a model to a soup of n gives
 * the uniform soup of n + 1.
 */
export function averageWeights(sets: { name: string; weights: Record<string, NamedArray>; count?: number }[]): Record<string, NamedArray> {
  if (sets.length < 2) throw new SoupError('a soup needs at least two models');
  const [first, ...rest] = sets;
  const names = Object.keys(first.weights).sort();
  for (const other of rest) {
    const otherNames = Object.keys(other.weights).sort();
    if (otherNames.join() !== names.join()) throw new SoupError(`${other.name} holds other tensors than ${first.name}`);
    for (const n of names) {
      if (other.weights[n].shape.join('x') !== first.weights[n].shape.join('x')) {
        throw new SoupError(`tensor ${n} is ${other.weights[n].shape.join('x')} in ${other.name} but ${first.weights[n].shape.join('x')} in ${first.name}`);
      }
    }
  }
  const total = sets.reduce((a, s) => a + (s.count ?? 1), 0);
  const out: Record<string, NamedArray> = {};
  for (const n of names) {
    const sum = new Float64Array(first.weights[n].data.length);
    for (const s of sets) {
      const d = s.weights[n].data;
      const w = s.count ?? 1;
      for (let i = 0; i < d.length; i++) sum[i] += w * d[i];
    }
    out[n] = { shape: first.weights[n].shape, data: Float32Array.from(sum, (x) => x / total) };
  }
  return out;
}

/** One ingredient as the soup's card records it. */
export interface Ingredient {
  dir: string;
  card: ModelCard | undefined;
  valLoss: number;
  valAccuracy: number;
}

/**
 * The training section of a soup's card: which models went in (with their own validation), and as history every
 * run behind any of them — each shared run once — so the totals state all the compute the soup stands on.
 */
export function soupTraining(ingredients: Ingredient[], run: { command: string; wallSeconds: number; backend: string }): TrainingRecord {
  const history: RunRecord[] = [];
  const seen = new Set<string>();
  const add = (r: RunRecord) => {
    const key = JSON.stringify([r.model, r.steps, r.tokensSeen, r.wallSeconds, r.command ?? r.reproduce]);
    if (!seen.has(key)) {
      seen.add(key);
      history.push(r);
    }
  };
  for (const { card } of ingredients) {
    const t = card?.training;
    if (!t) continue;
    for (const h of t.history ?? []) add(h);
    add({ model: card.name, steps: t.steps, tokensSeen: t.tokensSeen, wallSeconds: t.wallSeconds, lr: t.lr, command: t.command ?? t.reproduce });
  }
  const sum = (key: 'steps' | 'tokensSeen' | 'wallSeconds') => history.reduce((a, h) => a + (h[key] ?? 0), 0);
  return {
    // A soup among the ingredients contributes its own ingredients (it was weighed by their number).
    soupOf: ingredients.flatMap((i) => soupOf(i.card) ?? [{
      dir: i.dir,
      name: i.card?.name,
      seed: i.card?.training?.seed,
      init: i.card?.training?.init,
      steps: i.card?.training?.steps,
      description: i.card?.description,
      valLoss128: roundMetric(i.valLoss),
      valAccuracy128: roundMetric(i.valAccuracy),
    }]),
    command: run.command,
    wallSeconds: Math.round(run.wallSeconds),
    backend: run.backend,
    history,
    stepsTotal: sum('steps'),
    tokensSeenTotal: sum('tokensSeen'),
    wallSecondsTotal: sum('wallSeconds') + Math.round(run.wallSeconds),
  };
}

/** The ingredients a soup's card lists, or undefined for a model that is not a soup. */
export function soupOf(card: ModelCard | undefined): Record<string, unknown>[] | undefined {
  const list = card?.training?.soupOf;
  return Array.isArray(list) && list.length > 0 ? (list as Record<string, unknown>[]) : undefined;
}
