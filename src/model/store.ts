/**
 * A model directory: `config.json` (ModelConfig), `weights.mtw` (tensor file, see tensor-file.ts) and
 * `card.json` (what data, how trained, metrics). A directory is written beside its destination and
 * renamed into place; the previous version is kept as `<dir>.previous` for rollback.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GPT, toVariables } from './gpt.js';
import { type ModelConfig, validateConfig } from './config.js';
import { readTensorFile, writeTensorFile, writeFileAtomic, type NamedArray, type StoredDtype } from './tensor-file.js';
import { jsonText } from '../util/json-text.js';
import { KnownError } from '../util/known-error.js';
import type { PedalStyle } from '../music/pedal.js';
import { VELOCITY_FEATURE_NAMES, type DynamicsModel } from '../music/dynamics.js';
import type { ModelCard } from './card.js';

// The card's types and reader live in card.ts (free of TensorFlow.js, for commands that only read cards).
export { readCard, type ModelCard, type RunRecord, type TrainingRecord } from './card.js';

/** A built corpus' manifest without its file list (what a model card records of its data), or null when it has none. */
export function readManifestSummary(corpusDir: string): Record<string, unknown> | null {
  const path = join(corpusDir, 'manifest.json');
  if (!existsSync(path)) return null;
  const { files: _files, ...summary } = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  return summary;
}

/** The style a manifest (or a card's summary of one) names: undefined for the pre-training corpus. */
function manifestStyle(manifest: unknown): string | undefined {
  const style = (manifest as { settings?: { style?: unknown } } | null | undefined)?.settings?.style;
  return typeof style === 'string' ? style : undefined;
}

/** The style a model was trained on, as its card's corpus manifest names it (undefined for the base or an older card). */
export function cardStyle(card: ModelCard | undefined): string | undefined {
  return manifestStyle(card?.data?.manifest);
}

/** The style a built corpus is of (undefined for the pre-training corpus or an unreadable manifest). */
export function corpusStyle(corpusDir: string): string | undefined {
  try {
    return manifestStyle(readManifestSummary(corpusDir));
  } catch {
    return undefined;
  }
}

/** A model directory that cannot be loaded (missing or damaged files): the message names the file and what is wrong. */
export class ModelLoadError extends KnownError {}

export function weightsToArrays(model: GPT): Record<string, NamedArray> {
  const out: Record<string, NamedArray> = {};
  for (const [name, v] of Object.entries(model.weights)) out[name] = { shape: v.shape, data: v.dataSync() as Float32Array };
  return out;
}

export function saveModel(dir: string, model: GPT, card: ModelCard, dtype: StoredDtype = 'float16'): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileAtomic(join(tmp, 'config.json'), [JSON.stringify(model.config, null, 2) + '\n']);
  writeTensorFile(join(tmp, 'weights.mtw'), weightsToArrays(model), dtype);
  writeFileAtomic(join(tmp, 'card.json'), [jsonText(card)]);
  replaceDir(tmp, dir);
}

/**
 * Swap `tmp` into `dir`. The old `dir` becomes `dir.previous` first, so a crash between the two renames
 * leaves it there to fall back on; it is kept (models: rollback) unless `keepPrevious` is false.
 */
export function replaceDir(tmp: string, dir: string, keepPrevious = true): void {
  const previous = `${dir}.previous`;
  if (existsSync(dir)) {
    rmSync(previous, { recursive: true, force: true });
    renameSync(dir, previous);
  }
  renameSync(tmp, dir);
  if (!keepPrevious) rmSync(previous, { recursive: true, force: true });
}

/**
 * Serve `dir`'s previous model again (`<dir>.previous`, which every promotion keeps); the replaced one becomes the
 * previous, so a second rollback undoes the first. Throws when there is none.
 */
export function rollbackModel(dir: string): void {
  const previous = `${dir}.previous`;
  if (!existsSync(join(previous, 'config.json'))) throw new ModelLoadError(`there is no previous model in ${previous} to roll back to`);
  const swap = `${dir}.rollback-${process.pid}-${Date.now()}`;
  if (existsSync(dir)) renameSync(dir, swap);
  renameSync(previous, dir);
  if (existsSync(swap)) renameSync(swap, previous);
}

export function readConfig(dir: string): ModelConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new ModelLoadError(`no model at ${dir} (missing config.json)`);
  try {
    return validateConfig(JSON.parse(readFileSync(path, 'utf8')) as ModelConfig);
  } catch (err) {
    throw new ModelLoadError(`model at ${dir} has a bad config.json: ${(err as Error).message}`);
  }
}

/**
 * How the style's performers play what the tokens leave out — sustain pedal and dynamics (`maestro performance`,
 * training/performance-fit.ts). It belongs to the style, not to one set of weights.
 */
export const PERFORMANCE_FILE = 'performance.json';
export const PERFORMANCE_FORMAT = 'maestro-performance/1';

export interface StylePerformance {
  /** null: the style is played dry. */
  pedal: PedalStyle | null;
  dynamics: DynamicsModel;
}

/**
 * The pedal rule and dynamics in a model directory's performance.json; null when it has none. A damaged file is a
 * ModelLoadError (the caller decides whether to compose without it).
 */
export function readPerformance(dir: string): StylePerformance | null {
  const path = join(dir, PERFORMANCE_FILE);
  if (!existsSync(path)) return null;
  const bad = (why: string) => new ModelLoadError(`${path} ${why}; refit it with maestro performance`);
  let json: { format?: unknown; pedal?: { pedal?: Partial<PedalStyle> | null }; dynamics?: { model?: Partial<DynamicsModel> } };
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as typeof json;
  } catch (err) {
    throw bad(`is not valid JSON (${(err as Error).message})`);
  }
  if (json.format !== PERFORMANCE_FORMAT) throw bad(`is not a ${PERFORMANCE_FORMAT} file`);
  const inRange = (x: unknown, lo: number, hi: number) => typeof x === 'number' && x >= lo && x <= hi;
  const p = json.pedal?.pedal;
  if (p !== null && (!p || !inRange(p.harmonyChange, 0, 1) || !inRange(p.minLiftGapSec, 0, 60) || !inRange(p.liftSec, 0, 5))) {
    throw bad(`has a bad pedal rule ${JSON.stringify(p)}`);
  }
  const d = json.dynamics?.model;
  if (!d || !Array.isArray(d.weights) || d.weights.length !== VELOCITY_FEATURE_NAMES.length || !d.weights.every((w) => Number.isFinite(w)) || !inRange(d.level, 1, 127)) {
    throw bad('has no usable dynamics model');
  }
  const res = d.residual;
  if (res !== undefined && (!inRange(res.rho, -0.999, 0.999) || !inRange(res.sigma, 0, 64))) throw bad(`has a bad dynamics residual ${JSON.stringify(res)}`);
  return {
    pedal: p ? { harmonyChange: p.harmonyChange!, minLiftGapSec: p.minLiftGapSec!, liftSec: p.liftSec! } : null,
    dynamics: { weights: d.weights, level: d.level!, ...(res ? { residual: { rho: res.rho, sigma: res.sigma } } : {}) },
  };
}

/** The validation loss a card records (128-token windows), or Infinity when it records none: any model beats it. */
export function cardValLoss(card: ModelCard | undefined): number {
  return Number((card?.metrics as Record<string, unknown> | undefined)?.valLoss128 ?? Infinity);
}

/** A metric as cards record it: 4 decimals. */
export function roundMetric(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

export function writeCard(dir: string, card: ModelCard): void {
  writeFileAtomic(join(dir, 'card.json'), [jsonText(card)]);
}

/** Load a model directory. The backend must already be initialised (see backend.ts). */
export function loadModel(dir: string): GPT {
  const config = readConfig(dir);
  const path = join(dir, 'weights.mtw');
  if (!existsSync(path)) throw new ModelLoadError(`model at ${dir} has no weights.mtw`);
  let arrays: Record<string, NamedArray>;
  try {
    arrays = readTensorFile(path);
  } catch (err) {
    throw new ModelLoadError((err as Error).message);
  }
  const weights = arraysToWeights(arrays);
  try {
    return new GPT(config, weights);
  } catch (err) {
    for (const w of Object.values(weights)) w.dispose();
    throw new ModelLoadError(`model at ${dir}: ${(err as Error).message}`);
  }
}

export function arraysToWeights(arrays: Record<string, NamedArray>): ReturnType<typeof toVariables> {
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, a] of Object.entries(arrays)) tensors[name] = tf.tensor(a.data, a.shape, 'float32');
  return toVariables(tensors);
}
