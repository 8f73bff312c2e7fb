/**
 * Data-parallel training on one machine: helper threads compute some of each step's micro-batches while
 * the training thread computes the rest. tfjs's wasm backend runs on one core per thread (it cannot use
 * threads in Node), so this is how a training run uses more than one core.
 *
 * Each step the training thread publishes its weights into shared memory; thread k copies them into its
 * own replica, computes micro-batches k+1, k+1+T, … (T = all threads) exactly as the training thread
 * would (same seeds: `microBatchGrads`), and writes the sum of their gradients back to its own shared
 * slot. The optimizer runs only on the training thread, so there is one set of weights and moments.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { GPT } from '../src/model/gpt.js';
import type { ModelConfig } from '../src/model/config.js';
import type { MicroBatchOptions } from './trainer.js';

/** Where each tensor sits in a flat Float32Array. */
export interface Layout {
  names: string[];
  shapes: number[][];
  offsets: number[];
  total: number;
}

export function layoutOf(model: GPT, names: string[]): Layout {
  const shapes = names.map((n) => model.weights[n].shape);
  const offsets: number[] = [];
  let total = 0;
  for (const shape of shapes) {
    offsets.push(total);
    total += shape.reduce((a, b) => a * b, 1);
  }
  return { names, shapes, offsets, total };
}

export function writeFlat(layout: Layout, tensors: Record<string, tf.Tensor>, into: Float32Array): void {
  layout.names.forEach((n, i) => into.set(tensors[n].dataSync() as Float32Array, layout.offsets[i]));
}

/** Tensors holding copies of the flat data (tfjs must not keep views of shared memory). */
export function readFlat(layout: Layout, from: Float32Array): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  layout.names.forEach((n, i) => {
    const size = layout.shapes[i].reduce((a, b) => a * b, 1);
    out[n] = tf.tensor(from.slice(layout.offsets[i], layout.offsets[i] + size), layout.shapes[i], 'float32');
  });
  return out;
}

/** Copies flat weights (as written by writeFlat) into the model's variables. */
export function assignFlat(model: GPT, layout: Layout, from: Float32Array): void {
  const fresh = readFlat(layout, from);
  for (const n of layout.names) model.weights[n].assign(fresh[n]);
  tf.dispose(Object.values(fresh));
}

/** A copy of `bytes` in memory every thread can read. */
export function sharedCopy(bytes: Uint8Array): SharedArrayBuffer {
  const out = new SharedArrayBuffer(bytes.length);
  new Uint8Array(out).set(bytes);
  return out;
}

/** Sent once to a gradient thread. */
export interface GradientThreadInit {
  config: ModelConfig;
  weights: { layout: Layout; buffer: SharedArrayBuffer };
  grads: { layout: Layout; buffer: SharedArrayBuffer };
  train: SharedArrayBuffer;
  options: Omit<MicroBatchOptions, 'train'>;
  /** This thread computes micro-batches index, index + stride, … */
  index: number;
  stride: number;
}

export type GradientThreadMessage = { type: 'ready' } | { type: 'done'; step: number; loss: number } | { type: 'error'; message: string };

interface Helper {
  worker: Worker;
  grads: Float32Array;
  pending: { resolve: (loss: number) => void; reject: (err: Error) => void } | null;
  /** Why the thread is gone, once it is: later steps fail at once instead of waiting for it. */
  failure: Error | null;
}

/** A worker thread running `module` (relative to this folder) through thread-entry.mjs. */
export function startThread(module: string, data: Record<string, unknown> = {}): Worker {
  const workerData = { ...data, module: new URL(module, import.meta.url).href };
  return new Worker(new URL('./thread-entry.mjs', import.meta.url), { execArgv: [], workerData });
}

export class GradientThreads {
  private constructor(
    private readonly helpers: Helper[],
    private readonly weightLayout: Layout,
    private readonly weights: Float32Array,
    private readonly gradLayout: Layout,
  ) {}

  /** Starts `count` helper threads for `model`, computing gradients of the weights in `names`. */
  static async start(count: number, model: GPT, names: string[], opts: MicroBatchOptions): Promise<GradientThreads> {
    const weightLayout = layoutOf(model, Object.keys(model.weights).sort());
    const gradLayout = layoutOf(model, names);
    const weights = new Float32Array(new SharedArrayBuffer(weightLayout.total * 4));
    const train = sharedCopy(opts.train);
    const helpers: Helper[] = [];
    const ready: Promise<void>[] = [];
    for (let k = 0; k < count; k++) {
      const gradBuffer = new SharedArrayBuffer(gradLayout.total * 4);
      const worker = startThread('./gradient-thread.ts');
      const helper: Helper = { worker, grads: new Float32Array(gradBuffer), pending: null, failure: null };
      helpers.push(helper);
      const init: GradientThreadInit = {
        config: model.config,
        weights: { layout: weightLayout, buffer: weights.buffer as SharedArrayBuffer },
        grads: { layout: gradLayout, buffer: gradBuffer },
        train,
        options: { seed: opts.seed, accumulate: opts.accumulate, batchSize: opts.batchSize, seqLen: opts.seqLen, transpose: opts.transpose, stretch: opts.stretch },
        index: k + 1,
        stride: count + 1,
      };
      ready.push(new Promise<void>((resolve, reject) => {
        const fail = (err: Error) => {
          helper.failure ??= err;
          reject(err);
          helper.pending?.reject(err);
          helper.pending = null;
        };
        worker.on('message', (m: GradientThreadMessage) => {
          if (m.type === 'ready') resolve();
          else if (m.type === 'done') {
            helper.pending?.resolve(m.loss);
            helper.pending = null;
          } else fail(new Error(`gradient thread ${k + 1}: ${m.message}`));
        });
        worker.on('error', (err) => fail(new Error(`gradient thread ${k + 1} crashed: ${err.message}`)));
        worker.on('exit', (code) => fail(new Error(`gradient thread ${k + 1} exited (code ${code})`)));
      }));
      worker.postMessage(init);
    }
    const threads = new GradientThreads(helpers, weightLayout, weights, gradLayout);
    try {
      await Promise.all(ready);
    } catch (err) {
      await threads.close();
      throw err;
    }
    return threads;
  }

  /**
   * Hands the helpers their micro-batches of `step` at the current weights. Resolves to the sum of their
   * losses and each helper's summed gradients, in thread order (the caller adds them to its own and averages).
   */
  run(step: number, model: GPT): Promise<{ loss: number; grads: Array<Record<string, tf.Tensor>> }> {
    writeFlat(this.weightLayout, model.weights, this.weights);
    const losses = this.helpers.map((h) => new Promise<number>((resolve, reject) => {
      if (h.failure) return reject(h.failure);
      h.pending = { resolve, reject };
      h.worker.postMessage({ type: 'step', step });
    }));
    return Promise.all(losses).then((l) => ({
      loss: l.reduce((a, b) => a + b, 0),
      grads: this.helpers.map((h) => readFlat(this.gradLayout, h.grads)),
    }));
  }

  async close(): Promise<void> {
    await Promise.all(this.helpers.map((h) => {
      h.worker.removeAllListeners('exit');
      return h.worker.terminate();
    }));
  }
}
