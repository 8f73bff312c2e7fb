/**
 * Validation: mean cross-entropy and accuracy over fixed windows of a token stream (the thesis protocol
 * with 128-token windows). `evaluate` runs on this thread; eval-threads.ts spreads the same windows over
 * several cores and adds the same sums.
 */
import * as tf from '@tensorflow/tfjs';
import type { GPT } from '../src/model/gpt.js';

export interface EvalResult {
  loss: number;
  accuracy: number;
  windows: number;
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
  groups: { loss: number; correct: number; tokens: number }[];
}

export function evaluateWindows(model: GPT, stream: Uint8Array, seqLen: number, starts: number[], batch = 16, groupOf?: Uint8Array): EvalSums {
  const sums: EvalSums = { loss: 0, correct: 0, tokens: 0, groups: [] };
  for (let i = 0; i < starts.length; i += batch) {
    const chunk = starts.slice(i, i + batch);
    const x = new Int32Array(chunk.length * seqLen);
    const y = new Int32Array(chunk.length * seqLen);
    chunk.forEach((s, b) => {
      for (let t = 0; t < seqLen; t++) {
        x[b * seqLen + t] = stream[s + t];
        y[b * seqLen + t] = stream[s + t + 1];
      }
    });
    // Per-token losses and hits, summed here: every window has seqLen targets, so the mean over tokens is the
    // mean of the windows' means.
    const [nll, hit] = tf.tidy(() => {
      const logits = model.forward(tf.tensor2d(x, [chunk.length, seqLen], 'int32'));
      const yt = tf.tensor1d(y, 'int32');
      const perToken = tf.oneHot(yt, logits.shape[1]).mul(tf.logSoftmax(logits)).sum(1).neg();
      return [perToken.dataSync(), tf.argMax(logits, 1).equal(yt).dataSync()];
    });
    chunk.forEach((s, b) => {
      for (let t = 0; t < seqLen; t++) {
        const j = b * seqLen + t;
        sums.loss += nll[j];
        sums.correct += hit[j];
        sums.tokens++;
        if (groupOf) {
          const g = (sums.groups[groupOf[s + t + 1]] ??= { loss: 0, correct: 0, tokens: 0 });
          g.loss += nll[j];
          g.correct += hit[j];
          g.tokens++;
        }
      }
    });
  }
  return sums;
}

export function addSums(a: EvalSums, b: EvalSums): EvalSums {
  const groups = Array.from({ length: Math.max(a.groups.length, b.groups.length) }, (_, i) => {
    const [ga, gb] = [a.groups[i], b.groups[i]];
    return ga && gb ? { loss: ga.loss + gb.loss, correct: ga.correct + gb.correct, tokens: ga.tokens + gb.tokens } : (ga ?? gb);
  });
  return { loss: a.loss + b.loss, correct: a.correct + b.correct, tokens: a.tokens + b.tokens, groups };
}

export function evalResult(sums: EvalSums, windows: number, withGroups: boolean): EvalResult {
  return {
    loss: sums.loss / sums.tokens,
    accuracy: sums.correct / sums.tokens,
    windows,
    ...(withGroups ? { groups: Array.from(sums.groups, (g) => (g ? { loss: g.loss / g.tokens, accuracy: g.correct / g.tokens, tokens: g.tokens } : { loss: NaN, accuracy: NaN, tokens: 0 })) } : {}),
  };
}
