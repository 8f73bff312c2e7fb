import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.js';

beforeAll(async () => {
  process.env.MAESTRO_QUIET = '1';
  await initBackend('wasm');
});

/** Sum of a [a, b, c] array over the given axes, by hand. */
function handSum(x: number[][][], axes: number[]): number[] {
  const [A, B, C] = [x.length, x[0].length, x[0][0].length];
  const dims = [A, B, C];
  const kept = [0, 1, 2].filter((d) => !axes.includes(d));
  const out = new Map<string, number>();
  for (let i = 0; i < A; i++) for (let j = 0; j < B; j++) for (let k = 0; k < C; k++) {
    const key = kept.map((d) => [i, j, k][d]).join(',');
    out.set(key, (out.get(key) ?? 0) + x[i][j][k]);
  }
  expect(out.size).toBe(kept.reduce((p, d) => p * dims[d], 1));
  return [...out.values()];
}

describe("Maestro's wasm kernels", () => {
  it('Sum over leading axes (the fast path) and over any others (the stock kernel) give the sums', () => {
    const x = tf.randomNormal([6, 5, 7], 0, 1, 'float32', 3);
    const values = x.arraySync() as number[][][];
    for (const [axis, keepDims, shape] of [
      [0, false, [5, 7]], [[0, 1], false, [7]], [[1, 0], true, [1, 1, 7]], [-3, true, [1, 5, 7]], // leading
      [2, false, [6, 5]], [[0, 2], false, [5]], [[0, 1, 2], false, []], [1, true, [6, 1, 7]], // stock
    ] as [number | number[], boolean, number[]][]) {
      const s = x.sum(axis, keepDims);
      expect(s.shape).toEqual(shape);
      const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (a + 3) % 3);
      const want = handSum(values, axes);
      const got = s.dataSync();
      want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 4));
      s.dispose();
    }
    expect(tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32').sum(0).arraySync()).toEqual([4, 6]);
    x.dispose();
  });
});
