import { describe, expect, it } from 'vitest';
import type { Note } from '../src/music/note-sequence.js';
import { estimateKey, correlationWithKey, isRelatedKey, keyGuide, CLEAR_KEY_CORRELATION } from '../src/music/key.js';

/** Notes one after another, each `dur` seconds, starting at `t0`. */
function melody(pitches: number[], dur = 0.25, t0 = 0): Note[] {
  return pitches.map((pitch, i) => ({ pitch, velocity: 80, startSec: t0 + i * dur, endSec: t0 + (i + 1) * dur }));
}

describe('Krumhansl–Schmuckler key', () => {
  it('finds C major for a C major scale', () => {
    const k = estimateKey(melody([60, 62, 64, 65, 67, 69, 71, 72]));
    expect(k.name).toBe('C major');
    expect(k.correlation).toBeGreaterThan(0.6);
  });

  it('finds A minor for an A minor arpeggio', () => {
    expect(estimateKey(melody([57, 60, 64, 69, 64, 60, 57, 45], 0.5)).name).toBe('A minor');
  });

  it('finds E-flat major for an E-flat major cadence with a long tonic', () => {
    const notes = [...melody([63, 67, 70, 68, 67, 65, 62], 0.25), { pitch: 63, velocity: 80, startSec: 2, endSec: 4 }];
    expect(estimateKey(notes).name).toBe('Eb major');
  });

  it('knows closely related keys', () => {
    const aMinor = { tonic: 9, mode: 'minor' as const };
    expect(isRelatedKey(aMinor, { tonic: 0, mode: 'major' })).toBe(true); // relative
    expect(isRelatedKey(aMinor, { tonic: 4, mode: 'minor' })).toBe(true); // dominant
    expect(isRelatedKey(aMinor, { tonic: 2, mode: 'minor' })).toBe(true); // subdominant
    expect(isRelatedKey(aMinor, { tonic: 7, mode: 'major' })).toBe(true); // relative of the dominant
    expect(isRelatedKey(aMinor, { tonic: 9, mode: 'major' })).toBe(false); // parallel major: 3 sharps
    expect(isRelatedKey(aMinor, { tonic: 6, mode: 'major' })).toBe(false);
  });

  it('correlates a passage with a given key and is 0 for silence', () => {
    const scale = melody([60, 62, 64, 65, 67, 69, 71, 72]);
    expect(correlationWithKey(scale, { tonic: 0, mode: 'major' })).toBeGreaterThan(correlationWithKey(scale, { tonic: 6, mode: 'major' }));
    expect(estimateKey([]).correlation).toBe(0);
  });
});

describe('key guide', () => {
  const cMajorScale = melody([60, 62, 64, 65, 67, 69, 71, 72]);

  it("makes the notes outside the prompt's scale e^strength times less likely and leaves the scale's notes alone", () => {
    const guide = keyGuide(cMajorScale, 2)!;
    expect(guide.key.name).toBe('C major');
    expect(guide.bias).toEqual([0, -2, 0, -2, 0, 0, -2, 0, -2, 0, -2, 0]);
    expect(keyGuide(cMajorScale, 0.5)!.bias.filter((b) => b !== 0)).toEqual([-0.5, -0.5, -0.5, -0.5, -0.5]);
  });

  it('keeps a minor key to its natural minor scale with the leading tone', () => {
    const guide = keyGuide(melody([57, 60, 64, 69, 64, 60, 57, 45], 0.5), 1)!;
    expect(guide.key.name).toBe('A minor');
    // A B C D E F G G#: in; A# C# D# F# out.
    expect([9, 11, 0, 2, 4, 5, 7, 8].map((pc) => guide.bias[pc])).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect([10, 1, 3, 6].map((pc) => guide.bias[pc])).toEqual([-1, -1, -1, -1]);
  });

  it('follows the key of a transposed prompt', () => {
    const guide = keyGuide(melody([60, 62, 64, 65, 67, 69, 71, 72].map((p) => p + 7)), 1)!;
    expect(guide.key.name).toBe('G major');
    expect(guide.bias[6]).toBe(0); // F# is in G major
    expect(guide.bias[5]).toBe(-1); // F is not
  });

  it('leaves the continuation free at strength 0, without a prompt, and when the prompt has no clear key', () => {
    expect(keyGuide(cMajorScale, 0)).toBeUndefined();
    expect(keyGuide([], 2)).toBeUndefined();
    const chromatic = melody(Array.from({ length: 12 }, (_, i) => 60 + i));
    expect(estimateKey(chromatic).correlation).toBeLessThan(CLEAR_KEY_CORRELATION);
    expect(keyGuide(chromatic, 2)).toBeUndefined();
  });
});
