/**
 * A style memory on disk, inside its model directory: `memory.json` (settings, weights and gate, where the tokens came
 * from, what the fit measured) and the training tokens it holds, `memory-<sha256 prefix>.bin`. The tokens are
 * written first under a name of their own and the json last (atomically), so a crash at any point leaves a json
 * that names a complete file.
 */
import { existsSync, readdirSync, readFileSync, rmSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { MEMORY_FIELDS, MEMORY_FORMAT, StyleMemory, type MemoryField, type MemorySettings } from './memory.js';
import { GATE_FEATURES, MATCH_BUCKETS, NEAR_CELLS, type HiddenProjection, type MemoryGate, type MemoryWeights } from './memory-mix.js';
import { writeFileAtomic } from './tensor-file.js';
import { isPlainView, isViewWeight, MAX_VIEW_WEIGHT, type View } from './views.js';
import { jsonText } from '../util/json-text.js';
import { sha256 } from '../util/sha256.js';
import { ModelLoadError } from './store.js';

export const MEMORY_FILE = 'memory.json';

export interface MemoryFile {
  format: typeof MEMORY_FORMAT;
  settings: MemorySettings;
  weights: MemoryWeights;
  source: {
    /** The corpus whose training part the memory holds, its train.bin sha256 and size. */
    corpus: string;
    file: string;
    sha256: string;
    tokens: number;
    notes: number;
  };
  /** What choosing the weights measured (see training/memory-fit.ts). */
  fit?: Record<string, unknown>;
  licence: string;
}

export function saveMemory(dir: string, memory: StyleMemory, info: { corpus: string; fit?: Record<string, unknown>; licence: string }): MemoryFile {
  const sha = sha256(memory.trainTokens);
  const file = `memory-${sha.slice(0, 12)}.bin`;
  writeFileAtomic(join(dir, file), [memory.trainTokens]);
  const json: MemoryFile = {
    format: MEMORY_FORMAT,
    settings: memory.settings,
    weights: memory.weights,
    source: { corpus: info.corpus, file, sha256: sha, tokens: memory.trainTokens.length, notes: memory.notes },
    ...(info.fit ? { fit: info.fit } : {}),
    licence: info.licence,
  };
  writeFileAtomic(join(dir, MEMORY_FILE), [jsonText(json)]);
  for (const f of readdirSync(dir)) if (/^memory-[0-9a-f]+\.bin$/.test(f) && f !== file) rmSync(join(dir, f), { force: true });
  return json;
}

export function readMemoryFile(dir: string): MemoryFile | undefined {
  const path = join(dir, MEMORY_FILE);
  if (!existsSync(path)) return undefined;
  let json: MemoryFile;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as MemoryFile;
  } catch (err) {
    throw new ModelLoadError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (json.format !== MEMORY_FORMAT) throw new ModelLoadError(`${path}: unknown memory format ${JSON.stringify(json.format)} (expected ${MEMORY_FORMAT})`);
  const tables: [string, unknown, number][] = [
    ...MEMORY_FIELDS.map((f) => [f, json.weights?.[f], MATCH_BUCKETS.length + 1] as [string, unknown, number]),
    ...MEMORY_FIELDS.map((f) => [`near.${f}`, json.weights?.near?.[f], NEAR_CELLS] as [string, unknown, number]),
  ];
  for (const [name, w, size] of tables) {
    if (!Array.isArray(w) || w.length !== size || !w.every((x) => typeof x === 'number' && x >= 0 && x < 1)) {
      throw new ModelLoadError(`${path}: weights.${name} must be ${size} numbers in [0, 1)`);
    }
  }
  const gate: unknown = json.weights.gate;
  if (gate !== undefined && !isGate(gate)) {
    throw new ModelLoadError(`${path}: weights.gate must hold features (the ${GATE_FEATURES.length} of this version: refit with "maestro memory"), maxContext (a positive whole number), optionally hidden (per field, a mean and 1–64 components of its width) and, per field it gates, ${GATE_FEATURES.length} finite numbers (plus one per hidden component) in both exact and near`);
  }
  const views: unknown = json.settings?.views;
  const isView = (v: unknown) => {
    if (typeof v !== 'object' || v === null) return false;
    const { semitones, tempo, weight } = v as View;
    const inRange = (x: unknown, lo: number, hi: number) => typeof x === 'number' && x >= lo && x <= hi;
    return Number.isInteger(semitones) && Math.abs(semitones) <= 24 && inRange(tempo, 0.5, 2) && (weight === undefined || isViewWeight(weight));
  };
  if (views !== undefined && !(Array.isArray(views) && views.length >= 1 && views.length <= 16 && views.every(isView))) {
    throw new ModelLoadError(`${path}: settings.views must be 1–16 views { semitones: whole number within ±24, tempo: 0.5–2, weight (optional): above 0, at most ${MAX_VIEW_WEIGHT} }`);
  }
  // The gate reads the plain context's hidden state, which composing computes only as one of the views.
  if (json.weights.gate?.hidden && Object.keys(json.weights.gate.hidden).length > 0 && views !== undefined && !(views as View[]).some(isPlainView)) {
    throw new ModelLoadError(`${path}: weights.gate.hidden reads the plain context's hidden state, so settings.views must include the plain view (semitones 0, tempo 1)`);
  }
  return json;
}

function isGate(g: unknown): g is MemoryGate {
  if (typeof g !== 'object' || g === null) return false;
  const { features, maxContext, exact, near, hidden } = g as MemoryGate;
  const numbers = (w: unknown, length?: number): w is number[] => Array.isArray(w) && (length === undefined || w.length === length) && w.every((x) => typeof x === 'number' && Number.isFinite(x));
  const isField = (f: string) => (MEMORY_FIELDS as readonly string[]).includes(f);
  // A projection: a mean of some width and 1–64 components of that width.
  const isProjection = (p: unknown): p is HiddenProjection => {
    if (typeof p !== 'object' || p === null) return false;
    const { mean, components } = p as HiddenProjection;
    return numbers(mean) && mean.length > 0 && Array.isArray(components) && components.length >= 1 && components.length <= 64 && components.every((c) => numbers(c, mean.length));
  };
  if (hidden !== undefined && !(typeof hidden === 'object' && hidden !== null && Object.entries(hidden).every(([f, p]) => isField(f) && isProjection(p)))) return false;
  const width = (f: string) => GATE_FEATURES.length + (hidden?.[f as MemoryField]?.components.length ?? 0);
  const fieldsOk = (table: unknown) => typeof table === 'object' && table !== null && Object.entries(table).every(([f, w]) => isField(f) && numbers(w, width(f)));
  return (
    Array.isArray(features) && features.length === GATE_FEATURES.length && features.every((f, i) => f === GATE_FEATURES[i]) &&
    Number.isInteger(maxContext) && maxContext > 0 &&
    fieldsOk(exact) && fieldsOk(near) &&
    MEMORY_FIELDS.every((f) => (exact[f] === undefined) === (near[f] === undefined))
  );
}

/** The style memory of a model directory, or undefined when it has none. A damaged one is an error, not silence. */
export function loadMemory(dir: string): StyleMemory | undefined {
  const json = readMemoryFile(dir);
  if (!json) return undefined;
  const path = join(dir, json.source.file);
  if (!existsSync(path)) throw new ModelLoadError(`${join(dir, MEMORY_FILE)} names ${json.source.file}, which is missing`);
  const tokens = new Uint8Array(readFileSync(path));
  if (sha256(tokens) !== json.source.sha256) throw new ModelLoadError(`${path} does not match the sha256 in ${MEMORY_FILE}: rebuild it with "maestro memory"`);
  return new StyleMemory(tokens, json.settings, json.weights);
}

/** Copy a memory from one model directory to another (a promoted model keeps its style's memory). */
export function copyMemory(from: string, to: string): boolean {
  const json = readMemoryFile(from);
  if (!json) return false;
  copyFileSync(join(from, json.source.file), join(to, json.source.file));
  copyFileSync(join(from, MEMORY_FILE), join(to, MEMORY_FILE));
  return true;
}
