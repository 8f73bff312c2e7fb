/**
 * The network: a GIGA-Piano-style GPT with Music-Transformer relative attention, in TensorFlow.js.
 * Read it like nanoGPT's model.py: parameters, one transformer block, the full forward pass used for
 * training and scoring, and the one-token step with a key/value cache used for sampling.
 *
 *   tokens → one-hot·Wte + Wpe → N × [x + Attn(LN(x)), x + MLP(LN(x))] → LN → ·Whead → logits
 *
 * Relative attention (Shaw et al. 2018, with Huang et al.'s "skewing" from Music Transformer): each layer
 * learns a table Er (maxRelDist × headDim, shared by its heads). Row maxRelDist-1-r embeds "r steps back".
 * The logit of query i for key j is (q_i·k_j + q_i·Er[maxRelDist-1-(i-j)]) / √headDim, masked for j > i.
 *
 * Shape notation: B batch, T time, C = nEmbd, H heads, D = C/H head size, V vocab.
 * Embedding lookups are one-hot matmuls (V = 128): on the wasm backend they stay on XNNPACK and need no
 * Gather gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { type ModelConfig, validateConfig } from './config.js';
import { ATTEND_ONE, FUSED_DROPOUT, FUSED_GELU, FUSED_GELU_GRAD, type AttendOneAttrs } from './wasm-kernels.js';

export type Weights = Record<string, tf.Variable>;

/**
 * Per-layer attention keys/values of everything seen so far, [B·H, rows, D], in two parts: `k, v` (settled) and
 * `recent` (the last few steps' rows, fewer than RECENT_ROWS). A step appends its row to the short recent part and
 * only every RECENT_ROWS steps merges it into the settled one: copying the whole cache at every step (tfjs tensors
 * are immutable) was a sixth of a sampling step's time.
 */
export interface KVCache {
  layers: { k: tf.Tensor3D; v: tf.Tensor3D; recent?: { k: tf.Tensor3D; v: tf.Tensor3D } }[];
  /** Number of positions in the cache (the next token's absolute position). */
  length: number;
  batch: number;
}

/** Recent rows a cache layer holds before they are merged into its settled rows. */
export const RECENT_ROWS = 32;

/** Frees every tensor of a cache. */
export function disposeCache(cache: KVCache): void {
  for (const l of cache.layers) for (const t of [l.k, l.v, l.recent?.k, l.recent?.v]) if (t && !t.isDisposed) t.dispose();
}

export class GPT {
  readonly config: ModelConfig;
  readonly weights: Weights;
  private readonly headDim: number;

  constructor(config: ModelConfig, weights?: Weights, seed = 1337) {
    this.config = validateConfig(config);
    this.headDim = config.nEmbd / config.nHead;
    this.weights = weights ?? initWeights(config, seed);
    const expected = Object.keys(initShapes(config));
    const missing = expected.filter((n) => !this.weights[n]);
    if (missing.length) throw new Error(`model weights missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ' …' : ''}`);
    // Weights the config has no place for mean the config and the weights are of two different models.
    const unused = Object.keys(this.weights).filter((n) => !expected.includes(n));
    if (unused.length) throw new Error(`the weights hold tensors this config does not use (${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ' …' : ''}): config and weights are of different models`);
    for (const [name, shape] of Object.entries(initShapes(config))) {
      const got = this.weights[name].shape;
      if (got.join() !== shape.join()) throw new Error(`weight ${name} has shape [${got}], config wants [${shape}]`);
    }
  }

  /** Trainable variables in a stable order. */
  variables(): tf.Variable[] {
    return Object.keys(this.weights).sort().map((k) => this.weights[k]);
  }

  dispose(): void {
    for (const v of Object.values(this.weights)) v.dispose();
  }

  /**
   * Full forward pass over tokens [B, T] (T ≤ blockSize), positions 0..T-1.
   * Returns logits [B·T, V]. (prefill() runs the same pass and also keeps each layer's keys and values.)
   */
  forward(tokens: tf.Tensor2D, opts: { training?: boolean; dropoutSeed?: number } = {}): tf.Tensor2D {
    return this.run(tokens, opts.training ?? false, opts.dropoutSeed).logits;
  }

  /**
   * The inference pass that also returns the final layer-normed state [B·T, C] the logits are read from (a style
   * memory's gate reads it: memory-mix.ts `MemoryGate.hidden`).
   */
  forwardWithHidden(tokens: tf.Tensor2D): { logits: tf.Tensor2D; hidden: tf.Tensor2D } {
    const out = this.run(tokens, false, undefined, false, true);
    return { logits: out.logits, hidden: out.hidden! };
  }

  /**
   * Process a prompt [B, T] in one pass and return the last position's logits [B, V] and a KV cache; with `every`,
   * also every position's logits [B·T, V] (what the pass computed anyway); with `hidden`, the last position's final
   * state [B, C] (`forwardWithHidden`).
   */
  prefill(tokens: tf.Tensor2D, opts: { every?: boolean; hidden?: boolean } = {}): { logits: tf.Tensor2D; cache: KVCache; all?: tf.Tensor2D; hidden?: tf.Tensor2D } {
    const [B, T] = tokens.shape;
    const out = this.run(tokens, false, undefined, true, opts.hidden);
    const last = (x: tf.Tensor2D) => tf.tidy(() => x.reshape([B, T, -1]).slice([0, T - 1, 0], [B, 1, -1]).reshape([B, -1]) as tf.Tensor2D);
    const logits = last(out.logits);
    if (!opts.every) out.logits.dispose();
    const hidden = out.hidden && last(out.hidden);
    out.hidden?.dispose();
    return { logits, cache: { layers: out.kv!, length: T, batch: B }, ...(opts.every ? { all: out.logits } : {}), ...(hidden ? { hidden } : {}) };
  }

  /**
   * Append one token per sequence [B] at position cache.length; returns logits [B, V] and the grown cache
   * (the old cache's tensors are disposed or taken over by the new one: use only the returned cache). Only the new query's relative logits are computed:
   * for keys 0..t they are q·Er[M-1-t .. M-1]ᵀ, already aligned with the keys, so no skewing is needed. With `hidden`,
   * also the final state [B, C] the logits are read from.
   */
  step(tokens: tf.Tensor1D, cache: KVCache, hidden = false): { logits: tf.Tensor2D; cache: KVCache; hidden?: tf.Tensor2D } {
    const { nHead: H, nEmbd: C, maxRelDist: M, blockSize } = this.config;
    const D = this.headDim;
    const B = tokens.shape[0];
    const t = cache.length;
    if (t >= blockSize) throw new Error(`context full (${t} ≥ blockSize ${blockSize}): re-prefill a shorter window`);
    const w = this.weights;
    const newLayers: KVCache['layers'] = [];
    let state: tf.Tensor2D | undefined;
    const logits = tf.tidy(() => {
      let x = embed(w, tokens.reshape([B, 1]) as tf.Tensor2D, t, this.config).reshape([B, C]) as tf.Tensor2D;
      for (let l = 0; l < this.config.nLayer; l++) {
        const p = `h${l}.`;
        const layer = cache.layers[l];
        const h = layerNorm(x, w[p + 'ln1.g'], w[p + 'ln1.b']);
        const q = linear(h, w, p + 'attn.q').reshape([B * H, 1, D]) as tf.Tensor3D;
        const k = linear(h, w, p + 'attn.k').reshape([B * H, 1, D]) as tf.Tensor3D;
        const v = linear(h, w, p + 'attn.v').reshape([B * H, 1, D]) as tf.Tensor3D;
        const recentK = layer.recent ? (tf.concat([layer.recent.k, k], 1) as tf.Tensor3D) : k;
        const recentV = layer.recent ? (tf.concat([layer.recent.v, v], 1) as tf.Tensor3D) : v;
        // Er rows M-1-t .. M-1 are aligned with keys 0..t.
        const y = attendOne(q, [layer.k, recentK], [layer.v, recentV], w[p + 'attn.er'], M - 1 - t, 1 / Math.sqrt(D)).reshape([B, C]) as tf.Tensor2D; // [BH, D] → [B, C]
        if (recentK.shape[1] >= RECENT_ROWS) newLayers.push({ k: tf.keep(tf.concat([layer.k, recentK], 1)), v: tf.keep(tf.concat([layer.v, recentV], 1)) });
        else newLayers.push({ k: layer.k, v: layer.v, recent: { k: tf.keep(recentK), v: tf.keep(recentV) } });
        x = x.add(linear(y, w, p + 'attn.o'));
        x = x.add(mlp(layerNorm(x, w[p + 'ln2.g'], w[p + 'ln2.b']), w, p));
      }
      const final = layerNorm(x, w['lnf.g'], w['lnf.b']) as tf.Tensor2D;
      if (hidden) state = tf.keep(final);
      return tf.matMul(final, w['head.w']) as tf.Tensor2D;
    });
    // The old cache's tensors that the new one does not share.
    cache.layers.forEach((old, l) => {
      for (const t of [old.k, old.v, old.recent?.k, old.recent?.v]) if (t && t !== newLayers[l].k && t !== newLayers[l].v) t.dispose();
    });
    return { logits, cache: { layers: newLayers, length: t + 1, batch: B }, ...(state ? { hidden: state } : {}) };
  }

  private run(tokens: tf.Tensor2D, training: boolean, dropoutSeed?: number, keepKV = false, keepHidden = false): { logits: tf.Tensor2D; kv?: KVCache['layers']; hidden?: tf.Tensor2D } {
    const { nHead: H, nEmbd: C, maxRelDist: M, blockSize } = this.config;
    const D = this.headDim;
    const [B, T] = tokens.shape;
    if (T > blockSize) throw new Error(`sequence of ${T} tokens is longer than the model's block size ${blockSize}`);
    const w = this.weights;
    const drop = (x: tf.Tensor, salt: number): tf.Tensor =>
      training && this.config.dropout > 0 ? dropout(x, this.config.dropout, dropoutSeed === undefined ? undefined : dropoutSeed * 1009 + salt) : x;
    const kv: KVCache['layers'] = [];
    const block = (x: tf.Tensor2D, l: number, mask: tf.Tensor2D): tf.Tensor2D => {
      const p = `h${l}.`;
      const h = layerNorm(x, w[p + 'ln1.g'], w[p + 'ln1.b']);
      const heads = (name: string) => linear(h, w, p + name).reshape([B, T, H, D]).transpose([0, 2, 1, 3]).reshape([B * H, T, D]) as tf.Tensor3D;
      const q = heads('attn.q');
      const k = heads('attn.k');
      const v = heads('attn.v');
      if (keepKV) kv.push({ k: tf.keep(k), v: tf.keep(v) });
      const content = tf.matMul(q, k, false, true); // [BH, T, T]
      const er = w[p + 'attn.er'].slice([M - T, 0], [T, D]); // distances T-1 … 0 back
      const relRaw = tf.matMul(q.reshape([B * H * T, D]), er, false, true).reshape([B * H, T, T]) as tf.Tensor3D;
      const att = drop(tf.softmax(content.add(skew(relRaw)).mul(1 / Math.sqrt(D)).add(mask)), 100 + l);
      const y = tf.matMul(att, v).reshape([B, H, T, D]).transpose([0, 2, 1, 3]).reshape([B * T, C]) as tf.Tensor2D;
      const x1 = x.add(drop(linear(y, w, p + 'attn.o'), 200 + l)) as tf.Tensor2D;
      return x1.add(drop(mlp(layerNorm(x1, w[p + 'ln2.g'], w[p + 'ln2.b']), w, p), 300 + l)) as tf.Tensor2D;
    };
    let hidden: tf.Tensor2D | undefined;
    const logits = tf.tidy(() => {
      const mask = causalMask(T);
      let x = drop(embed(w, tokens, 0, this.config), 0).reshape([B * T, C]) as tf.Tensor2D;
      for (let l = 0; l < this.config.nLayer; l++) {
        if (training) x = block(x, l, mask);
        else {
          // Inference: free each block's intermediates at once (a 103 M model's attention maps for a
          // long prompt would otherwise overflow the 4 GB wasm heap).
          const prev = x;
          x = tf.tidy(() => block(prev, l, mask));
          prev.dispose();
        }
      }
      const final = layerNorm(x, w['lnf.g'], w['lnf.b']) as tf.Tensor2D;
      if (keepHidden) hidden = tf.keep(final);
      return tf.matMul(final, w['head.w']) as tf.Tensor2D;
    });
    return { logits, kv: keepKV ? kv : undefined, ...(hidden ? { hidden } : {}) };
  }
}

/** Mean cross-entropy (nats) and accuracy of logits [N, V] against integer targets [N]. */
export function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    return tf.oneHot(targets, logits.shape[1]).mul(logp).sum().neg().div(targets.shape[0]) as tf.Scalar;
  });
}

// --- building blocks --------------------------------------------------------------------------------------

function embed(w: Weights, tokens: tf.Tensor2D, pos0: number, c: ModelConfig): tf.Tensor3D {
  const [B, T] = tokens.shape;
  const tok = tf.matMul(tf.oneHot(tokens.reshape([B * T]).cast('int32'), c.vocabSize).cast('float32'), w['wte']);
  const pos = w['wpe'].slice([pos0, 0], [T, c.nEmbd]);
  return tok.reshape([B, T, c.nEmbd]).add(pos) as tf.Tensor3D;
}

function linear(x: tf.Tensor2D, w: Weights, name: string): tf.Tensor2D {
  return tf.matMul(x, w[name + '.w']).add(w[name + '.b']) as tf.Tensor2D;
}

/**
 * One query per head [BH, 1, D] over its cache k, v [BH, T, D] — given in parts along T (`ks`, `vs`) — with relative
 * embeddings er[erRow .. erRow+T) aligned with the keys: softmax(scale·q·(k_j + er_j)) · v, [BH, D]. The native
 * kernel does it in one pass per head, reading the parts where they are; the tfjs ops fallback uses
 * q·k_j + q·Er_j = q·(k_j + Er_j), elementwise (a t-wide matmul per token would build and pack a new XNNPACK
 * operator every time).
 */
export function attendOne(q: tf.Tensor3D, ks: tf.Tensor3D[], vs: tf.Tensor3D[], er: tf.Tensor, erRow: number, scale: number): tf.Tensor2D {
  if (ks.length === 2 && tf.getKernel(ATTEND_ONE, tf.getBackend())) {
    const attrs: AttendOneAttrs = { erRow, scale };
    return tf.engine().runKernel(ATTEND_ONE, { q, k0: ks[0], v0: vs[0], k1: ks[1], v1: vs[1], er }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor2D;
  }
  return tf.tidy(() => {
    const k = ks.length === 1 ? ks[0] : tf.concat(ks, 1);
    const v = vs.length === 1 ? vs[0] : tf.concat(vs, 1);
    const [BH, T, D] = k.shape;
    const scores = q.mul(k.add(er.slice([erRow, 0], [T, D]))).sum(-1); // [BH, T]
    const att = tf.softmax(scores.mul(scale));
    return att.reshape([BH, T, 1]).mul(v).sum(1) as tf.Tensor2D;
  });
}

function mlp(x: tf.Tensor2D, w: Weights, p: string): tf.Tensor2D {
  return linear(gelu(linear(x, w, p + 'mlp.fc')), w, p + 'mlp.proj');
}

/**
 * GELU, tanh approximation. Where the backend has the fused kernel (wasm with Maestro's native kernels)
 * it is one pass each way; otherwise it is composed of tfjs ops, x·x·x rather than pow (wasm's Pow is scalar).
 */
function gelu(x: tf.Tensor2D): tf.Tensor2D {
  if (tf.getKernel(FUSED_GELU, tf.getBackend())) return fusedGelu(x) as tf.Tensor2D;
  const inner = x.add(x.mul(x).mul(x).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
  return x.mul(0.5).mul(tf.tanh(inner).add(1)) as tf.Tensor2D;
}

const fusedGelu = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  save([x]);
  return {
    value: tf.engine().runKernel(FUSED_GELU, { x }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, [input]: tf.Tensor[]) => tf.engine().runKernel(FUSED_GELU_GRAD, { x: input, dy }) as tf.Tensor,
  };
});

/**
 * Inverted dropout. With the fused kernel (wasm with Maestro's native kernels) the mask is hashed from
 * (seed, index) natively, forward and backward, and never stored; otherwise tfjs' dropout, which draws
 * it in JavaScript. Without a seed the mask is random.
 */
export function dropout(x: tf.Tensor, rate: number, seed?: number): tf.Tensor {
  if (!tf.getKernel(FUSED_DROPOUT, tf.getBackend())) return tf.dropout(x, rate, undefined, seed);
  const attrs = { rate, seed: seed ?? Math.floor(Math.random() * 2 ** 32) };
  const masked = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    return {
      value: tf.engine().runKernel(FUSED_DROPOUT, { x: input }, attrs as never) as tf.Tensor,
      gradFunc: (dy: tf.Tensor) => tf.engine().runKernel(FUSED_DROPOUT, { x: dy }, attrs as never) as tf.Tensor,
    };
  });
  return masked(x);
}

function layerNorm(x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const mean = x.mean(-1, true);
  const centred = x.sub(mean);
  const variance = centred.mul(centred).mean(-1, true);
  return centred.mul(tf.rsqrt(variance.add(1e-5))).mul(g).add(b) as tf.Tensor2D;
}

/**
 * Music Transformer skewing: relRaw[.., i, l] holds q_i·Er-row for distance (T-1-l) back. Padding one
 * column on the left, viewing as [T+1, T] and dropping the first row moves it to out[.., i, j] with
 * distance i-j, for every j ≤ i (entries above the diagonal are masked anyway).
 */
function skew(relRaw: tf.Tensor3D): tf.Tensor3D {
  const [N, T] = relRaw.shape;
  return relRaw.pad([[0, 0], [0, 0], [1, 0]]).reshape([N, T + 1, T]).slice([0, 1, 0], [N, T, T]) as tf.Tensor3D;
}

function causalMask(T: number): tf.Tensor2D {
  return tf.tidy(() => tf.linalg.bandPart(tf.ones([T, T]), -1, 0).sub(1).mul(1e9) as tf.Tensor2D);
}

// --- parameters ---------------------------------------------------------------------------------------

export function initShapes(c: ModelConfig): Record<string, number[]> {
  const C = c.nEmbd;
  const shapes: Record<string, number[]> = {
    wte: [c.vocabSize, C],
    wpe: [c.blockSize, C],
    'lnf.g': [C],
    'lnf.b': [C],
    'head.w': [C, c.vocabSize],
  };
  for (let l = 0; l < c.nLayer; l++) {
    const p = `h${l}.`;
    Object.assign(shapes, {
      [p + 'ln1.g']: [C], [p + 'ln1.b']: [C], [p + 'ln2.g']: [C], [p + 'ln2.b']: [C],
      [p + 'attn.q.w']: [C, C], [p + 'attn.q.b']: [C],
      [p + 'attn.k.w']: [C, C], [p + 'attn.k.b']: [C],
      [p + 'attn.v.w']: [C, C], [p + 'attn.v.b']: [C],
      [p + 'attn.o.w']: [C, C], [p + 'attn.o.b']: [C],
      [p + 'attn.er']: [c.maxRelDist, C / c.nHead],
      [p + 'mlp.fc.w']: [C, c.mlpDim], [p + 'mlp.fc.b']: [c.mlpDim],
      [p + 'mlp.proj.w']: [c.mlpDim, C], [p + 'mlp.proj.b']: [C],
    });
  }
  return shapes;
}

/** GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/√(2·nLayer), LayerNorm 1/0. */
let modelCount = 0;

/** Wrap tensors as trainable variables (taking ownership). tfjs variable names are process-global, so
 * each model gets its own prefix and several models can live side by side. */
export function toVariables(tensors: Record<string, tf.Tensor>): Weights {
  const prefix = `m${++modelCount}/`;
  const weights: Weights = {};
  for (const [name, t] of Object.entries(tensors)) {
    weights[name] = tf.variable(t, true, prefix + name);
    t.dispose();
  }
  return weights;
}

function initWeights(c: ModelConfig, seed: number): Weights {
  const tensors: Record<string, tf.Tensor> = {};
  let s = seed;
  for (const [name, shape] of Object.entries(initShapes(c))) {
    tensors[name] = tf.tidy(() => {
      if (name.endsWith('.g')) return tf.ones(shape);
      if (name.endsWith('.b')) return tf.zeros(shape);
      const std = name.endsWith('attn.o.w') || name.endsWith('mlp.proj.w') ? 0.02 / Math.sqrt(2 * c.nLayer) : 0.02;
      return tf.truncatedNormal(shape, 0, std, 'float32', s++);
    });
  }
  return toVariables(tensors);
}
