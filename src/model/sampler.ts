/**
 * Sampling a continuation: the prompt is processed once (prefill), then one token per step with the
 * key/value cache. Several candidates run as one batch. Every step is grammar-constrained (only tokens
 * legal for the next field can be drawn), so every output decodes. Temperature divides the *logits*
 * (the reference divided probabilities, which does nothing after renormalising), then top-k and top-p.
 * Same seed + same inputs ⇒ same tokens: each candidate draws from its own seeded generator.
 */
import * as tf from '@tensorflow/tfjs';
import type { GPT, KVCache } from './gpt.js';
import type { Tokenizer, TokenField } from '../music/tokenizer.js';
import { ONSET_QUANTUM_MS } from '../music/tokenizer.js';
import { Rng, mixSeed } from '../util/rng.js';

export interface SamplingSettings {
  /** > 0; 1 = the model's distribution, lower = safer. 0 means greedy. */
  temperature: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = off). */
  topP: number;
  seed: number;
}

export interface SampleRequest extends SamplingSettings {
  /** Prompt tokens in the tokenizer's grammar (ending with a separator), or [] to improvise. */
  prompt: readonly number[];
  /** Seconds of music to continue for. */
  seconds: number;
  candidates: number;
  /** Safety cap on generated tokens per candidate. */
  maxTokens?: number;
  /** Called with the fraction of the requested length done (0..1), at most once per ~2 % step. */
  onProgress?: (fraction: number) => void;
}

export const DEFAULT_SAMPLING: Omit<SamplingSettings, 'seed'> = { temperature: 0.9, topK: 0, topP: 0.95 };

/**
 * Returns one token list per candidate: the continuation only (not the prompt), each a whole number
 * of notes followed by a final separator, so it decodes on its own or appended to the prompt.
 */
export function sampleContinuation(model: GPT, tokenizer: Tokenizer, req: SampleRequest): number[][] {
  validate(req);
  const B = req.candidates;
  const { blockSize } = model.config;
  const sep = tokenizer.allowedRange('sep').lo;
  // Improvising starts from a lone separator: "a note comes next".
  let context = req.prompt.length ? [...req.prompt] : [sep];
  // The window the model sees: at most 3/4 of its context, so there is room to generate before re-windowing.
  context = context.slice(-Math.floor((blockSize * 3) / 4));
  const targetMs = req.seconds * 1000;
  const maxTokens = req.maxTokens ?? Math.ceil(req.seconds * 200) + 64;
  const rngs = Array.from({ length: B }, (_, b) => new Rng(mixSeed(req.seed, b)));
  const out: number[][] = Array.from({ length: B }, () => []);
  const done = new Array<boolean>(B).fill(false);
  const onsetMs = new Array<number>(B).fill(0);
  let field: TokenField = tokenizer.fieldAt(context);
  if (field !== 'dt') throw new Error('prompt must end with a separator token');

  // Token history per candidate (all the same length), used when the context is full and must be re-windowed.
  const history: number[][] = Array.from({ length: B }, () => [...context]);
  let { logits, cache } = model.prefill(tf.tensor2d(repeatRows(context, B), [B, context.length], 'int32'));
  let lastReported = 0;
  try {
    for (let n = 0; n < maxTokens && !done.every(Boolean); n++) {
      const rows = logits.arraySync() as number[][];
      logits.dispose();
      const range = tokenizer.allowedRange(field);
      const next: number[] = [];
      for (let b = 0; b < B; b++) {
        if (done[b]) {
          next.push(sep); // keeps the batch in lockstep; ignored
          continue;
        }
        let tok = drawToken(rows[b], range.lo, range.hi, req, rngs[b]);
        if (field === 'dt') {
          if (onsetMs[b] + tok * ONSET_QUANTUM_MS >= targetMs && out[b].length > 0) {
            // The next note would start past the requested length: end this candidate here (its last
            // note is already closed by a separator).
            done[b] = true;
            tok = sep;
          } else onsetMs[b] += tok * ONSET_QUANTUM_MS;
        }
        if (!done[b]) out[b].push(tok);
        next.push(tok);
      }
      field = tokenizer.nextField(next.find((_, b) => !done[b]) ?? next[0], field);
      for (let b = 0; b < B; b++) history[b].push(next[b]);
      if (req.onProgress) {
        const frac = Math.min(1, Math.min(...onsetMs.map((ms, b) => (done[b] ? targetMs : ms))) / targetMs);
        if (frac - lastReported >= 0.02 || (frac === 1 && lastReported < 1)) {
          lastReported = frac;
          req.onProgress(frac);
        }
      }
      if (done.every(Boolean)) break;
      if (cache.length >= blockSize) {
        // Context full: keep the most recent half and rebuild the cache (positions restart at 0).
        disposeCache(cache);
        const keep = Math.floor(blockSize / 2);
        const windowed = history.map((h) => h.slice(-keep));
        ({ logits, cache } = model.prefill(tf.tensor2d(windowed.flat(), [B, keep], 'int32')));
      } else {
        const t = tf.tensor1d(next, 'int32');
        ({ logits, cache } = model.step(t, cache));
        t.dispose();
      }
    }
  } finally {
    disposeCache(cache);
    if (!logits.isDisposed) logits.dispose();
  }
  // A candidate that hit maxTokens mid-note: cut back to its last complete note and close it.
  return out.map((toks) => {
    let end = toks.length;
    while (end > 0 && toks[end - 1] !== sep) end--;
    const whole = toks.slice(0, end);
    if (whole.length === 0 || whole[whole.length - 1] !== sep) whole.push(sep);
    return whole[0] === sep ? whole.slice(1) : whole;
  });
}

/**
 * Grammar-masked, temperature-scaled, top-k/top-p-filtered draw from one row of logits.
 * Exported for tests.
 */
export function drawToken(logits: readonly number[], lo: number, hi: number, s: Omit<SamplingSettings, 'seed'>, rng: Rng): number {
  const ids: number[] = [];
  for (let i = lo; i <= hi; i++) ids.push(i);
  if (s.temperature === 0) return ids.reduce((best, i) => (logits[i] > logits[best] ? i : best), ids[0]);
  const scaled = ids.map((i) => logits[i] / s.temperature);
  const max = Math.max(...scaled);
  let probs = scaled.map((x) => Math.exp(x - max));
  // Sort by probability (ties by id, for determinism) and cut by top-k, then top-p.
  let order = ids.map((_, j) => j).sort((a, b) => probs[b] - probs[a] || a - b);
  if (s.topK > 0) order = order.slice(0, s.topK);
  const total = order.reduce((a, j) => a + probs[j], 0);
  if (s.topP < 1) {
    let cum = 0;
    const kept: number[] = [];
    for (const j of order) {
      kept.push(j);
      cum += probs[j] / total;
      if (cum >= s.topP) break;
    }
    order = kept;
  }
  probs = order.map((j) => probs[j]);
  const sum = probs.reduce((a, b) => a + b, 0);
  let r = rng.next() * sum;
  for (let k = 0; k < order.length; k++) {
    r -= probs[k];
    if (r < 0) return ids[order[k]];
  }
  return ids[order[order.length - 1]];
}

function validate(req: SampleRequest): void {
  if (!(req.temperature >= 0 && req.temperature <= 5)) throw new RangeError('temperature must be between 0 and 5');
  if (!(req.topP > 0 && req.topP <= 1)) throw new RangeError('top_p must be in (0, 1]');
  if (!(Number.isInteger(req.topK) && req.topK >= 0)) throw new RangeError('top_k must be a whole number ≥ 0');
  if (!(Number.isInteger(req.candidates) && req.candidates >= 1 && req.candidates <= 8)) throw new RangeError('candidates must be 1 to 8');
  if (!(req.seconds > 0 && req.seconds <= 600)) throw new RangeError('seconds must be in (0, 600]');
  if (!Number.isFinite(req.seed)) throw new RangeError('seed must be a number');
}

function repeatRows(row: readonly number[], n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(...row);
  return out;
}

function disposeCache(cache: KVCache): void {
  for (const l of cache.layers) {
    if (!l.k.isDisposed) l.k.dispose();
    if (!l.v.isDisposed) l.v.dispose();
  }
}
