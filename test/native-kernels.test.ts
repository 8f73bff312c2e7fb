import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { nativeKernels, nativeKernelsStatus } from '../src/model/native-kernels.js';
import { ATTEND_ONE, FUSED_ADAMW, FUSED_DROPOUT, FUSED_GELU, FUSED_GELU_GRAD, SUM_SQUARES } from '../src/model/wasm-kernels.js';
import { AdamW, DEFAULT_ADAMW } from '../training/optim.js';
import { GPT, crossEntropy, disposeCache, dropout } from '../src/model/gpt.js';
import { MAESTRO_SMALL } from '../src/model/config.js';
import { initBackend } from '../src/model/backend.js';
import { Rng } from '../src/util/rng.js';

const native = nativeKernels();
if (!native) console.warn(`native-kernels.test: native kernels ${nativeKernelsStatus()}; their tests are skipped`);

// Every group below runs on the wasm backend with Maestro's kernels installed.
beforeAll(async () => {
  process.env.MAESTRO_QUIET = '1';
  await initBackend();
});

/** op(A)·op(B) in float64, the obvious way. */
function reference(a: Float32Array, b: Float32Array, m: number, n: number, k: number, ta: boolean, tb: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = s;
    }
  }
  return c;
}

describe.skipIf(!native)('native matrix product (native/kernels/gemm.cc)', () => {
  it('equals the reference for every transpose, edge tiles and blocks over k, at heap offsets, batched and broadcast', () => {
    const rng = new Rng(5);
    // Sizes straddle the 6 × 16 register tile, the 96-row and 256-deep blocks.
    for (const [m, n, k] of [[1, 1, 1], [7, 17, 5], [6, 16, 256], [13, 33, 300], [100, 50, 513], [97, 35, 3]]) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const batch = 3;
          const aOff = 5, bOff = aOff + batch * m * k + 3, cOff = bOff + k * n + 1; // B broadcast: one matrix
          const heap = new Float32Array(cOff + batch * m * n + 7);
          for (let i = 0; i < heap.length; i++) heap[i] = rng.next() - 0.5;
          const guard = heap[heap.length - 1];
          native!.gemm(heap, aOff, bOff, cOff, batch, m, n, k, ta, tb, m * k, 0);
          for (let b = 0; b < batch; b++) {
            const want = reference(heap.subarray(aOff + b * m * k), heap.subarray(bOff), m, n, k, ta, tb);
            for (let i = 0; i < m * n; i++) expect(Math.abs(heap[cOff + b * m * n + i] - want[i])).toBeLessThan(1e-5 * (1 + Math.abs(want[i])) * Math.sqrt(k));
          }
          expect(heap[heap.length - 1]).toBe(guard); // nothing written past C
        }
      }
    }
  });

  it('refuses operands outside the heap instead of reading past it', () => {
    const heap = new Float32Array(100);
    expect(() => native!.gemm(heap, 0, 0, 90, 1, 4, 4, 4, false, false, 0, 0)).toThrow(/outside the heap/);
    expect(() => native!.gemm(heap, 0, 0, 0, 2, 8, 8, 1, false, false, 8, 80)).toThrow(/outside the heap/);
  });

  it('serves tf.matMul on the wasm backend (batched, transposed)', () => {
    const a = tf.randomNormal([4, 40, 24], 0, 1, 'float32', 1);
    const b = tf.randomNormal([4, 24, 30], 0, 1, 'float32', 2);
    const bt = b.transpose([0, 2, 1]);
    const got = tf.matMul(a, bt, false, true).arraySync() as number[][][];
    // The same product by hand.
    const [A, B] = [a.arraySync() as number[][][], b.arraySync() as number[][][]];
    for (let z = 0; z < 4; z++) {
      for (let i = 0; i < 40; i++) {
        for (let j = 0; j < 30; j++) {
          let s = 0;
          for (let p = 0; p < 24; p++) s += A[z][i][p] * B[z][p][j];
          expect(Math.abs(got[z][i][j] - s)).toBeLessThan(1e-4);
        }
      }
    }
    expect(nativeKernelsStatus()).toMatch(/^native/);
    tf.dispose([a, b, bt]);
  });
});

/** GELU (tanh approximation) and its derivative in float64. */
function geluReference(x: number): { y: number; slope: number } {
  const c = Math.sqrt(2 / Math.PI), a = 0.044715;
  const t = Math.tanh(c * (x + a * x ** 3));
  return { y: 0.5 * x * (1 + t), slope: 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * a * x * x) };
}

describe.skipIf(!native)('native GELU (native/kernels/gelu.cc)', () => {
  // Values across the whole range: the tanh's clamp (±7.9), its tiny-|x| branch, ±0, large inputs.
  const special = [0, -0, 1e-5, -3e-4, 5e-4, 0.5, -0.5, 1, -1, 2.5, -2.5, 3.9, -3.9, 7.9, -7.9, 8, -8, 30, -30, 1e4, -1e4];

  it('equals the float64 formula forward and backward, for every length (vector body and tail), at heap offsets', () => {
    const rng = new Rng(8);
    for (const n of [1, 7, 8, 9, 21, 1003]) {
      const xOff = 3, dyOff = xOff + n + 1, outOff = dyOff + n + 2;
      const heap = new Float32Array(outOff + n + 5);
      for (let i = 0; i < heap.length; i++) heap[i] = (rng.next() - 0.5) * 12;
      for (let i = 0; i < Math.min(n, special.length); i++) heap[xOff + i] = special[i];
      const guard = heap[heap.length - 1];
      const x = heap.slice(xOff, xOff + n), dy = heap.slice(dyOff, dyOff + n);
      native!.gelu(heap, xOff, outOff, n);
      for (let i = 0; i < n; i++) expect(Math.abs(heap[outOff + i] - geluReference(x[i]).y)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(x[i])));
      native!.geluGrad(heap, xOff, dyOff, outOff, n);
      for (let i = 0; i < n; i++) expect(Math.abs(heap[outOff + i] - dy[i] * geluReference(x[i]).slope)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(dy[i])));
      expect(heap[heap.length - 1]).toBe(guard); // nothing written past the output
      expect(Array.from(heap.subarray(xOff, xOff + n))).toEqual(Array.from(x)); // inputs untouched
    }
  });

  it('passes NaN on (a diverging run must show it) and refuses operands outside the heap', () => {
    const heap = new Float32Array([NaN, 1, 0, 0]);
    native!.gelu(heap, 0, 2, 2);
    expect(heap[2]).toBeNaN();
    expect(heap[3]).toBeCloseTo(0.8412, 4);
    expect(() => native!.gelu(heap, 0, 3, 2)).toThrow(/outside the heap/);
    expect(() => native!.geluGrad(heap, 0, 1, 2, 3)).toThrow(/outside the heap/);
    expect(() => native!.gelu(heap, -1, 0, 1)).toThrow(/outside the heap/);
  });

  it('gives the model the same loss and gradients as GELU composed of tfjs ops', () => {
    const config = { ...MAESTRO_SMALL, nLayer: 2, nHead: 2, nEmbd: 64, mlpDim: 128, blockSize: 32, maxRelDist: 32, dropout: 0 };
    const model = new GPT(config, undefined, 3);
    const x = tf.randomUniform([2, 24], 0, 128, 'int32', 4) as tf.Tensor2D;
    const y = tf.randomUniform([48], 0, 128, 'int32', 5) as tf.Tensor1D;
    const lossAndGrads = () => {
      const { value, grads } = tf.variableGrads(() => crossEntropy(model.forward(x), y), model.variables());
      const out = { loss: value.dataSync()[0], grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync().slice()])) };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const fused = lossAndGrads();
    const kernels = [tf.getKernel(FUSED_GELU, 'wasm')!, tf.getKernel(FUSED_GELU_GRAD, 'wasm')!];
    expect(kernels.every(Boolean)).toBe(true);
    kernels.forEach((k) => tf.unregisterKernel(k.kernelName, 'wasm'));
    let composed: typeof fused;
    try {
      composed = lossAndGrads();
    } finally {
      kernels.forEach((k) => tf.registerKernel(k));
    }
    expect(Math.abs(fused.loss - composed.loss)).toBeLessThan(1e-5);
    for (const [name, g] of Object.entries(composed.grads)) {
      const f = fused.grads[name];
      const scale = Math.max(...Array.from(g, Math.abs), 1e-6);
      for (let i = 0; i < g.length; i++) expect(Math.abs(f[i] - g[i])).toBeLessThanOrEqual(1e-4 * scale);
    }
    tf.dispose([x, y]);
    model.dispose();
  });
});

/** Runs `f` with the given kernels unregistered from the wasm backend (so callers take the tfjs-ops path). */
function withoutKernels<T>(names: string[], f: () => T): T {
  const kernels = names.map((n) => tf.getKernel(n, 'wasm')!);
  expect(kernels.every(Boolean)).toBe(true);
  kernels.forEach((k) => tf.unregisterKernel(k.kernelName, 'wasm'));
  try {
    return f();
  } finally {
    kernels.forEach((k) => tf.registerKernel(k));
  }
}

describe.skipIf(!native)('native optimizer kernels (native/kernels/optim.cc)', () => {
  it('AdamW: the fused update equals the one composed of tfjs ops, with clipping, decay and a gradient scale', () => {
    // Odd sizes (vector body and tail); 'a.w' and 'wte' are decayed, 'a.b' is not.
    const shapes: Record<string, number[]> = { 'a.w': [37, 5], 'a.b': [13], wte: [8, 3] };
    const run = () => {
      const vars = Object.fromEntries(Object.entries(shapes).map(([n, shape], i) => [n, tf.variable(tf.randomNormal(shape, 0, 1, 'float32', i + 1))]));
      const opt = new AdamW({ ...DEFAULT_ADAMW, clipNorm: 1 });
      const norms: number[] = [];
      for (let step = 0; step < 4; step++) {
        // Step 0's gradients are large (clipped), the later ones small (not clipped).
        const grads = Object.fromEntries(Object.entries(shapes).map(([n, shape], i) => [n, tf.randomNormal(shape, 0, step === 0 ? 10 : 0.01, 'float32', 100 * step + i + 1)])); // seed 0 would mean unseeded
        norms.push(opt.apply(vars, grads, 0.01, 0.5));
      }
      const read = (r: Record<string, tf.Tensor>) => Object.fromEntries(Object.entries(r).map(([n, t]) => [n, Array.from(t.dataSync())]));
      const out = { norms, p: read(vars), m: read(opt.m), v: read(opt.v) };
      tf.dispose(Object.values(vars));
      opt.dispose();
      return out;
    };
    const fused = run();
    const composed = withoutKernels([FUSED_ADAMW, SUM_SQUARES], run);
    expect(fused.norms[0]).toBeGreaterThan(1); // clipping was exercised
    fused.norms.forEach((n, i) => expect(n).toBeCloseTo(composed.norms[i], 4));
    for (const part of ['p', 'm', 'v'] as const) {
      for (const [name, want] of Object.entries(composed[part])) {
        const got = fused[part][name];
        expect(got.length).toBe(want.length);
        want.forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(w))));
      }
    }
  });

  it('sums of squares and column sums equal hand sums, and refuse operands outside the heap', () => {
    const rng = new Rng(9);
    const heap = new Float32Array(64).map(() => rng.next() - 0.5);
    let sq = 0;
    for (let i = 3; i < 3 + 21; i++) sq += heap[i] * heap[i];
    expect(native!.sumSquares(heap, 3, 21)).toBeCloseTo(sq, 10);
    const x = heap.slice(2, 2 + 5 * 9);
    native!.columnSums(heap, 2, 50, 5, 9);
    for (let c = 0; c < 9; c++) expect(heap[50 + c]).toBeCloseTo(x[c] + x[9 + c] + x[18 + c] + x[27 + c] + x[36 + c], 6);
    expect(() => native!.sumSquares(heap, 60, 5)).toThrow(/outside the heap/);
    expect(() => native!.columnSums(heap, 0, 60, 8, 8)).toThrow(/outside the heap/);
    expect(() => native!.adamw(heap, 0, 8, 16, 24, 32, 40, 60, 8, new Float32Array(8))).toThrow(/outside the heap/);
    expect(() => native!.adamw(heap, 0, 8, 16, 24, 32, 40, 48, 8, new Float32Array(7))).toThrow(TypeError);
  });
});

/** The kernel's mask hash, written again in JavaScript: element i is dropped when this is < rate·2³². */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
function maskHash(i: number, seed: number): number {
  const k0 = seed % 2 ** 32, k1 = Math.floor(seed / 2 ** 32);
  return fmix32((fmix32((Math.imul(i, 0x9e3779b9) + k0) >>> 0) ^ k1) >>> 0);
}

describe.skipIf(!native)('native dropout (native/kernels/dropout.cc)', () => {
  it('drops exactly the elements the hash says, scales the rest, for every length (vector body and tail), at heap offsets', () => {
    const rng = new Rng(11);
    for (const size of [1, 7, 8, 9, 21, 1003]) {
      for (const seed of [0, 12345, 2 ** 40 + 7]) {
        const rate = 0.3;
        const xOff = 3, yOff = xOff + size + 5;
        const heap = new Float32Array(yOff + size + 4).map(() => rng.next() - 0.5);
        const x = heap.slice(xOff, xOff + size);
        const guard = heap.slice(yOff + size);
        native!.dropout(heap, xOff, yOff, size, seed, rate);
        const scale = Math.fround(1 / (1 - rate));
        for (let i = 0; i < size; i++) {
          const dropped = maskHash(i, seed) < rate * 2 ** 32;
          expect(heap[yOff + i]).toBe(dropped ? 0 : Math.fround(x[i] * scale));
        }
        expect(heap.slice(yOff + size)).toEqual(guard); // nothing written past y
      }
    }
  });

  it('drops the rate asked for, the same mask for the same seed and a different one for any other seed', () => {
    const size = 1 << 18;
    const heap = new Float32Array(2 * size).fill(1, 0, size);
    const maskOf = (seed: number, rate: number) => {
      native!.dropout(heap, 0, size, size, seed, rate);
      return heap.slice(size);
    };
    for (const rate of [0.1, 0.5]) {
      const mask = maskOf(99, rate);
      const dropped = mask.reduce((n, v) => n + (v === 0 ? 1 : 0), 0) / size;
      // Binomial standard deviation is ≤ 0.001 here: 5σ.
      expect(Math.abs(dropped - rate)).toBeLessThan(0.005);
      // Neighbours independent: P(both dropped) ≈ rate².
      let both = 0;
      for (let i = 1; i < size; i++) if (mask[i] === 0 && mask[i - 1] === 0) both++;
      expect(Math.abs(both / size - rate * rate)).toBeLessThan(0.005);
    }
    const a = maskOf(99, 0.1);
    const again = maskOf(99, 0.1);
    expect(again.every((v, i) => v === a[i])).toBe(true);
    for (const other of [98, 99 + 2 ** 32, 2 ** 33 + 99]) {
      const b = maskOf(other, 0.1);
      let differ = 0;
      for (let i = 0; i < size; i++) if ((a[i] === 0) !== (b[i] === 0)) differ++;
      expect(differ / size).toBeGreaterThan(0.15); // independent masks differ at 2·0.1·0.9 = 18 %
    }
    expect(Array.from(maskOf(5, 0)).every((v) => v === 1)).toBe(true); // rate 0 keeps everything, unscaled
  });

  it('refuses bad arguments instead of reading past the heap', () => {
    const heap = new Float32Array(16);
    expect(() => native!.dropout(heap, 0, 8, 9, 1, 0.1)).toThrow(/outside the heap/);
    expect(() => native!.dropout(heap, 0, 8, 8, -1, 0.1)).toThrow(RangeError);
    expect(() => native!.dropout(heap, 0, 8, 8, 1.5, 0.1)).toThrow(RangeError);
    expect(() => native!.dropout(heap, 0, 8, 8, 1, 1)).toThrow(RangeError);
  });

  it('is its own gradient in the model: d/dx Σ w·drop(x) = drop(w) with the same seed, and training is seeded', () => {
    expect(tf.getKernel(FUSED_DROPOUT, 'wasm')).toBeTruthy();
    const x = tf.randomNormal([64, 40], 0, 1, 'float32', 1);
    const w = tf.randomNormal([64, 40], 0, 1, 'float32', 2);
    const grad = tf.grad((t: tf.Tensor) => dropout(t, 0.2, 777).mul(w).sum())(x);
    const want = dropout(w, 0.2, 777);
    expect(Array.from(grad.dataSync())).toEqual(Array.from(want.dataSync()));
    const zeros = Array.from(want.dataSync()).filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(0.1 * 64 * 40);
    expect(zeros).toBeLessThan(0.3 * 64 * 40);

    const config = { ...MAESTRO_SMALL, nLayer: 2, nHead: 2, nEmbd: 64, mlpDim: 128, blockSize: 32, maxRelDist: 32, dropout: 0.1 };
    const model = new GPT(config, undefined, 3);
    const tokens = tf.randomUniform([2, 24], 0, 128, 'int32', 4) as tf.Tensor2D;
    const targets = tf.randomUniform([48], 0, 128, 'int32', 5) as tf.Tensor1D;
    const loss = (seed?: number) => tf.tidy(() => crossEntropy(model.forward(tokens, { training: seed !== undefined, dropoutSeed: seed }), targets).dataSync()[0]);
    expect(loss(21)).toBe(loss(21));
    expect(loss(21)).not.toBe(loss(22));
    expect(loss(21)).not.toBe(loss());
    tf.dispose([x, w, grad, want, tokens, targets]);
    model.dispose();
  });
});

describe.skipIf(!native)('native one-query attention (native/kernels/attention.cc)', () => {
  /** softmax(scale·q·(k_j + er_j))·v per head, in float64, the obvious way. */
  function attendReference(q: Float32Array, k: Float32Array, v: Float32Array, er: Float32Array, heads: number, keys: number, dim: number, scale: number): Float64Array {
    const y = new Float64Array(heads * dim);
    for (let h = 0; h < heads; h++) {
      const s = Array.from({ length: keys }, (_, j) => {
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += q[h * dim + d] * (k[(h * keys + j) * dim + d] + er[j * dim + d]);
        return dot * scale;
      });
      const max = Math.max(...s);
      const e = s.map((x) => Math.exp(x - max));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < keys; j++) for (let d = 0; d < dim; d++) y[h * dim + d] += (e[j] / sum) * v[(h * keys + j) * dim + d];
    }
    return y;
  }

  it('equals the reference for keys split in two parts, every head, vector body and tail of dim, at heap offsets', () => {
    const rng = new Rng(8);
    for (const [heads, keys0, keys1, dim] of [[1, 0, 1, 1], [3, 5, 2, 8], [4, 31, 1, 13], [8, 100, 31, 64]]) {
      const keys = keys0 + keys1;
      const rand = (n: number) => Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 4);
      const q = rand(heads * dim), k = rand(heads * keys * dim), v = rand(heads * keys * dim), er = rand(keys * dim);
      // The two parts as the cache holds them: [heads, keys0, dim] and [heads, keys1, dim].
      const part = (x: Float32Array, from: number, n: number) => {
        const out = new Float32Array(heads * n * dim);
        for (let h = 0; h < heads; h++) out.set(x.subarray((h * keys + from) * dim, (h * keys + from + n) * dim), h * n * dim);
        return out;
      };
      const pieces = [q, part(k, 0, keys0), part(v, 0, keys0), part(k, keys0, keys1), part(v, keys0, keys1), er];
      const heap = new Float32Array(7 + pieces.reduce((a, p) => a + p.length, 0) + heads * dim);
      const offsets: number[] = [];
      let at = 7; // not aligned to a vector
      for (const p of pieces) {
        offsets.push(at);
        heap.set(p, at);
        at += p.length;
      }
      const scale = 1 / Math.sqrt(dim);
      native!.attendOne(heap, offsets[0], offsets[1], offsets[2], keys0, offsets[3], offsets[4], keys1, offsets[5], at, heads, dim, scale);
      const want = attendReference(q, k, v, er, heads, keys, dim, scale);
      const got = heap.subarray(at, at + heads * dim);
      const worst = Math.max(...Array.from(got, (x, i) => Math.abs(x - want[i])));
      expect(worst).toBeLessThan(1e-5);
    }
  });

  it('refuses operands outside the heap and a cache without keys', () => {
    const heap = new Float32Array(64);
    expect(() => native!.attendOne(heap, 0, 8, 16, 1, 24, 32, 1, 40, 60, 1, 8, 1)).toThrow(/outside the heap/);
    expect(() => native!.attendOne(heap, 0, 8, 16, 0, 24, 32, 0, 40, 48, 1, 8, 1)).toThrow(RangeError);
    expect(() => native!.attendOne(heap, 0, 8, 16, 1.5, 24, 32, 1, 40, 48, 1, 8, 1)).toThrow(RangeError);
  });

  it('serves GPT.step: cached decoding equals the full forward pass across merges of the recent rows', () => {
    expect(tf.getKernel(ATTEND_ONE, 'wasm')).toBeTruthy();
    const config = { ...MAESTRO_SMALL, nLayer: 2, nHead: 2, nEmbd: 64, mlpDim: 128, blockSize: 96, maxRelDist: 96, dropout: 0 };
    const model = new GPT(config, undefined, 6);
    for (const [name, w] of Object.entries(model.weights)) if (name.endsWith('attn.er')) w.assign(tf.randomNormal(w.shape, 0, 1, 'float32', 9));
    const B = 3, T = 90; // 85 steps after a 5-token prefill: the recent rows are merged twice
    const tokens = tf.randomUniform([B, T], 0, 128, 'int32', 4) as tf.Tensor2D;
    const full = model.forward(tokens).reshape([B, T, 128]);
    let { logits, cache } = model.prefill(tokens.slice([0, 0], [B, 5]) as tf.Tensor2D);
    let worst = 0;
    let merged = 0;
    for (let t = 5; t < T; t++) {
      logits.dispose();
      ({ logits, cache } = model.step(tokens.slice([0, t], [B, 1]).reshape([B]) as tf.Tensor1D, cache));
      if (!cache.layers[0].recent) merged++;
      expect(cache.layers[0].k.shape[1] + (cache.layers[0].recent?.k.shape[1] ?? 0)).toBe(t + 1);
      worst = Math.max(worst, tf.tidy(() => logits.sub(full.slice([0, t, 0], [B, 1, 128]).reshape([B, 128])).abs().max().dataSync()[0]));
    }
    expect(merged).toBe(2);
    expect(worst).toBeLessThan(1e-4);
    const before = tf.memory().numTensors;
    disposeCache(cache);
    expect(tf.memory().numTensors).toBe(before - 4 * config.nLayer + (cache.layers[0].recent ? 0 : 2 * config.nLayer));
    model.dispose();
  });
});
