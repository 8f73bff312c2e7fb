/**
 * Sampling a continuation: the prompt is processed once (prefill), then one token per step with the
 * key/value cache. Several candidates run as one batch. Every step is grammar-constrained (only tokens
 * legal for the next field can be drawn), so every output decodes. Temperature divides the *logits*
 * (the reference divided probabilities, which does nothing after renormalising), then top-k and top-p.
 * Same seed + same inputs ⇒ same tokens: each candidate draws from its own seeded generator.
 */
import * as tf from '@tensorflow/tfjs';
import { disposeCache, type GPT, type KVCache } from './gpt.js';
import type { Tokenizer, TokenField } from '../music/tokenizer.js';
import { DURATION_QUANTUM_MS, ONSET_QUANTUM_MS } from '../music/tokenizer.js';
import { clearKey } from '../music/key.js';
import { Rng, mixSeed } from '../util/rng.js';
import type { StyleMemory } from './memory.js';
import { MemoryTrack } from './memory-mix.js';
import { combineViews, isPlain, isPlainView, PLAIN_VIEW, viewOf, viewToken, type View } from './views.js';

export interface SamplingSettings {
  /** > 0; 1 = the model's distribution, lower = safer. 0 means greedy. */
  temperature: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = off). */
  topP: number;
  seed: number;
  /**
   * Also apply temperature/top-k/top-p to the rhythm (dt and dur). Off by default: sharpening the rhythm
   * collapses it onto its most common value, dt = 0 (another note of the same chord), and piles notes into
   * walls; the shaping is for the pitch.
   */
  shapeRhythm?: boolean;
}

export interface SampleRequest extends SamplingSettings {
  /** Prompt tokens in the tokenizer's grammar (ending with a separator), or [] to improvise. */
  prompt: readonly number[];
  /** Seconds of music to continue for. */
  seconds: number;
  candidates: number;
  /** Safety cap on generated tokens per candidate. */
  maxTokens?: number;
  /** Stop a candidate after this many notes (e.g. when more would already be an unplayable wall of notes). */
  maxNotes?: number;
  /** At most this many of its notes sound at once (default MAX_POLYPHONY); a new note waits for one to end. */
  maxPolyphony?: number;
  /** Called with the fraction of the requested length done (0..1), at most once per ~2 % step. */
  onProgress?: (fraction: number) => void;
  /**
   * The style's memory of its training performances (src/model/memory.ts): where what was just played matches
   * one of them, its continuation there is mixed into the model's distribution before any shaping. The model's
   * part is then the mean over the memory's views of the context (views.ts): each row runs once per view.
   */
  memory?: StyleMemory;
  /** Nats added to the pitch logits by pitch class (12 numbers, C first): the prompt's key guide (music/key.ts). */
  pitchBias?: readonly number[];
  /** Pitch class to end on (see `SampleRow.endOn`). */
  endOn?: number | 'own-key';
  /** How much past `seconds` a row may go on to reach its `endOn` (default 0: none). */
  endingGraceSec?: number;
}

/** One row of a batch: its own prompt, its own random stream and its own key guide. */
export interface SampleRow {
  prompt: readonly number[];
  seed: number;
  pitchBias?: readonly number[];
  /**
   * End on this pitch class (the key's tonic): past the requested length the row goes on, for up to the request's
   * `endingGraceSec`, until a chord is complete whose bass (the lowest note sounding with it, held ones included) is
   * this pitch class, and ends after it. A row that
   * reaches none in time ends where it would have without it. A continuation cut at an arbitrary note stops
   * mid-phrase; one whose last bass note is the tonic sounds finished. 'own-key': the tonic of the key the row itself
   * has played by the requested length (an improvisation has no prompt to take one from), if it has a clear one.
   */
  endOn?: number | 'own-key';
}

export interface BatchRequest extends Omit<SampleRequest, 'prompt' | 'candidates' | 'seed' | 'pitchBias' | 'endOn'> {
  rows: readonly SampleRow[];
}

export { DEFAULT_SAMPLING } from './sampling-defaults.js';

/**
 * The most notes a continuation lets sound at once: the densest real clip in the evaluation data sustains 17
 * (95th percentile of its polyphony, sustain pedal included). Undertrained models otherwise stack long notes into
 * clusters of 20–40 that no recording has.
 */
export const MAX_POLYPHONY = 17;

/** Draw from the model's own distribution: no temperature, no truncation. */
const MODEL_DISTRIBUTION: Omit<SamplingSettings, 'seed'> = { temperature: 1, topK: 0, topP: 1 };

/**
 * Returns one token list per candidate: the continuation only (not the prompt), each a whole number
 * of notes followed by a final separator, so it decodes on its own or appended to the prompt.
 * Candidate b draws from the seed mixSeed(seed, b).
 */
export function sampleContinuation(model: GPT, tokenizer: Tokenizer, req: SampleRequest): number[][] {
  validate(req);
  const { prompt, candidates, seed, pitchBias, endOn, ...rest } = req;
  const rows = Array.from({ length: candidates }, (_, b) => ({ prompt, seed: mixSeed(seed, b), ...(pitchBias ? { pitchBias } : {}), ...(endOn !== undefined ? { endOn } : {}) }));
  return sampleBatch(model, tokenizer, { ...rest, rows });
}

/**
 * Samples many rows at once (e.g. every prompt of an evaluation): one model step serves the whole batch, so
 * the per-operation overhead that dominates a small model on CPU is paid once per step, not once per row.
 * Rows are grouped by context length (each group is one batch, the cache needs equal lengths), and a
 * finished row leaves its batch at once, so a dense row does not keep the sparse ones stepping.
 * A row's tokens depend only on its prompt and seed, not on which rows share its batch.
 */
export function sampleBatch(model: GPT, tokenizer: Tokenizer, req: BatchRequest): number[][] {
  validateBatch(req);
  const { blockSize } = model.config;
  const sep = tokenizer.allowedRange('sep').lo;
  // The window the model sees: at most 3/4 of its context, so there is room to generate before re-windowing.
  const contexts = req.rows.map((r) => (r.prompt.length ? [...r.prompt] : [sep]).slice(-Math.floor((blockSize * 3) / 4)));
  for (const c of contexts) if (tokenizer.fieldAt(c) !== 'dt') throw new Error('prompt must end with a separator token');
  const groups = new Map<number, number[]>();
  for (const [i, c] of contexts.entries()) {
    const members = groups.get(c.length);
    if (members) members.push(i);
    else groups.set(c.length, [i]);
  }
  const out: number[][] = new Array(req.rows.length);
  let groupsDone = 0;
  for (const members of groups.values()) {
    const n = groupsDone;
    const onProgress = req.onProgress && ((f: number) => req.onProgress!((n + f) / groups.size));
    const sampled = sampleGroup(model, tokenizer, { ...req, onProgress }, members.map((i) => contexts[i]), members.map((i) => req.rows[i]));
    members.forEach((row, j) => (out[row] = sampled[j]));
    groupsDone++;
  }
  return out;
}

/** Rows whose contexts all have the same length, in one batch that shrinks as rows finish. */
function sampleGroup(model: GPT, tokenizer: Tokenizer, req: Omit<BatchRequest, 'rows'>, contexts: number[][], samples: readonly SampleRow[]): number[][] {
  const { blockSize } = model.config;
  const sep = tokenizer.allowedRange('sep').lo;
  const targetMs = req.seconds * 1000;
  const graceMs = (req.endingGraceSec ?? 0) * 1000;
  const maxTokens = req.maxTokens ?? Math.ceil((req.seconds + (req.endingGraceSec ?? 0)) * 200) + 64;
  const maxNotes = req.maxNotes ?? Infinity;
  const rngs = samples.map((s) => new Rng(s.seed));
  const out: number[][] = contexts.map(() => []);
  const onsetMs = contexts.map(() => 0);
  const notes = contexts.map(() => 0);
  const maxPolyphony = req.maxPolyphony ?? MAX_POLYPHONY;
  // End times (ms) of each row's notes that may still sound; a note's end is known once its dur is drawn.
  // The pitch is filled in when drawn; it gives the bass under a chord (for the row's ending).
  const sounding: SoundingNote[][] = contexts.map(() => []);
  // Each row's ending pitch class once known ('own-key' rows: at the requested length; null = none, stop there).
  const ending: (number | null | undefined)[] = samples.map((s) => (typeof s.endOn === 'number' ? s.endOn : s.endOn === undefined ? null : undefined));
  // Where each row would have ended without its ending (its length in tokens at the first chord past the target).
  const endWithout: (number | undefined)[] = contexts.map(() => undefined);
  // Token history per row (all the same length), used when the context is full and must be re-windowed.
  const history = contexts.map((c) => [...c]);
  // alive[j] = the row at batch position j; finished rows are dropped from the batch (and the cache).
  let alive = contexts.map((_, i) => i);
  const finished = new Set<number>();
  let field: TokenField = 'dt';
  // Each row is V batch positions, one per view of its context (V = 1 without a memory or views).
  const views = isPlain(req.memory?.settings.views) ? [PLAIN_VIEW] : req.memory!.settings.views!;
  const V = views.length;
  const viewsOf = (seqs: number[][]) => seqs.flatMap((c) => views.map((view) => viewOf(c, view)));
  const positionsOf = (js: number[]) => js.flatMap((j) => views.map((_, v) => j * V + v));
  // A gate that reads the GPT's hidden state reads the plain context's (memory-store.ts checks the views hold it).
  const readsHidden = Boolean(req.memory?.readsHidden);
  const plainAt = views.findIndex(isPlainView);

  const prefilled = model.prefill(tf.tensor2d(viewsOf(contexts).flat(), [contexts.length * V, contexts[0].length], 'int32'), { every: Boolean(req.memory), hidden: readsHidden });
  let { logits, cache } = prefilled;
  let hidden = prefilled.hidden;
  // Each row's record of how the memory's guesses fared, first on the prompt's last tokens.
  const tracks = contexts.map(() => new MemoryTrack());
  if (req.memory && prefilled.all) {
    // Only the positions the warm-up reads leave the tensor (a long prompt batch holds millions of logits).
    const T = contexts[0].length;
    const W = Math.min(T, TRACK_WARM_TOKENS + 1);
    const all = prefilled.all;
    const last = tf.tidy(() => tf.logSoftmax(all.reshape([contexts.length * V, T, -1]).slice([0, T - W, 0], [-1, W, -1]).reshape([contexts.length * V * W, -1])).arraySync() as number[][]);
    all.dispose();
    contexts.forEach((c, r) => warmTrack(tracks[r], req.memory!, c, (t) => views.map((_, v) => last[(r * V + v) * W + t - (T - W)]), views));
  }
  let lastReported = 0;
  try {
    for (let n = 0; n < maxTokens && alive.length > 0; n++) {
      const rows = logits.arraySync() as number[][];
      logits.dispose();
      const states = hidden?.arraySync() as number[][] | undefined;
      hidden?.dispose();
      const range = tokenizer.allowedRange(field);
      const shaping = req.shapeRhythm || field === 'pitch' ? req : MODEL_DISTRIBUTION;
      const next: number[] = [];
      const stillAlive: number[] = [];
      alive.forEach((r, j) => {
        let row = V > 1 ? Array.from(combineViews(rows.slice(j * V, (j + 1) * V), views, field)) : rows[j];
        const mixed = req.memory && withMemory(row, req.memory, history[r], tracks[r], states?.[j * V + plainAt]);
        if (mixed) row = mixed.logits;
        const bias = samples[r].pitchBias;
        if (field === 'pitch' && bias) row = withPitchBias(row, bias, range);
        const lo = field === 'dt' ? Math.min(range.hi, Math.max(range.lo, earliestGap(sounding[r], onsetMs[r], maxPolyphony))) : range.lo;
        let tok = drawToken(row, lo, range.hi, shaping, rngs[r]);
        let done = false;
        if (field === 'dt') {
          const startMs = onsetMs[r] + tok * ONSET_QUANTUM_MS;
          if (startMs >= targetMs && ending[r] === undefined) ending[r] = clearKey(tokenizer.decode([sep, ...out[r]]).notes)?.tonic ?? null;
          const endOn = ending[r] ?? undefined;
          // The row's chord is complete once the next note starts later (dt > 0); then it may be the ending, if the
          // lowest note sounding with it (its own, or one held from before) is the tonic.
          const endsHere = endOn === undefined || (tok > 0 && bassAt(sounding[r], onsetMs[r]) % 12 === endOn);
          if (startMs >= targetMs && !endsHere && tok > 0 && endWithout[r] === undefined) endWithout[r] = out[r].length;
          if ((notes[r] >= maxNotes || (startMs >= targetMs && (endsHere || startMs >= targetMs + graceMs))) && out[r].length > 0) {
            // The next note would start past the requested length (or its ending, or exceed the note cap): end this
            // row here (its last note is already closed by a separator); without a tonic in time, where it would have.
            done = true;
            tok = sep;
            if (!endsHere && endWithout[r] !== undefined) out[r].length = endWithout[r]!;
          } else onsetMs[r] = startMs;
        }
        if (field === 'dur' && !done) sounding[r].push({ endMs: onsetMs[r] + tok * DURATION_QUANTUM_MS, pitch: Infinity });
        if (field === 'pitch') sounding[r][sounding[r].length - 1].pitch = tok;
        if (done) finished.add(r);
        else {
          out[r].push(tok);
          if (tok === sep) notes[r]++;
          stillAlive.push(j);
        }
        if (!done) mixed?.observe(tok);
        next.push(tok);
        history[r].push(tok);
      });
      const drawn = field;
      // The rows step through the fields together; read the next one off a row that goes on (a row that just ended
      // drew a separator in place of its dt, and a separator would restart the cycle at dt for all the others).
      field = tokenizer.nextField(next[stillAlive[0] ?? 0], field);
      if (req.onProgress) {
        const frac = Math.min(1, Math.min(...onsetMs.map((ms, r) => (finished.has(r) ? targetMs : ms))) / targetMs);
        if (frac - lastReported >= 0.02 || (frac === 1 && lastReported < 1)) {
          lastReported = frac;
          req.onProgress(frac);
        }
      }
      if (stillAlive.length === 0) break;
      const shrink = stillAlive.length < alive.length;
      alive = stillAlive.map((j) => alive[j]);
      const stepTokens = stillAlive.flatMap((j) => views.map((view) => viewToken(next[j], drawn, view)));
      if (cache.length >= blockSize) {
        // Context full: keep the most recent half and rebuild the cache (positions restart at 0).
        disposeCache(cache);
        const keep = Math.floor(blockSize / 2);
        const windowed = viewsOf(alive.map((r) => history[r].slice(-keep)));
        ({ logits, cache, hidden } = model.prefill(tf.tensor2d(windowed.flat(), [alive.length * V, keep], 'int32'), { hidden: readsHidden }));
      } else {
        if (shrink) cache = keepRows(cache, positionsOf(stillAlive), model.config.nHead);
        const t = tf.tensor1d(stepTokens, 'int32');
        ({ logits, cache, hidden } = model.step(t, cache, readsHidden));
        t.dispose();
      }
    }
  } finally {
    disposeCache(cache);
    if (!logits.isDisposed) logits.dispose();
    if (hidden && !hidden.isDisposed) hidden.dispose();
  }
  // A row that hit maxTokens while looking for its ending ends where it would have without it.
  out.forEach((toks, r) => {
    if (!finished.has(r) && endWithout[r] !== undefined) toks.length = endWithout[r]!;
  });
  // A row that hit maxTokens mid-note: cut back to its last complete note and close it.
  return out.map((toks) => {
    let end = toks.length;
    while (end > 0 && toks[end - 1] !== sep) end--;
    const whole = toks.slice(0, end);
    if (whole.length === 0 || whole[whole.length - 1] !== sep) whole.push(sep);
    return whole[0] === sep ? whole.slice(1) : whole;
  });
}

/** How far back the memory reads a row's history: more than its longest match spans. */
const MEMORY_CONTEXT = 512;

/**
 * Composing quotes at most this much of a training performance: once what was just played matches one for this
 * many flat tokens (chords and their boundaries; about 5–8 notes), the memory steps aside and the GPT alone picks
 * the next token. Predicting a performance (the thesis table) follows a long match to the end; composing would
 * otherwise latch on and play a training piece's pitches bar after bar.
 */
export const MEMORY_QUOTE_LIMIT = 16;

/**
 * The logits of the mix of the model's distribution and the memory's guess (unchanged when it has none), and how to
 * record the token drawn from them in the row's track. `hidden`: the plain context's final state, for a gate that reads it.
 */
function withMemory(logits: number[], memory: StyleMemory, history: readonly number[], track: MemoryTrack, hidden?: readonly number[]): { logits: number[]; observe: (token: number) => void } {
  const guess = memory.guess(history.slice(-MEMORY_CONTEXT), MEMORY_QUOTE_LIMIT);
  // A position the memory does not guess leaves the track as it is (MemoryTrack.observe), so it needs no normalising.
  if (!guess) return { logits, observe: () => {} };
  const max = Math.max(...logits);
  const logSum = max + Math.log(logits.reduce((a, x) => a + Math.exp(x - max), 0));
  const observe = (token: number) => track.observe(logits[token] - logSum, guess, token);
  const mixed = memory.mix(logits.map((x) => x - logSum), guess, track, hidden);
  return { logits: mixed ? Array.from(mixed, Math.log) : logits, observe };
}

/** How many of the prompt's last tokens a row's track is fed before composing starts (the track forgets older ones). */
const TRACK_WARM_TOKENS = 64;

/**
 * Feeds `track` the prompt's last positions as evaluation would (the memory's guess there, the GPT's views combined,
 * the token that followed), so the gate starts composing knowing how the memory fares on this prompt.
 * `rowsAt(t)`: the views' log-probabilities for the token after context[0..t].
 */
function warmTrack(track: MemoryTrack, memory: StyleMemory, context: readonly number[], rowsAt: (t: number) => number[][], views: readonly View[]): void {
  for (let t = Math.max(0, context.length - 1 - TRACK_WARM_TOKENS); t < context.length - 1; t++) {
    // No guess for a separator: the guess knows the field it predicts.
    const guess = memory.guess(context.slice(Math.max(0, t + 1 - MEMORY_CONTEXT), t + 1), MEMORY_QUOTE_LIMIT);
    if (!guess) continue;
    const rows = rowsAt(t);
    const combined = rows.length > 1 ? combineViews(rows, views, guess.field) : rows[0];
    track.observe(combined[context[t + 1]], guess, context[t + 1]);
  }
}

/** A note of a row that may still sound: when it ends (ms) and its pitch. */
interface SoundingNote {
  endMs: number;
  pitch: number;
}

/**
 * The smallest dt (in onset quanta) after which fewer than `max` of the `sounding` notes still sound, so the next
 * note keeps the polyphony within `max`. Drops the notes that have ended by `onsetMs` from `sounding`.
 */
function earliestGap(sounding: SoundingNote[], onsetMs: number, max: number): number {
  for (let i = sounding.length - 1; i >= 0; i--) if (sounding[i].endMs <= onsetMs) sounding.splice(i, 1);
  if (sounding.length < max) return 0;
  const sorted = sounding.map((n) => n.endMs).sort((a, b) => a - b);
  // Once the (n - max + 1)-th earliest end has passed, max - 1 notes remain and the new one makes max.
  return Math.ceil((sorted[sounding.length - max] - onsetMs) / ONSET_QUANTUM_MS);
}

/** The lowest pitch still sounding at `onsetMs`; Infinity for none. */
function bassAt(sounding: readonly SoundingNote[], onsetMs: number): number {
  return sounding.reduce((a, n) => (n.endMs > onsetMs ? Math.min(a, n.pitch) : a), Infinity);
}

/** The cache restricted to the batch positions `keep` (each position owns nHead consecutive rows). */
function keepRows(cache: KVCache, keep: readonly number[], nHead: number): KVCache {
  const idx = tf.tensor1d(keep.flatMap((j) => Array.from({ length: nHead }, (_, h) => j * nHead + h)), 'int32');
  const rows = (t: tf.Tensor3D) => tf.gather(t, idx) as tf.Tensor3D;
  const layers = cache.layers.map((l) => ({ k: rows(l.k), v: rows(l.v), ...(l.recent ? { recent: { k: rows(l.recent.k), v: rows(l.recent.v) } } : {}) }));
  idx.dispose();
  disposeCache(cache);
  return { layers, length: cache.length, batch: keep.length };
}

/** The row with `bias[pitch % 12]` added to each legal pitch's logit (the token id is the MIDI pitch). */
function withPitchBias(row: readonly number[], bias: readonly number[], range: { lo: number; hi: number }): number[] {
  const out = Array.from(row);
  for (let pitch = range.lo; pitch <= range.hi; pitch++) out[pitch] += bias[pitch % 12];
  return out;
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
  if (!(Number.isInteger(req.candidates) && req.candidates >= 1 && req.candidates <= 8)) throw new RangeError('candidates must be 1 to 8');
  if (!Number.isFinite(req.seed)) throw new RangeError('seed must be a number');
}

function validateBatch(req: BatchRequest): void {
  if (req.rows.length === 0) throw new RangeError('nothing to sample: no rows');
  if (!(req.temperature >= 0 && req.temperature <= 5)) throw new RangeError('temperature must be between 0 and 5');
  if (!(req.topP > 0 && req.topP <= 1)) throw new RangeError('top_p must be in (0, 1]');
  if (!(Number.isInteger(req.topK) && req.topK >= 0)) throw new RangeError('top_k must be a whole number ≥ 0');
  if (!(req.seconds > 0 && req.seconds <= 600)) throw new RangeError('seconds must be in (0, 600]');
  if (req.maxNotes !== undefined && !(Number.isInteger(req.maxNotes) && req.maxNotes >= 1)) throw new RangeError('maxNotes must be a whole number ≥ 1');
  if (req.maxPolyphony !== undefined && !(req.maxPolyphony >= 1)) throw new RangeError('maxPolyphony must be ≥ 1');
  if (req.endingGraceSec !== undefined && !(req.endingGraceSec >= 0 && req.endingGraceSec <= 60)) throw new RangeError('endingGraceSec must be between 0 and 60');
  for (const r of req.rows) {
    if (!Number.isFinite(r.seed)) throw new RangeError('seed must be a number');
    if (r.pitchBias && !(r.pitchBias.length === 12 && r.pitchBias.every(Number.isFinite))) throw new RangeError('pitchBias must be 12 finite numbers');
    if (r.endOn !== undefined && r.endOn !== 'own-key' && !(Number.isInteger(r.endOn) && r.endOn >= 0 && r.endOn < 12)) throw new RangeError("endOn must be a pitch class, 0 to 11, or 'own-key'");
  }
}

