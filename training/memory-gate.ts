/**
 * Fitting a memory's gate (memory.ts `MemoryGate`): per token field, the weights of the exact and neighbour guesses
 * at each position as a softmax over (GPT, exact, neighbours) whose logits are linear in the position's features —
 * a mixture of experts with a linear gate, fitted by maximum likelihood on the validation windows the weight tables
 * are fitted on. It replaces a table cell's one weight by one that also follows how sure the memory and the GPT are
 * there and how much context the window has given so far.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { MEMORY_FIELDS, type MemoryField } from '../src/model/memory.js';
import { clampGateLogit, gateFeatures, gateWeights, GATE_FEATURES, nestedMix, projectHidden, refine, type HiddenProjection, type MemoryGate } from '../src/model/memory-mix.js';
import type { MemoryVote } from './memory-fit.js';

/** How many principal components of the GPT's hidden state a gate reads per field (session 25 measured 8–32 alike). */
export const HIDDEN_COMPONENTS = 16;

/** The projections a gate reads the hidden state through, per field. */
export type HiddenProjections = Partial<Record<MemoryField, HiddenProjection>>;

/** One voted target as the gate sees it: its features and what the three experts gave the true token. */
export interface GateSample {
  window: number;
  field: number;
  x: Float64Array;
  /** The probability of the true token: GPT, exact guess, neighbours (0 where absent). */
  p: [number, number, number];
  hasExact: boolean;
  hasNear: boolean;
}

/** A field with fewer samples than this keeps its tables (too few to fit 2 × GATE_FEATURES weights). */
export const MIN_GATE_SAMPLES = 500;
const STEPS = 1500;
const LEARNING_RATE = 0.05;
/** A little weight decay keeps a feature that separates perfectly from driving its weight to infinity. */
const L2 = 1e-4;

/**
 * The gate's samples for `votes` (after `withRefinement`, so each vote's `memory` and `near.p` are its refined
 * guesses' probabilities for the true token), the guesses refined by `refineBy` as served; one per vote, in order,
 * undefined for a vote without its position's distributions (`MemoryVote.position`).
 */
export function gateSamples(votes: readonly MemoryVote[], refineBy: Partial<Record<MemoryField, [number, number]>>, maxContext: number, hidden: HiddenProjections = {}): (GateSample | undefined)[] {
  const out: (GateSample | undefined)[] = [];
  for (const v of votes) {
    const at = v.position;
    if (!at) {
      out.push(undefined);
      continue;
    }
    const projection = hidden[MEMORY_FIELDS[v.field]];
    if (projection && !at.hidden) throw new Error('gateSamples: a projection of the hidden state was given, and the votes hold no hidden states (collectVotes with withHidden)');
    const [be, bn] = refineBy[MEMORY_FIELDS[v.field]] ?? [0, 0];
    const exact = at.exact ? refine(Float64Array.from(at.exact), at.logProbs, be) : undefined;
    const near = at.near ? refine(Float64Array.from(at.near), at.logProbs, bn) : undefined;
    out.push({
      window: v.window,
      field: v.field,
      x: gateFeatures(at.logProbs, exact, near, at.matchLength, at.similarity, Math.min(at.contextTokens, maxContext), at.track, projection && projectHidden(at.hidden!, projection)),
      p: [v.model, exact ? v.memory : 0, near ? (v.near?.p ?? 0) : 0],
      hasExact: Boolean(exact),
      hasNear: Boolean(near),
    });
  }
  return out;
}

/** The probability the gated mix gives the true token of `s`. */
export function gatedProbability(s: GateSample, gate: MemoryGate): number | undefined {
  const field = MEMORY_FIELDS[s.field];
  const [e, n] = [gate.exact[field], gate.near[field]];
  if (!e || !n) return undefined;
  const [we, wn] = gateWeights(s.x, e, n, s.hasExact, s.hasNear);
  return nestedMix(s.p[0], s.p[1], s.p[2], we, wn);
}

/**
 * Fits a gate on the samples `use` selects (a field with fewer than `minSamples` is left out): per field, full-batch Adam on the mean negative log-likelihood of the
 * mix, over standardised features (their means and scales are folded back into the weights it returns). `hidden`: the
 * projections the samples' features were made with (`gateSamples`), kept in the gate for the fields it fits.
 */
export function fitGate(samples: readonly (GateSample | undefined)[], maxContext: number, use: (s: GateSample) => boolean = () => true, minSamples = MIN_GATE_SAMPLES, hidden: HiddenProjections = {}): MemoryGate {
  const gate: MemoryGate = { features: [...GATE_FEATURES], maxContext, exact: {}, near: {} };
  MEMORY_FIELDS.forEach((field, f) => {
    const mine = samples.filter((s): s is GateSample => s !== undefined && s.field === f && use(s));
    if (mine.length < minSamples) return;
    const [exact, near] = fitField(mine);
    gate.exact[field] = exact;
    gate.near[field] = near;
    const projection = hidden[field];
    if (projection) (gate.hidden ??= {})[field] = projection;
  });
  return gate;
}

/**
 * Per field, the mean and first `components` principal components of the hidden states of the votes `use` selects (a
 * field with fewer than `minVotes` states is left out). The components are unit vectors, largest variance first, each
 * with its largest entry positive (so that a refit on the same states gives the same signs).
 */
export function hiddenProjections(votes: readonly MemoryVote[], use: (v: MemoryVote) => boolean = () => true, components = HIDDEN_COMPONENTS, minVotes = MIN_GATE_SAMPLES): HiddenProjections {
  const out: HiddenProjections = {};
  MEMORY_FIELDS.forEach((field, f) => {
    const states = votes.filter((v) => v.field === f && use(v) && v.position?.hidden).map((v) => v.position!.hidden!);
    if (states.length < Math.max(minVotes, 2)) return;
    out[field] = principalComponents(states, components);
  });
  return out;
}

/** A projection's numbers are kept to 7 significant digits (float32's precision): memory.json stays small, and fit and serving read the same numbers. */
const toFloat32Digits = (x: number): number => Number(x.toPrecision(7));

/** The mean and the first `k` principal components of `rows` (all of one width). */
export function principalComponents(rows: readonly ArrayLike<number>[], k: number): HiddenProjection {
  const width = rows[0].length;
  const n = rows.length;
  const mean = new Float64Array(width);
  for (const r of rows) for (let i = 0; i < width; i++) mean[i] += r[i] / n;
  // The covariance, summed in float64 over centred rows.
  const cov = new Float64Array(width * width);
  const c = new Float64Array(width);
  for (const r of rows) {
    for (let i = 0; i < width; i++) c[i] = r[i] - mean[i];
    for (let i = 0; i < width; i++) {
      const ci = c[i];
      if (ci === 0) continue;
      const row = i * width;
      for (let j = i; j < width; j++) cov[row + j] += ci * c[j];
    }
  }
  const matrix = new Matrix(width, width);
  for (let i = 0; i < width; i++) for (let j = i; j < width; j++) matrix.set(i, j, cov[i * width + j] / n).set(j, i, cov[i * width + j] / n);
  const eig = new EigenvalueDecomposition(matrix, { assumeSymmetric: true });
  const order = eig.realEigenvalues.map((value, i) => ({ value, i })).sort((a, b) => b.value - a.value).slice(0, Math.min(k, width));
  const vectors = eig.eigenvectorMatrix;
  const components = order.map(({ i }) => {
    const v = vectors.getColumn(i);
    const largest = v.reduce((best, x, j) => (Math.abs(x) > Math.abs(v[best]) ? j : best), 0);
    return (v[largest] < 0 ? v.map((x) => -x) : v).map(toFloat32Digits);
  });
  return { mean: Array.from(mean, toFloat32Digits), components };
}

function fitField(samples: readonly GateSample[]): [number[], number[]] {
  const d = samples[0].x.length;
  const n = samples.length;
  // Standardise (the bias column stays 1): Adam's one step size then suits every feature.
  const mean = new Float64Array(d);
  const scale = new Float64Array(d).fill(1);
  for (let j = 1; j < d; j++) {
    let m = 0;
    for (const s of samples) m += s.x[j];
    m /= n;
    let v = 0;
    for (const s of samples) v += (s.x[j] - m) ** 2;
    mean[j] = m;
    scale[j] = Math.sqrt(v / n) || 1;
  }
  const xs = new Float64Array(n * d);
  samples.forEach((s, i) => {
    for (let j = 0; j < d; j++) xs[i * d + j] = (s.x[j] - mean[j]) / scale[j];
  });
  // theta: d weights for the exact guess's logit, then d for the neighbours'.
  const theta = new Float64Array(2 * d);
  const m1 = new Float64Array(2 * d);
  const m2 = new Float64Array(2 * d);
  const grad = new Float64Array(2 * d);
  for (let step = 1; step <= STEPS; step++) {
    grad.fill(0);
    for (let i = 0; i < n; i++) {
      const s = samples[i];
      let ze = 0;
      let zn = 0;
      for (let j = 0; j < d; j++) {
        ze += theta[j] * xs[i * d + j];
        zn += theta[d + j] * xs[i * d + j];
      }
      const a = s.hasExact ? Math.exp(clampGateLogit(ze)) : 0;
      const b = s.hasNear ? Math.exp(clampGateLogit(zn)) : 0;
      const z = 1 + a + b;
      const mix = (s.p[0] + a * s.p[1] + b * s.p[2]) / z + 1e-12;
      // d(−log mix)/d logit = weight − responsibility
      const ge = a / z - (a * s.p[1]) / z / mix;
      const gn = b / z - (b * s.p[2]) / z / mix;
      for (let j = 0; j < d; j++) {
        grad[j] += ge * xs[i * d + j];
        grad[d + j] += gn * xs[i * d + j];
      }
    }
    for (let k = 0; k < 2 * d; k++) {
      const g = grad[k] / n + L2 * theta[k];
      m1[k] = 0.9 * m1[k] + 0.1 * g;
      m2[k] = 0.999 * m2[k] + 0.001 * g * g;
      theta[k] -= (LEARNING_RATE * (m1[k] / (1 - 0.9 ** step))) / (Math.sqrt(m2[k] / (1 - 0.999 ** step)) + 1e-8);
    }
  }
  // Back to raw features: θ·(x − μ)/σ = Σ (θ_j/σ_j)·x_j + (θ_0 − Σ θ_j·μ_j/σ_j).
  const raw = (offset: number) => {
    const w = Array.from({ length: d }, (_, j) => (j === 0 ? theta[offset] : theta[offset + j] / scale[j]));
    for (let j = 1; j < d; j++) w[0] -= (theta[offset + j] * mean[j]) / scale[j];
    return w;
  };
  return [raw(0), raw(d)];
}
