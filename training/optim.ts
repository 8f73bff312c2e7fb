/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) with global-norm gradient clipping, and the
 * learning-rate schedules the trainer uses. tfjs ships Adam but not AdamW, and we need the moment
 * tensors in hand to checkpoint and resume exactly.
 */
import * as tf from '@tensorflow/tfjs';
import { FUSED_ADAMW, SUM_SQUARES, type AdamWAttrs } from '../src/model/wasm-kernels.js';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0 = off). */
  clipNorm: number;
}

export const DEFAULT_ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clipNorm: 1.0 };

/** Biases, LayerNorm gains and position/relative tables are not decayed (as in nanoGPT: only matrices). */
export function isDecayed(name: string): boolean {
  return name.endsWith('.w') || name === 'wte';
}

export class AdamW {
  step = 0;
  readonly m: Record<string, tf.Tensor> = {};
  readonly v: Record<string, tf.Tensor> = {};

  constructor(readonly config: AdamWConfig = DEFAULT_ADAMW) {}

  /**
   * Apply one update with the gradients `grads` × `gradScale` (1/micro-batches turns a sum into the mean);
   * returns their global norm before clipping. Disposes `grads`. Where the backend has the fused kernels
   * (wasm with Maestro's native kernels) each parameter's update is one pass; otherwise tfjs ops.
   */
  apply(vars: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number, gradScale = 1): number {
    const { beta1, beta2, eps, weightDecay, clipNorm } = this.config;
    const names = Object.keys(grads).sort();
    const fused = Boolean(tf.getKernel(FUSED_ADAMW, tf.getBackend()));
    const squares = (g: tf.Tensor) => (fused ? (tf.engine().runKernel(SUM_SQUARES, { x: g }) as tf.Tensor) : g.square().sum());
    const sq = tf.tidy(() => tf.addN(names.map((n) => squares(grads[n]))));
    const norm = Math.sqrt(sq.dataSync()[0]) * gradScale;
    sq.dispose();
    const scale = gradScale * (clipNorm > 0 && norm > clipNorm ? clipNorm / norm : 1);
    this.step++;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    for (const n of names) {
      const g0 = grads[n];
      const p = vars[n];
      if (fused) {
        const m0 = this.m[n] ?? tf.zerosLike(p);
        const v0 = this.v[n] ?? tf.zerosLike(p);
        const attrs = { lr, beta1, beta2, bc1, bc2, eps, decay: isDecayed(n) ? weightDecay : 0, gradScale: scale } satisfies AdamWAttrs;
        const [next, m, v] = tf.engine().runKernel(FUSED_ADAMW, { p, g: g0, m: m0, v: v0 }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        p.assign(next);
        tf.dispose([next, m0, v0, g0]);
        this.m[n] = m;
        this.v[n] = v;
        continue;
      }
      const [m, v] = tf.tidy(() => {
        const g = scale === 1 ? g0 : g0.mul(scale);
        const m = this.m[n] ? this.m[n].mul(beta1).add(g.mul(1 - beta1)) : g.mul(1 - beta1);
        const v = this.v[n] ? this.v[n].mul(beta2).add(g.square().mul(1 - beta2)) : g.square().mul(1 - beta2);
        return [m, v];
      });
      tf.tidy(() => {
        const update = m.div(bc1).div(v.div(bc2).sqrt().add(eps));
        const decayed = isDecayed(n) && weightDecay > 0 ? p.mul(1 - lr * weightDecay) : p;
        p.assign(decayed.sub(update.mul(lr)));
      });
      this.m[n]?.dispose();
      this.v[n]?.dispose();
      this.m[n] = m;
      this.v[n] = v;
      g0.dispose();
    }
    return norm;
  }

  dispose(): void {
    for (const t of [...Object.values(this.m), ...Object.values(this.v)]) t.dispose();
  }
}

/** Linear warm-up then cosine decay to minLr (nanoGPT's schedule). */
export function cosineLr(step: number, o: { lr: number; minLr: number; warmup: number; total: number }): number {
  if (step < o.warmup) return (o.lr * (step + 1)) / o.warmup;
  if (step >= o.total) return o.minLr;
  const ratio = (step - o.warmup) / Math.max(1, o.total - o.warmup);
  return o.minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (o.lr - o.minLr);
}

/** One-cycle (fastai, as the thesis used): 25 % rise from lr/25 to lr, then cosine down to lr/1e4. */
export function oneCycleLr(step: number, o: { lr: number; total: number; pctStart?: number }): number {
  const pct = o.pctStart ?? 0.25;
  const up = Math.max(1, Math.floor(o.total * pct));
  const cos = (a: number, b: number, t: number) => b + ((a - b) / 2) * (1 + Math.cos(Math.PI * t));
  if (step < up) return cos(o.lr / 25, o.lr, step / up);
  return cos(o.lr, o.lr / 1e4, Math.min(1, (step - up) / Math.max(1, o.total - up)));
}
