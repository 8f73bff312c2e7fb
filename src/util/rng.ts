/**
 * Small seeded PRNGs. Sampling, batching and dataset splits all take explicit seeds so that the same
 * seed and inputs give the same output, byte for byte.
 */

/** mulberry32: a 32-bit generator returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** mulberry32 behind a small interface; the seed is pre-mixed so nearby seeds start far apart. */
export class Rng {
  readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32((Math.floor(seed) ^ 0x9e3779b9) >>> 0);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Derive an independent seed from a base seed and a counter (e.g. a training step). */
export function mixSeed(seed: number, n: number): number {
  let h = (Math.imul(seed >>> 0, 0x85ebca6b) ^ Math.imul(n >>> 0, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}
