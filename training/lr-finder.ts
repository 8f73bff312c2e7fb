/**
 * Learning-rate range test (Smith 2015; fastai's lr_find, which the thesis used): train a throw-away
 * copy of the model for a few dozen steps while the learning rate grows geometrically, record the
 * (smoothed) loss, stop once it blows up. The suggestion is the rate at the minimum loss divided by 10,
 * the usual rule of thumb; the thesis then trained at half of fastai's suggestion.
 */
import * as tf from '@tensorflow/tfjs';
import type { GPT } from '../src/model/gpt.js';
import { crossEntropy } from '../src/model/gpt.js';
import { Rng, mixSeed } from '../src/util/rng.js';
import { AdamW, DEFAULT_ADAMW } from './optim.js';
import { batchFrom } from './trainer.js';

export interface LrFinderOptions {
  train: Uint8Array;
  seqLen: number;
  batchSize: number;
  minLr?: number;
  maxLr?: number;
  steps?: number;
  seed?: number;
  trainable?: (name: string) => boolean;
}

export interface LrFinderResult {
  points: { lr: number; loss: number; smoothed: number }[];
  suggestion: number;
}

/** Runs on `model` in place: pass a copy you can throw away. */
export function findLearningRate(model: GPT, o: LrFinderOptions): LrFinderResult {
  const minLr = o.minLr ?? 1e-6, maxLr = o.maxLr ?? 1, steps = o.steps ?? 60, seed = o.seed ?? 1;
  const names = Object.keys(model.weights).sort().filter((n) => !o.trainable || o.trainable(n));
  const vars = names.map((n) => model.weights[n]);
  const opt = new AdamW({ ...DEFAULT_ADAMW, weightDecay: 0 });
  const points: LrFinderResult['points'] = [];
  let avg = 0;
  let best = Infinity;
  for (let i = 0; i < steps; i++) {
    const lr = minLr * (maxLr / minLr) ** (i / (steps - 1));
    const { x, y } = batchFrom(o.train, o.batchSize, o.seqLen, new Rng(mixSeed(seed, i)));
    const { value, grads } = tf.variableGrads(() => crossEntropy(model.forward(x), y), vars);
    const loss = value.dataSync()[0];
    value.dispose();
    x.dispose();
    y.dispose();
    opt.apply(model.weights, Object.fromEntries(names.map((n, j) => [n, grads[vars[j].name]])), lr);
    // Bias-corrected exponential moving average, as fastai.
    avg = 0.9 * avg + 0.1 * loss;
    const smoothed = avg / (1 - 0.9 ** (i + 1));
    points.push({ lr, loss, smoothed });
    best = Math.min(best, smoothed);
    if (!Number.isFinite(loss) || smoothed > 4 * best) break;
  }
  opt.dispose();
  const minPoint = points.reduce((a, b) => (b.smoothed < a.smoothed ? b : a));
  return { points, suggestion: minPoint.lr / 10 };
}
