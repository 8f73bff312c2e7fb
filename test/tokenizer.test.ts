import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readMidi } from '../src/music/midi.js';
import type { NoteSequence } from '../src/music/note-sequence.js';
import { gigaTokenizer, makeGigaTokenizer, SEP, stretchTokens, transposeTokens } from '../src/music/tokenizer.js';
import type { TokenField } from '../src/music/tokenizer.js';
import { mulberry32 } from '../src/util/rng.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.MAESTRO_SHARED ?? path.resolve(repoRoot, '../shared');
const prompts = path.join(shared, 'prompts');
const haveShared = existsSync(prompts);
if (!haveShared) console.warn(`tokenizer.test: ${prompts} not found; reference-vector tests skipped`);

const encodeFile = (name: string) => gigaTokenizer.encode(readMidi(readFileSync(path.join(prompts, name))));

describe.skipIf(!haveShared)('reference vectors (thesis / TMIDIX encoder)', () => {
  it('c_major_scale.mid', () => {
    expect(encodeFile('c_major_scale.mid').join(',')).toBe(
      '127,0,13,60,127,26,10,62,127,20,8,64,127,16,6,65,127,14,6,67,127,12,5,69,127,12,5,71,127,10,9,72,127',
    );
  });
  it('fur_elise.mid', () => {
    expect(encodeFile('fur_elise.mid').join(',')).toBe(
      '127,0,23,76,127,26,12,75,127,20,15,76,127,16,33,75,127,14,26,76,127,12,20,71,127,12,14,74,127,10,9,72,' +
        '127,14,21,45,127,2,20,69,127,14,13,52,127,16,5,57,127',
    );
  });
  it('inicio_para_elisa.mid (the thesis Für Elise seed)', () => {
    const tokens = encodeFile('inicio_para_elisa.mid');
    expect(tokens).toHaveLength(213);
    expect(tokens.slice(0, 16).join(',')).toBe('127,0,7,76,127,16,7,75,127,15,7,76,127,16,7,75');
    expect(tokens[212]).toBe(SEP);
  });
});

function randomSequence(rand: () => number, count: number): NoteSequence {
  const notes = [];
  let t = Math.floor(rand() * 5000);
  for (let i = 0; i < count; i++) {
    // Gaps below 126·16 ms so dt is never clamped; some gaps are 0 (chords).
    t += rand() < 0.3 ? 0 : Math.floor(rand() * 2000);
    notes.push({
      pitch: 21 + Math.floor(rand() * 88),
      velocity: 1 + Math.floor(rand() * 127),
      startSec: t / 1000,
      endSec: (t + Math.floor(rand() * 4000)) / 1000,
    });
  }
  return { notes, pedals: [], tempos: [{ timeSec: 0, bpm: 120 }], source: {} };
}

/** What survives the encoding: onsets on the 16 ms grid relative to the first, durations on the 32 ms grid. */
function quantised(seq: NoteSequence): [number, number, number][] {
  const first = Math.min(...seq.notes.map((n) => Math.floor(Math.round(n.startSec * 1000) / 16)));
  return seq.notes
    .map((n) => {
      const startMs = Math.round(n.startSec * 1000);
      const onset = (Math.floor(startMs / 16) - first) * 16;
      const dur = Math.min(126, Math.max(1, Math.floor((Math.round(n.endSec * 1000) - startMs) / 32))) * 32;
      return [onset, onset + dur, n.pitch] as [number, number, number];
    })
    .sort((a, b) => a[0] - b[0] || b[2] - a[2]);
}

const asMs = (seq: NoteSequence) =>
  seq.notes.map((n) => [Math.round(n.startSec * 1000), Math.round(n.endSec * 1000), n.pitch] as [number, number, number]);

describe('gigaTokenizer encode/decode', () => {
  it('decode(encode(x)) is x quantised (random sequences)', () => {
    const rand = mulberry32(1234);
    for (let trial = 0; trial < 200; trial++) {
      const seq = randomSequence(rand, 1 + Math.floor(rand() * 60));
      const tokens = gigaTokenizer.encode(seq);
      expect(tokens.length).toBe(seq.notes.length * 4 + 1);
      expect(asMs(gigaTokenizer.decode(tokens))).toEqual(quantised(seq));
    }
  });

  it('encode(decode(t)) = t for canonical token streams', () => {
    const rand = mulberry32(99);
    for (let trial = 0; trial < 200; trial++) {
      const tokens: number[] = [];
      let previousPitch = 126;
      const count = 1 + Math.floor(rand() * 50);
      for (let i = 0; i < count; i++) {
        // The first note has dt 0; inside a chord (dt 0) pitches must not rise.
        const dt = i === 0 ? 0 : Math.floor(rand() * 127);
        const highest = i > 0 && dt === 0 ? previousPitch : 126;
        const pitch = 1 + Math.floor(rand() * highest);
        tokens.push(SEP, dt, 1 + Math.floor(rand() * 126), pitch);
        previousPitch = pitch;
      }
      tokens.push(SEP);
      expect(gigaTokenizer.encode(gigaTokenizer.decode(tokens))).toEqual(tokens);
    }
  });

  it('clamps dt, duration and pitch', () => {
    const seq: NoteSequence = {
      notes: [
        { pitch: 0, velocity: 80, startSec: 0, endSec: 0.001 },
        { pitch: 127, velocity: 80, startSec: 100, endSec: 200 },
      ],
      pedals: [],
      tempos: [],
      source: {},
    };
    expect(gigaTokenizer.encode(seq)).toEqual([127, 0, 1, 1, 127, 126, 126, 126, 127]);
    expect(gigaTokenizer.encode({ ...seq, notes: [] })).toEqual([127]);
  });

  it('orders by exact onset, simultaneous notes top-down, then quantises (as the reference)', () => {
    const note = (pitch: number, ms: number) => ({ pitch, velocity: 80, startSec: ms / 1000, endSec: (ms + 500) / 1000 });
    const seq: NoteSequence = { notes: [note(67, 17), note(64, 15), note(60, 1), note(48, 40), note(72, 40)], pedals: [], tempos: [], source: {} };
    // 1 ms and 15 ms share cell 0 but keep their played order; 17 ms is cell 1; the exact tie at 40 ms
    // (cell 2) goes top-down. Durations: floor(500 / 32) = 15.
    expect(gigaTokenizer.encode(seq)).toEqual([127, 0, 15, 60, 127, 0, 15, 64, 127, 1, 15, 67, 127, 1, 15, 72, 127, 0, 15, 48, 127]);
  });

  it('simulates velocity (pitch+10 single, pitch+30 chord, capped) or uses a constant', () => {
    const tokens = [127, 0, 10, 60, 127, 5, 10, 72, 127, 0, 10, 48, 127, 5, 10, 120, 127];
    expect(gigaTokenizer.decode(tokens).notes.map((n) => [n.pitch, n.velocity])).toEqual([
      [60, 70],
      [72, 102],
      [48, 78],
      [120, 127],
    ]);
    const constant = makeGigaTokenizer({ velocity: 'constant' }).decode(tokens);
    expect(constant.notes.every((n) => n.velocity === 90)).toBe(true);
  });

  it('never drops the last note, but drops an incomplete triple', () => {
    expect(gigaTokenizer.decode([127, 0, 10, 60, 127, 4, 10, 62]).notes).toHaveLength(2);
    expect(gigaTokenizer.decode([127, 0, 10, 60, 127, 4, 10]).notes).toHaveLength(1);
    expect(gigaTokenizer.decode([]).notes).toHaveLength(0);
    const last = gigaTokenizer.decode([127, 0, 10, 60, 127, 4, 3, 62, 127]).notes[1]!;
    expect([Math.round(last.startSec * 1000), Math.round(last.endSec * 1000)]).toEqual([64, 64 + 96]);
  });
});

describe('gigaTokenizer grammar', () => {
  it('allows every next token of encoded piano music, and nextField tracks fieldAt incrementally', () => {
    const rand = mulberry32(5);
    for (let trial = 0; trial < 50; trial++) {
      const tokens = gigaTokenizer.encode(randomSequence(rand, 1 + Math.floor(rand() * 30)));
      let field: TokenField | undefined;
      let prev: number | undefined;
      for (let i = 0; i < tokens.length; i++) {
        const next = gigaTokenizer.nextField(prev, field);
        expect(next).toBe(gigaTokenizer.fieldAt(tokens.slice(0, i)));
        const range = gigaTokenizer.allowedNext(tokens.slice(0, i));
        expect(range).toEqual(gigaTokenizer.allowedRange(next));
        expect(tokens[i]).toBeGreaterThanOrEqual(range.lo);
        expect(tokens[i]).toBeLessThanOrEqual(range.hi);
        field = next;
        prev = tokens[i];
      }
    }
  });

  it('has the thesis ranges', () => {
    expect(gigaTokenizer.vocabSize).toBe(128);
    expect(gigaTokenizer.fieldAt([])).toBe('sep');
    expect(gigaTokenizer.allowedNext([])).toEqual({ lo: 127, hi: 127 });
    expect(gigaTokenizer.allowedNext([127])).toEqual({ lo: 0, hi: 126 });
    expect(gigaTokenizer.allowedNext([127, 3])).toEqual({ lo: 1, hi: 126 });
    expect(gigaTokenizer.allowedNext([127, 3, 5])).toEqual({ lo: 21, hi: 108 });
    expect(gigaTokenizer.allowedNext([127, 3, 5, 60])).toEqual({ lo: 127, hi: 127 });
  });

  it('decodes any grammar-valid stream (and any garbage) without throwing', () => {
    const rand = mulberry32(77);
    for (let trial = 0; trial < 200; trial++) {
      const tokens: number[] = [];
      let field: TokenField | undefined;
      let prev: number | undefined;
      const length = Math.floor(rand() * 120);
      for (let i = 0; i < length; i++) {
        field = gigaTokenizer.nextField(prev, field);
        const { lo, hi } = gigaTokenizer.allowedRange(field);
        prev = lo + Math.floor(rand() * (hi - lo + 1));
        tokens.push(prev);
      }
      const seq = gigaTokenizer.decode(tokens);
      expect(seq.notes.length).toBe(Math.floor(tokens.length / 4));
      for (const n of seq.notes) expect(n.endSec).toBeGreaterThan(n.startSec);
      const garbage = Array.from({ length }, () => Math.floor(rand() * 300) - 50);
      expect(() => gigaTokenizer.decode(garbage)).not.toThrow();
    }
  });
});

describe('stretchTokens (time-stretch augmentation)', () => {
  // Two notes, a chord of two, then a window cut mid-note.
  const tokens = Uint8Array.from([127, 10, 20, 60, 127, 0, 8, 64, 127, 3, 1, 67, 127, 126, 126, 70, 127]);

  it('at tempo 1 changes nothing; slower moves every dt and duration into its stretched quantum', () => {
    const rand = mulberry32(5);
    expect(Array.from(stretchTokens(tokens, 1, rand))).toEqual(Array.from(tokens));
    for (let trial = 0; trial < 20; trial++) {
      const out = stretchTokens(tokens, 1.5, rand);
      // separators and pitches untouched
      for (const i of [0, 3, 4, 7, 8, 11, 12, 15, 16]) expect(out[i]).toBe(tokens[i]);
      expect(out[5]).toBe(0); // a chord stays a chord
      for (const [i, lo, hi] of [[1, 15, 16], [2, 30, 31], [6, 12, 13], [9, 4, 5], [10, 1, 2]]) {
        expect(out[i]).toBeGreaterThanOrEqual(lo);
        expect(out[i]).toBeLessThanOrEqual(hi);
      }
      expect(out[13]).toBe(126); // clamped to the vocabulary
      expect(out[14]).toBe(126);
    }
    expect(tokens[1]).toBe(10); // the input is left alone
  });

  it('faster never makes a dt 0 nor a duration 0, and reads a window cut mid-note by its phase', () => {
    const rand = mulberry32(9);
    for (let trial = 0; trial < 20; trial++) {
      const out = stretchTokens(tokens, 0.1, rand);
      expect(out[1]).toBeGreaterThanOrEqual(1);
      expect(out[10]).toBeGreaterThanOrEqual(1);
      const cut = stretchTokens(tokens.subarray(2), 1.5, rand); // starts at a duration
      expect(cut[0]).toBeGreaterThanOrEqual(30);
      expect(cut[1]).toBe(60);
    }
  });

  it('a stretch of 5 % moves a quantum only sometimes, up or down, with no bias at tempo 1 ± 5 % alike', () => {
    const rand = mulberry32(3);
    const one = Uint8Array.from([127, 40, 40, 60]);
    let [up, down] = [0, 0];
    for (let trial = 0; trial < 2000; trial++) {
      up += stretchTokens(one, 1.05, rand)[1] - 40;
      down += 40 - stretchTokens(one, 1 / 1.05, rand)[1];
    }
    // (40 + u)·1.05 floors to 42 or 43 (mean ≈ 42.05), (40 + u)/1.05 to 38 or 39 (mean ≈ 38.05): ±2 either way.
    expect(up / 2000).toBeGreaterThan(1.7);
    expect(up / 2000).toBeLessThan(2.3);
    expect(down / 2000).toBeGreaterThan(1.6);
    expect(down / 2000).toBeLessThan(2.3);
  });
});

describe('transposeTokens (pitch-shift augmentation)', () => {
  const shiftSeq = (seq: NoteSequence, k: number): NoteSequence => ({ ...seq, notes: seq.notes.map((n) => ({ ...n, pitch: n.pitch + k })) });
  const inRange = (seq: NoteSequence) => ({ ...seq, notes: seq.notes.map((n) => ({ ...n, pitch: 40 + (n.pitch % 40) })) });

  it('equals encoding the transposed piece, also for a stream cut mid-note', () => {
    const rand = mulberry32(21);
    for (let trial = 0; trial < 5; trial++) {
      const seq = inRange(randomSequence(rand, 60)); // pitches 40..79: ±12 stays on the keyboard
      const tokens = Uint8Array.from(gigaTokenizer.encode(seq));
      for (const k of [-12, -3, 0, 5, 12]) {
        const expected = Uint8Array.from(gigaTokenizer.encode(shiftSeq(seq, k)));
        expect(Array.from(transposeTokens(tokens, k))).toEqual(Array.from(expected));
        expect(Array.from(transposeTokens(tokens.subarray(2, 99), k))).toEqual(Array.from(expected.subarray(2, 99)));
      }
    }
  });

  it('never moves a pitch off the keyboard, and leaves the input alone', () => {
    const tokens = Uint8Array.from([127, 0, 10, 105, 127, 4, 10, 30, 127]);
    expect(Array.from(transposeTokens(tokens, 7))).toEqual([127, 0, 10, 108, 127, 4, 10, 33, 127]); // +3 at most
    expect(Array.from(transposeTokens(tokens, -12))).toEqual([127, 0, 10, 96, 127, 4, 10, 21, 127]); // −9 at most
    expect(tokens[3]).toBe(105);
    // Two pieces joined by a lone end marker: the second piece's first note is a note like any other.
    const joined = Uint8Array.from([127, 0, 10, 60, 127, 127, 4, 10, 64, 127]);
    expect(Array.from(transposeTokens(joined, 2))).toEqual([127, 0, 10, 62, 127, 127, 4, 10, 66, 127]);
  });
});
