/**
 * How a style memory's guesses are weighed against the GPT (memory.ts makes the guesses): the weight tables per
 * field and match length, and the gate that sets the weights position by position from what the position shows —
 * how sure each guess and the GPT are, how much context the window has given, how the guesses fared on the tokens
 * just played (`MemoryTrack`) and, where fitted, the GPT's hidden state. training/memory-gate.ts and
 * training/memory-fit.ts fit them; evaluation and composing serve them through `StyleMemory.mix` → `mixWithGuess`,
 * so fitting and serving share every function here.
 */
import type { MemoryField, MemoryGuess } from './memory.js';

/** Match-length buckets: bucket i holds lengths in [MATCH_BUCKETS[i-1], MATCH_BUCKETS[i]); bucket 0 is "no match". */
export const MATCH_BUCKETS = [1, 4, 8, 16, 32, 48] as const;

/** Similarity buckets of the nearest pitch neighbour, the same way. */
export const SIMILARITY_BUCKETS = [0.7, 0.8, 0.9, 0.95] as const;

/**
 * How much the memory counts (0 = the GPT alone): per field and match-length bucket for the exact match; for the
 * neighbours (`near`), per field and match-length bucket × similarity bucket, on top of the exact match's mix.
 */
export interface MemoryWeights extends Record<MemoryField, number[]> {
  near: Record<MemoryField, number[]>;
  /** Where present, the gate sets the weights position by position instead (per field; a field it leaves out keeps the tables). */
  gate?: MemoryGate;
}

/**
 * How the memory's guesses have fared on the tokens just played, the gate's last features (`MemoryTrack`): for each
 * guess, exact and neighbours, a decayed mean of log(guess(y) + ε) − log GPT(y) over the earlier positions of the
 * context where it guessed, and log(1 + its decayed count) — over all fields, and over the field being predicted.
 * Why: whether the matched performances play this passage as this performer does (tempo, articulation, the notes)
 * persists from note to note, and a match's length cannot tell it.
 */
export const TRACK_FEATURES = ['exact guess', 'neighbours'].flatMap((g) =>
  ['all fields', 'this field'].flatMap((over) => [`track, ${over}: log-ratio of the ${g} to the GPT`, `track, ${over}: log(1 + count of the ${g})`]),
);

/** Each earlier position counts this much less per position the track observes (over all fields; per field, per position of that field). */
const TRACK_DECAY = 0.8;

/** A guess that gave the true token nothing counts as log ε against the GPT. */
const TRACK_FLOOR = 1e-4;

/**
 * The running record a gate reads its track features from: one per sequence, fed each position's raw guesses and
 * the true token, in order. Fitting (memory-fit.ts), evaluation (training/evaluate.ts) and composing (sampler.ts)
 * all keep one the same way.
 */
export class MemoryTrack {
  /** [exact sum, exact count, near sum, near count] over all fields, then per field. */
  private readonly all = new Float64Array(4);
  private readonly byField: Record<MemoryField, Float64Array> = { dt: new Float64Array(4), dur: new Float64Array(4), pitch: new Float64Array(4) };

  /** The track features (TRACK_FEATURES, in order) for predicting a token of `field`. */
  features(field: MemoryField): number[] {
    const f = (s: Float64Array) => [s[1] > 0 ? s[0] / s[1] : 0, Math.log1p(s[1]), s[3] > 0 ? s[2] / s[3] : 0, Math.log1p(s[3])];
    const [a, b] = [f(this.all), f(this.byField[field])];
    return [a[0], a[1], b[0], b[1], a[2], a[3], b[2], b[3]];
  }

  /** Records a position: the GPT's log-probability of the true token `y` there, and the memory's raw guess (none: a position it did not guess). */
  observe(gptLogProb: number, guess: Pick<MemoryGuess, 'field' | 'exact' | 'near'> | undefined, y: number): void {
    if (!guess) return;
    const ratio = (p: number) => Math.log(p + TRACK_FLOOR) - Math.max(gptLogProb, -30);
    for (const s of [this.all, this.byField[guess.field]]) {
      for (let i = 0; i < 4; i++) s[i] *= TRACK_DECAY;
      if (guess.exact) {
        s[0] += ratio(guess.exact[y]);
        s[1] += 1;
      }
      if (guess.near) {
        s[2] += ratio(guess.near.probs[y]);
        s[3] += 1;
      }
    }
  }
}

/**
 * The features a gate weighs, in this order (`gateFeatures`). Why these: a table per match length cannot tell a match
 * whose performances all agree on the next note from one where they split, nor a GPT that already expects the
 * memory's note from one that does not, nor the first notes of a window from the last; the mix wants all three.
 */
export const GATE_FEATURES = [
  'bias',
  ...MATCH_BUCKETS.map((b) => `match length ≥ ${b}`),
  ...SIMILARITY_BUCKETS.map((b) => `neighbour similarity ≥ ${b}`),
  'exact guess: top probability',
  'exact guess: entropy',
  'neighbours: top probability',
  'neighbours: entropy',
  'log(1 + match length)',
  'neighbour similarity',
  'GPT: entropy',
  'GPT: top probability',
  'log Σ GPT·exact',
  'log Σ GPT·neighbours',
  'log Σ exact·neighbours',
  'log context tokens',
  ...TRACK_FEATURES,
] as const;

/**
 * A gate: the weights of the memory's two guesses at one position from what that position shows (GATE_FEATURES): the
 * mix is (GPT + a·exact + b·neighbours) / (1 + a + b) with log a, log b linear in the features (a softmax over the three
 * with the GPT's logit fixed at 0; a guess that is absent has weight 0). Fitted by training/memory-gate.ts.
 */
export interface MemoryGate {
  /** GATE_FEATURES as they were when the gate was fitted: a gate fitted on another list is refused when loading. */
  features: string[];
  /** A context longer than this (the windows the gate was fitted on) counts as this long. */
  maxContext: number;
  /**
   * Per field, the features' weights in log a (exact) and log b (neighbours): GATE_FEATURES, then one per component of
   * the field's `hidden` projection.
   */
  exact: Partial<Record<MemoryField, number[]>>;
  near: Partial<Record<MemoryField, number[]>>;
  /**
   * Per field, where present: the GPT's final hidden state at the position (of the plain context) as further features,
   * centred and projected on the first principal components of the states of the positions the gate was fitted on.
   * Why: the state is what the GPT knows of the musical situation, and in some situations the memory's performances
   * agree with this one more than in others (session 25 measured 0.001–0.003 nats held out).
   */
  hidden?: Partial<Record<MemoryField, HiddenProjection>>;
}

/** A centred projection of the GPT's hidden state: (h − mean)·components[k] is the k-th feature. */
export interface HiddenProjection {
  mean: number[];
  components: number[][];
}

/** The projection of a hidden state `h` (an error when its width is not the projection's: a gate fitted on another model). */
export function projectHidden(h: ArrayLike<number>, projection: HiddenProjection): Float64Array {
  const { mean, components } = projection;
  if (h.length !== mean.length) throw new Error(`the memory's gate reads a hidden state of width ${mean.length}, the model gave ${h.length}: refit the memory for this model ("maestro memory")`);
  const out = new Float64Array(components.length);
  components.forEach((c, k) => {
    let s = 0;
    for (let i = 0; i < c.length; i++) s += (h[i] - mean[i]) * c[i];
    out[k] = s;
  });
  return out;
}

/** Every weight 0: the memory guesses but the mix is the GPT's own distribution (until weights are fitted). */
export function noWeights(): MemoryWeights {
  const zeros = (n = MATCH_BUCKETS.length + 1) => Array<number>(n).fill(0);
  return { dt: zeros(), dur: zeros(), pitch: zeros(), near: { dt: zeros(NEAR_CELLS), dur: zeros(NEAR_CELLS), pitch: zeros(NEAR_CELLS) } };
}

/** Cells of the neighbours' weight table: match-length bucket × similarity bucket. */
export const NEAR_CELLS = (MATCH_BUCKETS.length + 1) * (SIMILARITY_BUCKETS.length + 1);

export function nearCell(matchLength: number, similarity: number): number {
  let s = 0;
  while (s < SIMILARITY_BUCKETS.length && similarity >= SIMILARITY_BUCKETS[s]) s++;
  return bucketOf(matchLength) * (SIMILARITY_BUCKETS.length + 1) + s;
}

/**
 * The memory's two guesses for one position as served: each multiplied by the model's distribution to its `refine`
 * exponent and renormalised (unchanged for exponent 0).
 */
export function refinedGuesses(logProbs: ArrayLike<number>, guess: Pick<MemoryGuess, 'exact' | 'near' | 'refine'>): { exact?: Float64Array; near?: Float64Array } {
  return {
    ...(guess.exact ? { exact: refine(guess.exact, logProbs, guess.refine[0]) } : {}),
    ...(guess.near ? { near: refine(guess.near.probs, logProbs, guess.refine[1]) } : {}),
  };
}

/** `probs` × exp(beta · logProbs), renormalised (unchanged for beta 0, or where the product vanishes). */
export function refine(probs: Float64Array, logProbs: ArrayLike<number>, beta: number): Float64Array {
  if (beta === 0) return probs;
  const out = new Float64Array(probs.length);
  let sum = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] > 0) sum += out[i] = probs[i] * Math.exp(beta * logProbs[i]);
  if (!(sum > 0)) return probs;
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/**
 * The served distribution for one position, from the model's log-probabilities and the memory's guess: the exact
 * match's guess mixed into the model's, then the neighbours' into that, each refined by the model first — with the
 * guess's table weights, or with `gate`'s weights for this position.
 */
export function mixWithGuess(
  logProbs: ArrayLike<number>,
  guess: Pick<MemoryGuess, 'exact' | 'near' | 'refine' | 'exactWeight' | 'nearWeight'> & Partial<Pick<MemoryGuess, 'field' | 'matchLength' | 'contextTokens'>>,
  gate?: MemoryGate,
  track?: ArrayLike<number>,
  hidden?: ArrayLike<number>,
): Float64Array {
  const { exact, near } = refinedGuesses(logProbs, guess);
  let [we, wn] = [exact ? guess.exactWeight : 0, near ? guess.nearWeight : 0];
  const [gateExact, gateNear] = gate && guess.field ? [gate.exact[guess.field], gate.near[guess.field]] : [];
  if (gate && gateExact && gateNear) {
    const projection = gate.hidden?.[guess.field!];
    if (projection && !hidden) throw new Error(`this memory's gate reads the GPT's hidden state for ${guess.field} tokens, and none was given`);
    const x = gateFeatures(logProbs, exact, near, guess.matchLength ?? 0, guess.near?.similarity ?? 0, Math.min(guess.contextTokens ?? 0, gate.maxContext), track ?? NO_TRACK, projection && projectHidden(hidden!, projection));
    [we, wn] = gateWeights(x, gateExact, gateNear, Boolean(exact), Boolean(near));
  }
  const out = new Float64Array(logProbs.length);
  for (let i = 0; i < out.length; i++) out[i] = nestedMix(Math.exp(logProbs[i]), exact?.[i] ?? 0, near?.[i] ?? 0, we, wn);
  return out;
}

/**
 * A gate's features at one position (GATE_FEATURES, in order, then the projected hidden state if given), from the GPT's
 * log-probabilities, the refined guesses (absent: all zero) and where the position is. Fitting and serving both call
 * this, so they cannot disagree.
 */
export function gateFeatures(logProbs: ArrayLike<number>, exact: ArrayLike<number> | undefined, near: ArrayLike<number> | undefined, matchLength: number, similarity: number, contextTokens: number, track: ArrayLike<number>, projected?: ArrayLike<number>): Float64Array {
  const x = new Float64Array(GATE_FEATURES.length + (projected?.length ?? 0));
  let i = 0;
  x[i++] = 1;
  for (const b of MATCH_BUCKETS) x[i++] = matchLength >= b ? 1 : 0;
  for (const b of SIMILARITY_BUCKETS) x[i++] = near && similarity >= b ? 1 : 0;
  let [exactTop, exactEntropy, nearTop, nearEntropy, gptTop, gptEntropy, gptExact, gptNear, exactNear] = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  for (let k = 0; k < logProbs.length; k++) {
    const g = Math.exp(logProbs[k]);
    const e = exact?.[k] ?? 0;
    const n = near?.[k] ?? 0;
    if (g > 0) gptEntropy -= g * logProbs[k];
    if (e > 0) exactEntropy -= e * Math.log(e);
    if (n > 0) nearEntropy -= n * Math.log(n);
    gptTop = Math.max(gptTop, g);
    exactTop = Math.max(exactTop, e);
    nearTop = Math.max(nearTop, n);
    gptExact += g * e;
    gptNear += g * n;
    exactNear += e * n;
  }
  // 1e-9: an absent guess (or one the GPT rules out) is a large negative number, not −∞.
  for (const v of [exactTop, exactEntropy, nearTop, nearEntropy, Math.log1p(matchLength), near ? similarity : 0, gptEntropy, gptTop, Math.log(gptExact + 1e-9), Math.log(gptNear + 1e-9), Math.log(exactNear + 1e-9), Math.log(Math.max(1, contextTokens))]) x[i++] = v;
  for (let k = 0; k < TRACK_FEATURES.length; k++) x[i++] = track[k];
  for (let k = 0; k < (projected?.length ?? 0); k++) x[i++] = projected![k];
  return x;
}

/** The mix of one token's probabilities: the exact guess's into the GPT's with weight `we`, then the neighbours' into that with `wn`. */
export function nestedMix(gpt: number, exact: number, near: number, we: number, wn: number): number {
  return (1 - wn) * ((1 - we) * gpt + we * exact) + wn * near;
}

/** The track features of a sequence with nothing observed yet. */
const NO_TRACK: readonly number[] = new MemoryTrack().features('dt');

/** A gate's log-weight within ±30 (e^30 ≈ 1e13): a guess is never quite certain, nor quite ignored by an overflow. Fitting clamps as serving does. */
export const clampGateLogit = (z: number): number => Math.max(-30, Math.min(30, z));

/** The exact and neighbour weights (nested, as `mixWithGuess` mixes) of a gate with weights `exact`, `near` on features `x`. */
export function gateWeights(x: ArrayLike<number>, exact: ArrayLike<number>, near: ArrayLike<number>, hasExact: boolean, hasNear: boolean): [number, number] {
  const logWeight = (theta: ArrayLike<number>) => clampGateLogit(dot(theta, x));
  const a = hasExact ? Math.exp(logWeight(exact)) : 0;
  const b = hasNear ? Math.exp(logWeight(near)) : 0;
  // (GPT + a·exact + b·near) / (1 + a + b) = (1 − wn)·((1 − we)·GPT + we·exact) + wn·near
  return [a / (1 + a), b / (1 + a + b)];
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function bucketOf(matchLength: number): number {
  let b = 0;
  while (b < MATCH_BUCKETS.length && matchLength >= MATCH_BUCKETS[b]) b++;
  return b;
}
