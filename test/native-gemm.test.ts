import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { nativeGemm, nativeGemmStatus } from '../src/model/native-gemm.js';
import { initBackend } from '../src/model/backend.js';
import { Rng } from '../src/util/rng.js';

const native = nativeGemm();
if (!native) console.warn(`native-gemm.test: native matrix product ${nativeGemmStatus()}; its tests are skipped`);

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

describe.skipIf(!native)('native matrix product (native/gemm)', () => {
  beforeAll(async () => {
    process.env.MAESTRO_QUIET = '1';
    await initBackend();
  });

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
    expect(nativeGemmStatus()).toMatch(/^native/);
    tf.dispose([a, b, bt]);
  });
});
