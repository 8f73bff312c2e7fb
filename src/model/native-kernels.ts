/**
 * Maestro's native kernels (native/kernels/), when they were built and the CPU has AVX2 + FMA.
 *
 * They work on float32 tensors that live in the wasm backend's heap, in place (the heap is handed over as
 * a Float32Array: no copies): the matrix product, ~4x faster than tfjs' XNNPACK products compiled to wasm
 * SIMD; GELU forward/backward and the AdamW update fused into one pass each; squared norms and column
 * sums; dropout with its mask hashed from (seed, index) instead of drawn in JavaScript; the sampler's one-query attention. Built by `npm ci` (scripts/build-native.mjs);
 * without them Maestro runs exactly as before, only slower. `MAESTRO_NATIVE_KERNELS=0` turns them off
 * (benchmarks use that to measure the difference).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Offsets, strides and sizes count floats from the start of `heap`; operands outside it throw a RangeError. */
export interface NativeKernels {
  /**
   * C = op(A) · op(B) for `batch` products; a batch stride of 0 reuses one operand for every product.
   * C is contiguous m × n per product.
   */
  gemm(heap: Float32Array, aOffset: number, bOffset: number, cOffset: number, batch: number, m: number, n: number, k: number,
    transA: boolean, transB: boolean, aBatchStride: number, bBatchStride: number): void;
  /** y = GELU(x), tanh approximation, for `size` floats. */
  gelu(heap: Float32Array, xOffset: number, yOffset: number, size: number): void;
  /** dx = dy · GELU′(x) for `size` floats. */
  geluGrad(heap: Float32Array, xOffset: number, dyOffset: number, dxOffset: number, size: number): void;
  /**
   * One AdamW step for `size` parameters into new buffers: g is scaled by gradScale, then m' = β1·m + (1−β1)·g,
   * v' = β2·v + (1−β2)·g², p' = p·(1 − lr·decay) − lr·(m'/bc1)/(√(v'/bc2) + eps).
   * `hyper` = [lr, β1, β2, bc1, bc2, eps, decay, gradScale].
   */
  adamw(heap: Float32Array, p: number, g: number, m: number, v: number, pOut: number, mOut: number, vOut: number, size: number, hyper: Float32Array): void;
  /** Σ x² over `size` floats, accumulated in double. */
  sumSquares(heap: Float32Array, xOffset: number, size: number): number;
  /** out[c] = Σ_r x[r, c] for a row-major rows × cols matrix, accumulated in double. */
  columnSums(heap: Float32Array, xOffset: number, outOffset: number, rows: number, cols: number): void;
  /**
   * y = x / (1 − rate) where element i is kept, else 0; kept when a hash of (seed, i) is ≥ rate·2³². The mask
   * is a pure function of (seed, i), so the same call on the upstream gradient is the backward pass.
   * `seed` is a non-negative safe integer.
   */
  dropout(heap: Float32Array, xOffset: number, yOffset: number, size: number, seed: number, rate: number): void;
  /**
   * One query per head over a key/value cache in two parts (settled rows, then recent ones) with relative embeddings:
   * for each head h, s_j = scale·q_h·(k_hj + er_j) over its keys0 + keys1 keys, y_h = Σ_j softmax(s)_j · v_hj.
   * q and y are [heads, dim], k0 and v0 [heads, keys0, dim], k1 and v1 [heads, keys1, dim], er [keys0 + keys1, dim].
   */
  attendOne(heap: Float32Array, qOffset: number, k0Offset: number, v0Offset: number, keys0: number, k1Offset: number, v1Offset: number, keys1: number,
    erOffset: number, yOffset: number, heads: number, dim: number, scale: number): void;
  supported: boolean;
}

const ADDON = fileURLToPath(new URL('../../native/kernels/build/kernels.node', import.meta.url));

let loaded: NativeKernels | null | undefined;
let status = 'not loaded yet';

/** The addon, or null (not built, CPU without AVX2/FMA, or turned off), with the reason in `nativeKernelsStatus`. */
export function nativeKernels(): NativeKernels | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.env.MAESTRO_NATIVE_KERNELS === '0') status = 'off (MAESTRO_NATIVE_KERNELS=0)';
  else if (!existsSync(ADDON)) status = 'not built (npm ci builds them; needs a C++ compiler)';
  else {
    try {
      const addon = createRequire(import.meta.url)(ADDON) as NativeKernels;
      if (addon.supported) {
        loaded = addon;
        status = 'native (AVX2/FMA)';
      } else status = 'unavailable (CPU without AVX2/FMA)';
    } catch (err) {
      status = `failed to load (${(err as Error).message.split('\n')[0]})`;
    }
  }
  return loaded;
}

/** One line for logs: whether the wasm backend runs on the native kernels. */
export function nativeKernelsStatus(): string {
  nativeKernels();
  return status;
}
