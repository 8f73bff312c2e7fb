/** Small hand-made streams for the style memory's tests (memory.test.ts, memory-gate.test.ts). */
import { NEAR_CELLS, type MemoryWeights } from '../../src/model/memory-mix.js';
import { SEP } from '../../src/music/tokenizer.js';

/** Tokens of notes given as [dt, dur, pitch], each note "127 dt dur pitch", closed by a separator. */
export function tokens(notes: [number, number, number][]): number[] {
  return [...notes.flatMap(([dt, dur, p]) => [SEP, dt, dur, p]), SEP];
}

/** A deterministic "piece": n notes of a pseudo-random walk, one new chord every `dt` quanta, some two-note chords. */
export function piece(n: number, seed: number, dt = 10): [number, number, number][] {
  const out: [number, number, number][] = [];
  let s = seed;
  let p = 60;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    p = Math.min(100, Math.max(30, p + ((s >> 8) % 9) - 4));
    out.push([dt, 5 + ((s >> 4) % 6), p]);
    if ((s >> 12) % 4 === 0) out.push([0, 5, p - 12]); // a second note of the same chord
  }
  return out;
}

export const ALL = (w: number, near = 0): MemoryWeights => ({
  dt: Array(7).fill(w),
  dur: Array(7).fill(w),
  pitch: Array(7).fill(w),
  near: { dt: Array(NEAR_CELLS).fill(near), dur: Array(NEAR_CELLS).fill(near), pitch: Array(NEAR_CELLS).fill(near) },
});
