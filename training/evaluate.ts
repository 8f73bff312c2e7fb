/**
 * Validation: mean cross-entropy and accuracy over fixed windows of a token stream (the thesis protocol
 * with 128-token windows). `evaluate` runs on this thread; eval-threads.ts spreads the same windows over
 * several cores and adds the same sums.
 */
import * as tf from '@tensorflow/tfjs';
import type { GPT } from '../src/model/gpt.js';
import type { StyleMemory } from '../src/model/memory.js';
import { MemoryTrack } from '../src/model/memory-mix.js';
import { combineViews, fieldAfter, isPlain, isPlainView, PLAIN_VIEW, viewOf, type View } from '../src/model/views.js';
import { SEP, streamFields, TOKEN_FIELDS } from '../src/music/tokenizer.js';

export interface EvalResult {
  loss: number;
  accuracy: number;
  windows: number;
  /** With a style memory: the GPT's own loss and accuracy (loss/accuracy are those of the mix). */
  model?: { loss: number; accuracy: number };
  /** With `groupOf`: loss and accuracy over the targets of each group (e.g. token field), by group id. */
  groups?: { loss: number; accuracy: number; tokens: number }[];
}

/**
 * Mean cross-entropy and accuracy over consecutive windows: inputs x[i..i+L), targets x[i+1..i+L+1),
 * stepping by L (the thesis protocol with L = 128). `maxWindows` spreads the windows evenly if fewer
 * are wanted than the stream holds. `groupOf` (a group id per stream position) also splits
 * the totals by the target's group.
 */
export function evaluate(model: GPT, stream: Uint8Array, seqLen: number, maxWindows = Infinity, batch = 16, groupOf?: Uint8Array): EvalResult {
  const starts = windowStarts(stream.length, seqLen, maxWindows);
  return evalResult(evaluateWindows(model, stream, seqLen, starts, batch, groupOf), starts.length, Boolean(groupOf));
}

/** Where `evaluate`'s windows start: every seqLen tokens, or `maxWindows` of those spread evenly. */
export function windowStarts(streamLength: number, seqLen: number, maxWindows = Infinity): number[] {
  const total = Math.floor((streamLength - 1) / seqLen);
  const count = Math.min(total, maxWindows);
  if (count <= 0) throw new Error(`validation stream of ${streamLength} tokens is shorter than one window of ${seqLen + 1}`);
  const starts: number[] = [];
  for (let i = 0; i < count; i++) starts.push(Math.floor((i * total) / count) * seqLen);
  return starts;
}

/** Summed per-token losses and hits (overall and per group): sums add up across parts of the windows. */
export interface EvalSums {
  loss: number;
  correct: number;
  tokens: number;
  /** The GPT alone (equal to loss/correct without a memory). */
  modelLoss: number;
  modelCorrect: number;
  groups: { loss: number; correct: number; tokens: number }[];
}

export function evaluateWindows(model: GPT, stream: Uint8Array, seqLen: number, starts: number[], batch = 16, groupOf?: Uint8Array, memory?: StyleMemory): EvalSums {
  const sums: EvalSums = { loss: 0, correct: 0, tokens: 0, modelLoss: 0, modelCorrect: 0, groups: [] };
  // With a memory, the GPT's part of the mix is the mean over the memory's views of the context (views.ts); the GPT's
  // own numbers stay those of the plain context.
  let track = new MemoryTrack();
  forEachTarget(model, stream, seqLen, starts, batch, (_, s, t, row, y, plain, hidden) => {
    const modelNll = -plain[y];
    const modelHit = argMax(plain) === y ? 1 : 0;
    let nll = modelNll;
    let hit = modelHit;
    if (t === 0) track = new MemoryTrack(); // each window is a sequence of its own
    const guess = memory?.guess(stream.subarray(s, s + t + 1));
    const mixed = guess && memory!.mix(row, guess, track, hidden);
    track.observe(row[y], guess, y);
    if (mixed) {
      nll = -Math.log(mixed[y]);
      hit = argMax(mixed) === y ? 1 : 0;
    } else if (row !== plain) {
      nll = -row[y];
      hit = argMax(row) === y ? 1 : 0;
    }
    sums.loss += nll;
    sums.correct += hit;
    sums.modelLoss += modelNll;
    sums.modelCorrect += modelHit;
    sums.tokens++;
    if (groupOf) {
      const g = (sums.groups[groupOf[s + t + 1]] ??= { loss: 0, correct: 0, tokens: 0 });
      g.loss += nll;
      g.correct += hit;
      g.tokens++;
    }
  }, memory?.settings.views, memory?.readsHidden);
  return sums;
}

/**
 * Calls `visit` for every target of the windows at `starts` (window w starting at stream position s; input
 * position t; the target is stream[s + t + 1]) with the model's log-probabilities for it, `batch` windows per
 * forward pass. With `views` (views.ts), `logProbs` is their combination and `plain` the plain context's
 * (the same row without views). With `withHidden`, `hidden` is the plain context's final hidden state there.
 */
export function forEachTarget(
  model: GPT,
  stream: Uint8Array,
  seqLen: number,
  starts: number[],
  batch: number,
  visit: (window: number, start: number, t: number, logProbs: ArrayLike<number>, target: number, plain: ArrayLike<number>, hidden?: Float32Array) => void,
  views?: readonly View[],
  withHidden = false,
): void {
  const viewed = !isPlain(views);
  for (let i = 0; i < starts.length; i += batch) {
    const chunk = starts.slice(i, i + batch);
    if (viewed) {
      viewLogProbs(model, stream, seqLen, chunk, views!, withHidden, (b, t, combined, plain, hidden) => visit(i + b, chunk[b], t, combined, stream[chunk[b] + t + 1], plain, hidden));
      continue;
    }
    const x = new Int32Array(chunk.length * seqLen);
    chunk.forEach((s, b) => x.set(stream.subarray(s, s + seqLen), b * seqLen));
    const { logProbs: lp, hidden } = logProbsOf(model, x, chunk.length, seqLen, withHidden);
    const vocab = lp.length / (chunk.length * seqLen);
    const width = hidden ? hidden.length / (chunk.length * seqLen) : 0;
    chunk.forEach((s, b) => {
      for (let t = 0; t < seqLen; t++) {
        const at = b * seqLen + t;
        const row = lp.subarray(at * vocab, (at + 1) * vocab);
        visit(i + b, s, t, row, stream[s + t + 1], row, hidden?.subarray(at * width, (at + 1) * width));
      }
    });
  }
}

/**
 * One inference pass over `rows` sequences of `seqLen` tokens: every position's log-probabilities, and with `withHidden`
 * its final hidden state — with `stateOf`, only that of row `at` of every group of `every` consecutive rows (the plain
 * view among a window's views: the only state a gate reads, a fifth of what the pass computed).
 */
function logProbsOf(model: GPT, x: Int32Array, rows: number, seqLen: number, withHidden: boolean, stateOf?: { every: number; at: number }): { logProbs: Float32Array; hidden?: Float32Array } {
  return tf.tidy(() => {
    const tokens = tf.tensor2d(x, [rows, seqLen], 'int32');
    if (!withHidden) return { logProbs: tf.logSoftmax(model.forward(tokens)).dataSync() as Float32Array };
    const { logits, hidden } = model.forwardWithHidden(tokens);
    const kept = stateOf ? hidden.reshape([rows / stateOf.every, stateOf.every, -1]).slice([0, stateOf.at, 0], [-1, 1, -1]) : hidden;
    return { logProbs: tf.logSoftmax(logits).dataSync() as Float32Array, hidden: kept.dataSync() as Float32Array };
  });
}

/**
 * The windows at `starts` seen through each view in one forward pass: for every position, the views' combined
 * log-probabilities and the plain context's (an extra pass when the plain view is not among them).
 */
function viewLogProbs(
  model: GPT,
  stream: Uint8Array,
  seqLen: number,
  starts: number[],
  views: readonly View[],
  withHidden: boolean,
  visit: (b: number, t: number, combined: ArrayLike<number>, plain: Float32Array, hidden?: Float32Array) => void,
): void {
  const plainAt = views.findIndex(isPlainView);
  const passes = plainAt >= 0 ? views : [...views, PLAIN_VIEW];
  const plainView = plainAt >= 0 ? plainAt : views.length;
  const V = passes.length;
  const x = new Int32Array(starts.length * V * seqLen);
  starts.forEach((s, b) => {
    const window = stream.subarray(s, s + seqLen);
    passes.forEach((view, v) => x.set(viewOf(window, view), (b * V + v) * seqLen));
  });
  // Each window's V passes are consecutive rows; only the plain pass's hidden state leaves the pass.
  const { logProbs: lp, hidden } = logProbsOf(model, x, starts.length * V, seqLen, withHidden, { every: V, at: plainView });
  const vocab = lp.length / (starts.length * V * seqLen);
  const row = (b: number, v: number, t: number) => lp.subarray(((b * V + v) * seqLen + t) * vocab, ((b * V + v) * seqLen + t + 1) * vocab);
  const width = hidden ? hidden.length / (starts.length * seqLen) : 0;
  const stateAt = (b: number, t: number) => hidden?.subarray((b * seqLen + t) * width, (b * seqLen + t + 1) * width);
  starts.forEach((s, b) => {
    const window = stream.subarray(s, s + seqLen);
    const fields = streamFields(window);
    // A window may start mid-note: which tokens are pitches is known only from its first separator on. Before
    // that, streamFields reads the phase from a separator still to come, so those targets get the plain context.
    const firstSep = window.indexOf(SEP);
    for (let t = 0; t < seqLen; t++) {
      if (firstSep < 0 || t < firstSep) {
        const plain = row(b, plainView, t);
        visit(b, t, plain, plain, stateAt(b, t));
        continue;
      }
      const rows = views.map((_, v) => row(b, v, t));
      visit(b, t, combineViews(rows, views, fieldAfter(TOKEN_FIELDS[fields[t]])), row(b, plainView, t), stateAt(b, t));
    }
  });
}

/** The model's log-probabilities for every position of the windows at `starts`: (windows × seqLen) rows of vocab. */
export function windowLogProbs(model: GPT, stream: Uint8Array, seqLen: number, starts: number[]): Float32Array {
  const x = new Int32Array(starts.length * seqLen);
  starts.forEach((s, b) => {
    for (let t = 0; t < seqLen; t++) x[b * seqLen + t] = stream[s + t];
  });
  return tf.tidy(() => tf.logSoftmax(model.forward(tf.tensor2d(x, [starts.length, seqLen], 'int32'))).dataSync() as Float32Array);
}

function argMax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

export function addSums(a: EvalSums, b: EvalSums): EvalSums {
  const groups = Array.from({ length: Math.max(a.groups.length, b.groups.length) }, (_, i) => {
    const [ga, gb] = [a.groups[i], b.groups[i]];
    return ga && gb ? { loss: ga.loss + gb.loss, correct: ga.correct + gb.correct, tokens: ga.tokens + gb.tokens } : (ga ?? gb);
  });
  return { loss: a.loss + b.loss, correct: a.correct + b.correct, tokens: a.tokens + b.tokens, modelLoss: a.modelLoss + b.modelLoss, modelCorrect: a.modelCorrect + b.modelCorrect, groups };
}

export function evalResult(sums: EvalSums, windows: number, withGroups: boolean, withMemory = false): EvalResult {
  return {
    loss: sums.loss / sums.tokens,
    accuracy: sums.correct / sums.tokens,
    windows,
    ...(withMemory ? { model: { loss: sums.modelLoss / sums.tokens, accuracy: sums.modelCorrect / sums.tokens } } : {}),
    ...(withGroups ? { groups: Array.from(sums.groups, (g) => (g ? { loss: g.loss / g.tokens, accuracy: g.correct / g.tokens, tokens: g.tokens } : { loss: NaN, accuracy: NaN, tokens: 0 })) } : {}),
  };
}
