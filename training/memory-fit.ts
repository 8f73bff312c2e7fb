/**
 * Fitting a style memory's weights: how much the memory's guess counts against the GPT's, per token field and
 * match length. The weights are chosen on a corpus' validation windows (the promotion rule has always chosen
 * on them), and `crossValidated` reports what that choice is worth on windows it did not see: weights fitted on
 * the odd windows score the even ones and vice versa.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { GPT } from '../src/model/gpt.js';
import { DEFAULT_MEMORY_SETTINGS, MEMORY_FIELDS, StyleMemory, type MemoryField, type MemorySettings } from '../src/model/memory.js';
import { bucketOf, refine, refinedGuesses, MATCH_BUCKETS, MemoryTrack, NEAR_CELLS, nearCell, type MemoryGate, type MemoryWeights } from '../src/model/memory-mix.js';
import { readMemoryFile, saveMemory, type MemoryFile } from '../src/model/memory-store.js';
import { loadModel, readCard, roundMetric, writeCard } from '../src/model/store.js';
import { sha256 } from '../src/util/sha256.js';
import { forEachTarget, windowStarts } from './evaluate.js';
import { fitGate, gatedProbability, gateSamples, hiddenProjections, HIDDEN_COMPONENTS, MIN_GATE_SAMPLES, type GateSample } from './memory-gate.js';
import { isPlain, isPlainView } from '../src/model/views.js';

/** One target the memory had a guess for: what the GPT, the exact match and the pitch neighbours gave the true token. */
export interface MemoryVote {
  window: number;
  field: number;
  /** Exact match-length bucket (0: no exact match, `memory` is then 0). */
  bucket: number;
  model: number;
  memory: number;
  /** The neighbours' probability and weight cell, when they had a guess. */
  near?: { p: number; cell: number };
  /** `memory` and `near.p` for each refinement exponent of REFINE_GRID (for choosing the exponents). */
  refined?: { exact: number[]; near?: number[] };
  /** What a gate needs of the position (memory-gate.ts): the GPT's log-probabilities, the raw guesses, where it is. */
  position?: { logProbs: Float32Array; exact?: Float32Array; near?: Float32Array; matchLength: number; similarity: number; contextTokens: number; track: number[]; hidden?: Float32Array };
}

export interface MemoryVotes {
  votes: MemoryVote[];
  /** Summed GPT loss of the targets without a vote, and all targets. */
  restLoss: number;
  restByWindow: Float64Array;
  /** Summed loss of the GPT alone on the plain context (without the memory's views of it), all targets. */
  plainLoss: number;
  tokens: number;
  windows: number;
}

/** A cell (field × bucket) with fewer votes than this has too few to choose a weight from: it keeps 0 (a long exact match: the weight of the bucket below). */
export const MIN_VOTES = 30;

/** The weights tried for each (field, match-length bucket). */
export const WEIGHT_GRID = [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.96, 0.98, 0.99];

/** Each target's votes; with `withHidden`, each vote's position also holds the plain context's final hidden state (for a gate that reads it). */
export function collectVotes(model: GPT, memory: StyleMemory, stream: Uint8Array, seqLen = 128, onProgress?: (done: number, total: number) => void, withHidden = false): MemoryVotes {
  const starts = windowStarts(stream.length, seqLen);
  const votes: MemoryVote[] = [];
  const restByWindow = new Float64Array(starts.length);
  let restLoss = 0;
  let plainLoss = 0;
  let done = -1;
  let track = new MemoryTrack();
  forEachTarget(model, stream, seqLen, starts, 16, (window, s, t, logProbs, y, plain, hidden) => {
    plainLoss -= plain[y];
    if (t === 0) track = new MemoryTrack(); // each window is a sequence of its own
    const guess = memory.guess(stream.subarray(s, s + t + 1));
    if (guess) {
      const refined = refinedGuesses(logProbs, guess);
      const { exact, near } = guess;
      votes.push({
        window,
        field: MEMORY_FIELDS.indexOf(guess.field),
        bucket: bucketOf(guess.matchLength),
        model: Math.exp(logProbs[y]),
        memory: refined.exact?.[y] ?? 0,
        ...(near ? { near: { p: refined.near![y], cell: nearCell(guess.matchLength, near.similarity) } } : {}),
        refined: {
          exact: REFINE_GRID.map((b) => (exact ? refine(exact, logProbs, b)[y] : 0)),
          ...(near ? { near: REFINE_GRID.map((b) => refine(near.probs, logProbs, b)[y]) } : {}),
        },
        position: {
          logProbs: Float32Array.from(logProbs),
          ...(exact ? { exact: Float32Array.from(exact) } : {}),
          ...(near ? { near: Float32Array.from(near.probs) } : {}),
          matchLength: guess.matchLength,
          similarity: near?.similarity ?? 0,
          contextTokens: guess.contextTokens,
          track: track.features(guess.field),
          // A copy: the pass's whole output would otherwise stay alive behind each vote.
          ...(hidden ? { hidden: Float32Array.from(hidden) } : {}),
        },
      });
      track.observe(logProbs[y], guess, y);
    } else {
      restLoss -= logProbs[y];
      restByWindow[window] -= logProbs[y];
    }
    if (window !== done && t === seqLen - 1) onProgress?.((done = window) + 1, starts.length);
  }, memory.settings.views, withHidden);
  return { votes, restLoss, restByWindow, plainLoss, tokens: starts.length * seqLen, windows: starts.length };
}

/**
 * For each field and match-length bucket, the grid weight of the exact match with the lowest loss on the votes `use`
 * selects; then, on top of that mix, the neighbours' weight for each of their cells.
 */
export function fitWeights(votes: readonly MemoryVote[], use: (v: MemoryVote) => boolean = () => true, minVotes = MIN_VOTES): MemoryWeights {
  const buckets = MATCH_BUCKETS.length + 1;
  const pick = (row: Float64Array, votes: number) => (votes < minVotes ? 0 : WEIGHT_GRID[row.reduce((best, x, k) => (x < row[best] ? k : best), 0)]);
  const loss = MEMORY_FIELDS.map(() => Array.from({ length: buckets }, () => new Float64Array(WEIGHT_GRID.length)));
  const counts = MEMORY_FIELDS.map(() => new Array<number>(buckets).fill(0));
  for (const v of votes) {
    if (!use(v) || v.bucket === 0) continue;
    const row = loss[v.field][v.bucket];
    counts[v.field][v.bucket]++;
    WEIGHT_GRID.forEach((w, k) => (row[k] -= Math.log((1 - w) * v.model + w * v.memory)));
  }
  // Bucket 0 is "no match": no exact guess, so no weight. A longer match is never less sure than a shorter one, so
  // a long-match bucket with too few votes takes the weight of the bucket below it.
  const exact = MEMORY_FIELDS.map((_, f) => {
    const w: number[] = [0];
    for (let b = 1; b < buckets; b++) w.push(counts[f][b] < minVotes && b > 1 ? w[b - 1] : pick(loss[f][b], counts[f][b]));
    return w;
  });
  const zeros = () => Array<number>(NEAR_CELLS).fill(0);
  const weights: MemoryWeights = { dt: exact[0], dur: exact[1], pitch: exact[2], near: { dt: zeros(), dur: zeros(), pitch: zeros() } };
  const nearLoss = MEMORY_FIELDS.map(() => Array.from({ length: NEAR_CELLS }, () => new Float64Array(WEIGHT_GRID.length)));
  const nearCounts = MEMORY_FIELDS.map(() => new Array<number>(NEAR_CELLS).fill(0));
  for (const v of votes) {
    if (!use(v) || !v.near) continue;
    const base = exactMix(v, weights);
    const row = nearLoss[v.field][v.near.cell];
    nearCounts[v.field][v.near.cell]++;
    WEIGHT_GRID.forEach((w, k) => (row[k] -= Math.log((1 - w) * base + w * v.near!.p)));
  }
  MEMORY_FIELDS.forEach((f, i) => {
    for (let c = 0; c < NEAR_CELLS; c++) weights.near[f][c] = pick(nearLoss[i][c], nearCounts[i][c]);
  });
  return weights;
}

/** The probability of the true token after the exact match's mix. */
function exactMix(v: MemoryVote, weights: MemoryWeights): number {
  const w = v.bucket === 0 ? 0 : (weights[MEMORY_FIELDS[v.field]][v.bucket] ?? 0);
  return (1 - w) * v.model + w * v.memory;
}

/** The probability of the true token in the served mix. */
function served(v: MemoryVote, weights: MemoryWeights): number {
  const base = exactMix(v, weights);
  if (!v.near) return base;
  const w = weights.near[MEMORY_FIELDS[v.field]][v.near.cell] ?? 0;
  return (1 - w) * base + w * v.near.p;
}

/** The probability of the true token as served: by the gate where it has the field (and the vote its sample), else by the tables. */
function servedBy(v: MemoryVote, weights: MemoryWeights, sample?: GateSample): number {
  return (weights.gate && sample && gatedProbability(sample, weights.gate)) ?? served(v, weights);
}

/**
 * Mean loss per target of the mix with `weights` over the windows `use` selects (all by default); `samples` (one per
 * vote, memory-gate.ts) when the weights have a gate.
 */
export function mixedLoss(v: MemoryVotes, weights: MemoryWeights, use: (window: number) => boolean = () => true, samples?: readonly (GateSample | undefined)[]): number {
  let loss = 0;
  let windows = 0;
  for (let w = 0; w < v.windows; w++) {
    if (!use(w)) continue;
    loss += v.restByWindow[w];
    windows++;
  }
  v.votes.forEach((x, i) => {
    if (use(x.window)) loss -= Math.log(servedBy(x, weights, samples?.[i]));
  });
  return loss / (windows * (v.tokens / v.windows));
}

/** The mean loss over the same targets of the GPT part of the mix (the memory's views of the context combined, if any). */
export function modelLoss(v: MemoryVotes): number {
  return (v.restLoss - v.votes.reduce((a, x) => a + Math.log(x.model), 0)) / v.tokens;
}

/** Two-fold cross-validation over windows: weights fitted on the odd windows score the even ones, and vice versa. */
export function crossValidated(v: MemoryVotes, minVotes = MIN_VOTES): number {
  const cv = crossValidate(v, minVotes);
  return cvLoss(v, cv, {});
}

/**
 * Held-out losses of one two-fold cross-validation, summed: targets without a vote, and voted targets per field by the
 * tables, by a gate, and by a gate that also reads the hidden state.
 */
export interface CrossValidation {
  rest: number;
  tables: number[];
  /** Absent when the votes do not hold their positions (`MemoryVote.position`) or no gate was asked for. */
  gate?: number[];
  /** Absent unless asked for and the votes hold hidden states. */
  hiddenGate?: number[];
}

/** How each field is mixed: by the tables, a gate, or a gate that also reads the hidden state. */
export type FieldMix = 'tables' | 'gate' | 'hidden';

/**
 * Two-fold cross-validation over windows: everything fitted on the odd windows scores the even ones, and vice versa —
 * the refinement exponents (when the votes hold the options), the tables, with `maxContext` a gate (for each field
 * with at least `minGateSamples` samples in the fitting half), and with `hiddenComponents` also a gate that reads
 * that many principal components of the hidden state (found on the fitting half too).
 */
export function crossValidate(v: MemoryVotes, minVotes = MIN_VOTES, maxContext?: number, minGateSamples = MIN_GATE_SAMPLES, hiddenComponents?: number): CrossValidation {
  const cv: CrossValidation = { rest: 0, tables: [0, 0, 0] };
  const withGate = maxContext !== undefined && v.votes.length > 0 && v.votes.every((x) => x.position);
  const withHidden = withGate && hiddenComponents !== undefined && v.votes.every((x) => x.position?.hidden);
  if (withGate) cv.gate = [0, 0, 0];
  if (withHidden) cv.hiddenGate = [0, 0, 0];
  for (const half of [0, 1]) {
    const use = (x: { window: number }) => x.window % 2 !== half;
    const refineBy = v.votes.some((x) => x.refined) ? chooseRefinement(v.votes, use, minVotes) : {};
    const votes = withRefinement(v.votes, refineBy);
    const weights = fitWeights(votes, use, minVotes);
    const samples = withGate ? gateSamples(votes, refineBy, maxContext) : [];
    const gate = withGate ? fitGate(samples, maxContext, use, minGateSamples) : undefined;
    const projections = withHidden ? hiddenProjections(votes, use, hiddenComponents, minGateSamples) : {};
    const hiddenSamples = withHidden ? gateSamples(votes, refineBy, maxContext, projections) : [];
    const hiddenGate = withHidden ? fitGate(hiddenSamples, maxContext, use, minGateSamples, projections) : undefined;
    for (let w = half; w < v.windows; w += 2) cv.rest += v.restByWindow[w];
    votes.forEach((x, i) => {
      if (use(x)) return;
      const table = served(x, weights);
      cv.tables[x.field] -= Math.log(table);
      const gated = (gate && samples[i] && gatedProbability(samples[i], gate)) ?? table;
      if (cv.gate) cv.gate[x.field] -= Math.log(gated);
      // A field the hidden gate leaves out (too few samples) falls back as the plain gate does.
      if (cv.hiddenGate) cv.hiddenGate[x.field] -= Math.log((hiddenGate && hiddenSamples[i] && gatedProbability(hiddenSamples[i], hiddenGate)) ?? table);
    });
  }
  return cv;
}

/** The mean held-out loss per target of `cv` with each field mixed as `mixes` says (a field it leaves out: the tables). */
export function cvLoss(v: MemoryVotes, cv: CrossValidation, mixes: Partial<Record<number, FieldMix>>): number {
  const held = (f: number, t: number) => (mixes[f] === 'hidden' && cv.hiddenGate ? cv.hiddenGate[f] : mixes[f] !== 'tables' && mixes[f] && cv.gate ? cv.gate[f] : t);
  return (cv.rest + cv.tables.reduce((a, t, f) => a + held(f, t), 0)) / v.tokens;
}

/** Per field, the mix with the lowest held-out loss in `cv` (ties go to the simpler one). */
export function chooseMixes(cv: CrossValidation): FieldMix[] {
  return cv.tables.map((t, f) => {
    let best: FieldMix = 'tables';
    let loss = t;
    if (cv.gate && cv.gate[f] < loss) [best, loss] = ['gate', cv.gate[f]];
    if (cv.hiddenGate && cv.hiddenGate[f] < loss) best = 'hidden';
    return best;
  });
}

/** The refinement exponents tried for each field's exact and neighbour guesses (memory.ts `refineByModel`). */
export const REFINE_GRID = [0, 0.25, 0.5, 0.75, 1];

/**
 * For each field, the pair of refinement exponents (exact match, neighbours) from REFINE_GRID whose fitted mix has the
 * lowest loss on the votes `use` selects (votes without the options keep theirs).
 */
export function chooseRefinement(votes: readonly MemoryVote[], use: (v: MemoryVote) => boolean = () => true, minVotes = MIN_VOTES): Record<MemoryField, [number, number]> {
  const chosen = {} as Record<MemoryField, [number, number]>;
  MEMORY_FIELDS.forEach((field, f) => {
    const mine = votes.filter((v) => v.field === f && use(v));
    let best = { loss: Infinity, pair: [0, 0] as [number, number] };
    for (const be of REFINE_GRID) {
      for (const bn of REFINE_GRID) {
        const pair: [number, number] = [be, bn];
        const tried = withRefinement(mine, { [field]: pair });
        const weights = fitWeights(tried, () => true, minVotes);
        const loss = tried.reduce((a, v) => a - Math.log(served(v, weights)), 0);
        if (loss < best.loss - 1e-9) best = { loss, pair };
      }
    }
    chosen[field] = best.pair;
  });
  return chosen;
}

/** The votes as they would be with the refinement exponents `exponents` (fields it leaves out, and votes without the options, unchanged). */
export function withRefinement(votes: readonly MemoryVote[], exponents: Partial<Record<MemoryField, [number, number]>>): MemoryVote[] {
  return votes.map((v) => {
    const pair = exponents[MEMORY_FIELDS[v.field]];
    if (!pair || !v.refined) return v;
    const [e, n] = pair.map((b) => REFINE_GRID.indexOf(b));
    return {
      ...v,
      memory: v.refined.exact[e] ?? v.memory,
      ...(v.near ? { near: { ...v.near, p: v.refined.near?.[n] ?? v.near.p } } : {}),
    };
  });
}

export interface MemoryFit {
  memory: StyleMemory;
  saved: MemoryFile;
  windows: number;
  seqLen: number;
  /** Validation loss of the GPT alone (plain context), with the memory, and with weights fitted on the other half of the windows. */
  gpt: number;
  mixed: number;
  crossValidated: number;
}

/**
 * Gives the model in `modelDir` a memory of `corpusDir`'s training part, fits its weights on the corpus' validation
 * windows against that model, and writes memory.json + memory-<sha>.bin and the card's `memory` entry. The backend
 * must be initialised.
 */
export function fitMemoryInto(
  modelDir: string,
  corpusDir: string,
  opts: { settings?: MemorySettings; command?: string; onProgress?: (done: number, total: number) => void; hiddenComponents?: number } = {},
): MemoryFit {
  const started = Date.now();
  const model = loadModel(modelDir);
  const train = new Uint8Array(readFileSync(join(corpusDir, 'train.bin')));
  const val = new Uint8Array(readFileSync(join(corpusDir, 'val.bin')));
  // A copy: the fit chooses its refinement exponents.
  const memory = new StyleMemory(train, { ...(opts.settings ?? DEFAULT_MEMORY_SETTINGS) });
  const seqLen = Math.min(128, model.config.blockSize);
  // A gate may read the hidden state of the plain context, which composing computes only when it is one of the views.
  const views = memory.settings.views;
  const hiddenComponents = opts.hiddenComponents ?? HIDDEN_COMPONENTS;
  const withHidden = hiddenComponents > 0 && (isPlain(views) || views!.some(isPlainView));
  let votes: MemoryVotes;
  try {
    votes = collectVotes(model, memory, val, seqLen, opts.onProgress, withHidden);
  } finally {
    model.dispose();
  }
  // The refinement exponents first (they change what each guess gives the true token), then the weights for them.
  memory.settings.refineByModel = chooseRefinement(votes.votes);
  votes = { ...votes, votes: withRefinement(votes.votes, memory.settings.refineByModel) };
  memory.weights = fitWeights(votes.votes);
  // Then the gates, with and without the hidden state: each field keeps whichever of the tables and the two gates
  // scored best on held-out windows (cross-validated).
  const samples = gateSamples(votes.votes, memory.settings.refineByModel, seqLen);
  const gate = fitGate(samples, seqLen);
  const projections = withHidden ? hiddenProjections(votes.votes, () => true, hiddenComponents) : {};
  const hiddenSamples = withHidden ? gateSamples(votes.votes, memory.settings.refineByModel, seqLen, projections) : [];
  const hiddenGate = withHidden ? fitGate(hiddenSamples, seqLen, () => true, MIN_GATE_SAMPLES, projections) : undefined;
  const held = crossValidate(votes, MIN_VOTES, seqLen, MIN_GATE_SAMPLES, withHidden ? hiddenComponents : undefined);
  const mixes = chooseMixes(held);
  const servedGate: MemoryGate = { features: gate.features, maxContext: seqLen, exact: {}, near: {} };
  MEMORY_FIELDS.forEach((field, f) => {
    const from = mixes[f] === 'hidden' ? hiddenGate : mixes[f] === 'gate' ? gate : undefined;
    if (!from?.exact[field] || !from.near[field]) {
      mixes[f] = 'tables';
      return;
    }
    servedGate.exact[field] = from.exact[field];
    servedGate.near[field] = from.near[field];
    if (mixes[f] === 'hidden') (servedGate.hidden ??= {})[field] = projections[field]!;
  });
  if (mixes.some((m) => m !== 'tables')) memory.weights.gate = servedGate;
  // Each vote's sample as the served gate sees it.
  const servedSamples = votes.votes.map((x, i) => (mixes[x.field] === 'hidden' ? hiddenSamples[i] : samples[i]));
  const gpt = votes.plainLoss / votes.tokens;
  const mixed = mixedLoss(votes, memory.weights, () => true, servedSamples);
  const cv = cvLoss(votes, held, Object.fromEntries(mixes.map((m, f) => [f, m])));
  const card = readCard(modelDir);
  const saved = saveMemory(modelDir, memory, {
    corpus: basename(corpusDir.replace(/\/+$/, '')),
    licence: card?.licence ?? 'CC BY-NC-SA 4.0 (holds notes of MAESTRO performances: non-commercial, share-alike)',
    fit: {
      ...(opts.command ? { command: opts.command } : {}),
      model: { dir: modelDir, weightsSha256: weightsSha(modelDir) },
      windows: votes.windows,
      seqLen,
      gptValLoss: roundMetric(gpt),
      valLoss: roundMetric(mixed),
      crossValidatedValLoss: roundMetric(cv),
      mixes: Object.fromEntries(MEMORY_FIELDS.map((field, f) => [field, mixes[f]])),
      heldOut: Object.fromEntries(MEMORY_FIELDS.map((field, f) => [field, { tables: roundMetric(held.tables[f] / votes.tokens), ...(held.gate ? { gate: roundMetric(held.gate[f] / votes.tokens) } : {}), ...(held.hiddenGate ? { hidden: roundMetric(held.hiddenGate[f] / votes.tokens) } : {}) }])),
      ...(withHidden ? { hiddenComponents } : {}),
      targetsWithGuess: votes.votes.length,
      targets: votes.tokens,
      wallSeconds: Math.round((Date.now() - started) / 100) / 10,
      note: 'refinement exponents (grid per field), weights (grid per field and match length) and the gates fitted on the validation windows; each field is mixed by the tables, the gate or the gate that also reads the hidden state (mixes), whichever scored best held out (heldOut: each summed over the field\'s voted targets, per target of all); crossValidatedValLoss scores each half of the windows with all of them fitted on the other half',
    },
  });
  if (card) {
    // The card says the served model has a memory and what it measured; memory.json has the rest.
    card.memory = { file: 'memory.json', holds: `${saved.source.corpus}/train.bin (${saved.source.notes} notes, sha256 ${saved.source.sha256})`, gptValLoss128: roundMetric(gpt), valLoss128: roundMetric(mixed), crossValidatedValLoss128: roundMetric(cv), licence: saved.licence };
    writeCard(modelDir, card);
  }
  return { memory, saved, windows: votes.windows, seqLen, gpt, mixed, crossValidated: cv };
}

function weightsSha(modelDir: string): string {
  return sha256(new Uint8Array(readFileSync(join(modelDir, 'weights.mtw'))));
}

/**
 * The validation loss `modelDir` serves with its memory, when the memory's weights were fitted against exactly these
 * model weights (a memory kept from a replaced model is not); undefined otherwise.
 */
export function fittedMemoryLoss(modelDir: string): number | undefined {
  const fit = readMemoryFile(modelDir)?.fit as { valLoss?: unknown; model?: { weightsSha256?: unknown } } | undefined;
  if (typeof fit?.valLoss !== 'number' || fit.model?.weightsSha256 !== weightsSha(modelDir)) return undefined;
  return fit.valLoss;
}
