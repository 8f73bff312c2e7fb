/**
 * The native matrix product (native/gemm/gemm.cc), when it was built and the CPU has AVX2 + FMA.
 *
 * It multiplies float32 matrices that live in the wasm backend's heap, in place (the heap is handed over
 * as a Float32Array: no copies), ~4x faster than tfjs' XNNPACK products compiled to wasm SIMD. Built by
 * `npm ci` (scripts/build-native.mjs); without it Maestro runs exactly as before, only slower.
 * `MAESTRO_NATIVE_GEMM=0` turns it off (benchmarks use that to measure the difference).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface NativeGemm {
  /**
   * C = op(A) · op(B) for `batch` products; offsets and batch strides count floats from the start of
   * `heap`, a batch stride of 0 reuses one operand for every product. C is contiguous m × n per product.
   */
  gemm(heap: Float32Array, aOffset: number, bOffset: number, cOffset: number, batch: number, m: number, n: number, k: number,
    transA: boolean, transB: boolean, aBatchStride: number, bBatchStride: number): void;
  supported: boolean;
}

const ADDON = fileURLToPath(new URL('../../native/gemm/build/gemm.node', import.meta.url));

let loaded: NativeGemm | null | undefined;
let status = 'not loaded yet';

/** The addon, or null (not built, CPU without AVX2/FMA, or turned off), with the reason in `nativeGemmStatus`. */
export function nativeGemm(): NativeGemm | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.env.MAESTRO_NATIVE_GEMM === '0') status = 'off (MAESTRO_NATIVE_GEMM=0)';
  else if (!existsSync(ADDON)) status = 'not built (npm ci builds it; needs a C++ compiler)';
  else {
    try {
      const addon = createRequire(import.meta.url)(ADDON) as NativeGemm;
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

/** One line for logs: which matrix product the wasm backend uses. */
export function nativeGemmStatus(): string {
  nativeGemm();
  return status;
}
