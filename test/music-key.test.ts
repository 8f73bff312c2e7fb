import { describe, expect, it } from 'vitest';
import type { Note } from '../src/music/note-sequence.js';
import { estimateKey, correlationWithKey, clearKey, isRelatedKey, keyGuide, parseKey, KEY_NAMES, CLEAR_KEY_CORRELATION, DECLARED_KEY_IN_SCALE, inScaleShare } from '../src/music/key.js';

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
    expect(guide.name).toBe('C major');
    expect(guide.bias).toEqual([0, -2, 0, -2, 0, 0, -2, 0, -2, 0, -2, 0]);
    expect(keyGuide(cMajorScale, 0.5)!.bias.filter((b) => b !== 0)).toEqual([-0.5, -0.5, -0.5, -0.5, -0.5]);
  });

  it('keeps a minor key to its natural minor scale with the leading tone', () => {
    const guide = keyGuide(melody([57, 60, 64, 69, 64, 60, 57, 45], 0.5), 1)!;
    expect(guide.name).toBe('A minor');
    // A B C D E F G G#: in; A# C# D# F# out.
    expect([9, 11, 0, 2, 4, 5, 7, 8].map((pc) => guide.bias[pc])).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect([10, 1, 3, 6].map((pc) => guide.bias[pc])).toEqual([-1, -1, -1, -1]);
  });

  it('follows the key of a transposed prompt', () => {
    const guide = keyGuide(melody([60, 62, 64, 65, 67, 69, 71, 72].map((p) => p + 7)), 1)!;
    expect(guide.name).toBe('G major');
    expect(guide.bias[6]).toBe(0); // F# is in G major
    expect(guide.bias[5]).toBe(-1); // F is not
  });

  it('leaves the continuation free at strength 0, without a prompt, and when the prompt has no clear key', () => {
    expect(keyGuide(cMajorScale, 0)).toBeUndefined();
    expect(keyGuide([], 2)).toBeUndefined();
    const chromatic = melody(Array.from({ length: 12 }, (_, i) => 60 + i));
    expect(estimateKey(chromatic).correlation).toBeLessThan(CLEAR_KEY_CORRELATION);
    expect(keyGuide(chromatic, 2)).toBeUndefined();
    // A lone note or a bare fifth correlates well with a major key, but says nothing of the mode.
    expect(estimateKey(melody([60])).correlation).toBeGreaterThan(CLEAR_KEY_CORRELATION);
    expect(keyGuide(melody([60, 60, 60]), 2)).toBeUndefined();
    expect(keyGuide(melody([48, 60, 67, 55]), 2)).toBeUndefined();
    expect(keyGuide(melody([60, 64, 67]), 2)!.name).toBe('C major');
    expect(keyGuide(melody([60, 63, 67]), 2)!.name).toBe('C minor');
  });

  it('keeps to a named key instead of the prompt’s, also with no prompt at all', () => {
    const dMinor = parseKey('D minor')!;
    const guide = keyGuide(cMajorScale, 1, dMinor)!;
    expect(guide.name).toBe('D minor');
    expect(guide.bias[1]).toBe(0); // C#, D minor's leading tone
    expect(guide.bias[11]).toBe(-1); // B
    expect(keyGuide([], 1, dMinor)!.name).toBe('D minor');
    expect(keyGuide([], 0, dMinor)).toBeUndefined();
  });

  it("keeps to the key the notation declares when the notes lie in its scale, however few they are", () => {
    // The Kesh's first strain (G major without a C; the last G three quavers long): alone it reads as D major.
    const strain = [67, 69, 67, 67, 69, 71, 69, 71, 69, 69, 71, 74, 76, 74, 74, 79, 74, 74, 76, 74, 71, 74, 71, 69];
    const kesh = [...melody([...strain, ...strain.slice(0, 18), 74, 71, 69, 67, 66], 0.17), ...melody([67], 0.51, 47 * 0.17)];
    expect(keyGuide(kesh, 1)!.name).toBe('D major');
    expect(inScaleShare(kesh, parseKey('G major')!)).toBe(1);
    expect(clearKey(kesh, parseKey('G major'))!.name).toBe('G major');
    expect(keyGuide(kesh, 1, undefined, parseKey('G major'))!.name).toBe('G major');
    // Three notes alone read as F# minor (or say too little); declared, they are D major's.
    const phrase = melody([66, 66, 67, 69]);
    expect(keyGuide(phrase, 1)?.name).not.toBe('D major');
    expect(keyGuide(phrase, 1, undefined, parseKey('D major'))!.name).toBe('D major');
    expect(keyGuide(melody([60]), 1, undefined, parseKey('C major'))!.name).toBe('C major');
    // A declared key whose scale the notes leave is not taken: the Kesh is not in E-flat major.
    expect(inScaleShare(kesh, parseKey('Eb major')!)).toBeLessThan(DECLARED_KEY_IN_SCALE);
    expect(keyGuide(kesh, 1, undefined, parseKey('Eb major'))!.name).toBe('D major');
    // A minor key's scale has its leading tone: A minor with G sharp is in it.
    expect(inScaleShare(melody([69, 71, 72, 68, 69]), parseKey('A minor')!)).toBe(1);
    // A named key still comes first.
    expect(keyGuide(kesh, 1, parseKey('A minor'), parseKey('G major'))!.name).toBe('A minor');
  });
});

describe('key names', () => {
  it('reads the usual spellings, enharmonics and the ♯/♭ signs, and rejects anything else', () => {
    expect(parseKey('D minor')).toEqual({ tonic: 2, mode: 'minor', name: 'D minor' });
    expect(parseKey(' f# MAJOR ')).toEqual({ tonic: 6, mode: 'major', name: 'F# major' });
    expect(parseKey('B♭ minor')!.name).toBe('Bb minor');
    expect(parseKey('bb minor')!.name).toBe('Bb minor');
    expect(parseKey('b minor')!.name).toBe('B minor');
    expect(parseKey('C# major')!.name).toBe('Db major'); // spelt as usual
    expect(parseKey('Ab minor')!.name).toBe('G# minor');
    expect(parseKey('Cb major')!.name).toBe('B major');
    for (const bad of ['', 'H major', 'C', 'Am', 'C dorian', 'C## major']) expect(parseKey(bad)).toBeUndefined();
  });

  it('lists the 24 keys once each, every name parsing back to itself', () => {
    expect(KEY_NAMES).toHaveLength(24);
    expect(new Set(KEY_NAMES).size).toBe(24);
    for (const name of KEY_NAMES) expect(parseKey(name)!.name).toBe(name);
    expect(estimateKey([{ pitch: 61, velocity: 80, startSec: 0, endSec: 1 }, { pitch: 65, velocity: 80, startSec: 1, endSec: 2 }, { pitch: 68, velocity: 80, startSec: 2, endSec: 3 }]).name).toBe('Db major');
  });
});
