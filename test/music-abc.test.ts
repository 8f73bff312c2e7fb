import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { abcToMidi, AbcInputError, ABC_EXAMPLE, MAX_ABC_CHARS, plainWarning, unfoldHeaders } from '../src/music/abc.js';
import { readMidi } from '../src/music/midi.js';

const errorOf = (text: string): string => {
  try {
    abcToMidi(text);
  } catch (err) {
    expect(err).toBeInstanceOf(AbcInputError);
    return (err as Error).message;
  }
  throw new Error(`"${text}" was read as a melody`);
};

describe('ABC notation → MIDI', () => {
  it('reads a melody with its key, note lengths and tempo: Ode to Joy in D major, crotchet = 120', () => {
    const melody = abcToMidi('T:Ode to Joy\nM:4/4\nL:1/4\nQ:1/4=120\nK:D\nFFGA|AGFE|DDEF|F>EE2|');
    expect(melody.title).toBe('Ode to Joy');
    expect(melody.notes).toBe(15);
    const seq = readMidi(melody.midi, { timing: 'exact' });
    // K:D sharpens every F (F#4 = 66); the other notes as written.
    expect(seq.notes.map((n) => n.pitch)).toEqual([66, 66, 67, 69, 69, 67, 66, 64, 62, 62, 64, 66, 66, 64, 64]);
    // Crotchets half a second apart; "F>E" is a dotted crotchet and a quaver; the last E a minim.
    const onsets = seq.notes.map((n) => Math.round(n.startSec * 1000) / 1000);
    expect(onsets).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.75, 7]);
    expect(seq.notes[14].endSec - seq.notes[14].startSec).toBeGreaterThan(0.9);
  });

  it('reads a tune pasted into one line (as a Discord option receives it): headers back on their own lines', () => {
    const pasted = 'X: 1 T: The Kesh R: jig M: 6/8 L: 1/8 K: Gmaj |:GAG GAB|ABA ABd|edd gdd|edB dBA:|';
    expect(unfoldHeaders(pasted)).toBe('X: 1\nT: The Kesh\nR: jig\nM: 6/8\nL: 1/8\nK: Gmaj\n|:GAG GAB|ABA ABd|edd gdd|edB dBA:|');
    // The key's mode is part of its field, the notes after it are the body; a key alone, or none, also works.
    expect(unfoldHeaders('K:F# minor FGA')).toBe('K:F# minor\nFGA');
    expect(unfoldHeaders('K:Am ABc')).toBe('K:Am\nABc');
    expect(unfoldHeaders('K:D dor DEF')).toBe('K:D dor\nDEF');
    expect(unfoldHeaders('K:D FFGA')).toBe('K:D\nFFGA');
    expect(unfoldHeaders('CDEF GABc')).toBe('CDEF GABc');
    // Fields typed after the key (ABC wants it last) move before it when their values cannot be notes.
    expect(unfoldHeaders('K:C L:1/4 M:3/4 Q:1/4=90 CCGG|')).toBe('L:1/4\nM:3/4\nQ:1/4=90\nK:C\nCCGG|');
    // Text with line breaks is already laid out.
    expect(unfoldHeaders('X:1\nK:C\nC D E')).toBe('X:1\nK:C\nC D E');

    const melody = abcToMidi(pasted);
    expect(melody.title).toBe('The Kesh');
    const seq = readMidi(melody.midi, { timing: 'exact' });
    // The repeat is played: 24 notes twice; the first bar G A G G A B.
    expect(seq.notes).toHaveLength(48);
    expect(seq.notes.slice(0, 6).map((n) => n.pitch)).toEqual([67, 69, 67, 67, 69, 71]);
    const shift = seq.notes[24].startSec - seq.notes[0].startSec;
    expect(seq.notes.slice(24).map((n) => n.pitch)).toEqual(seq.notes.slice(0, 24).map((n) => n.pitch));
    seq.notes.slice(24).forEach((n, k) => expect(n.startSec - shift).toBeCloseTo(seq.notes[k].startSec, 6));
  });

  it('says which key the K: field declares, when it is a major or minor one', () => {
    expect(abcToMidi('K:Gmaj\nGAB').key).toBe('G major');
    expect(abcToMidi('K:G\nGAB').key).toBe('G major');
    expect(abcToMidi('K:Em\nEFG').key).toBe('E minor');
    expect(abcToMidi('K:F# minor\nFGA').key).toBe('F# minor');
    expect(abcToMidi('K:Bb\nBcd').key).toBe('Bb major');
    // Modes are not major or minor keys; K:none and a melody without K: declare nothing.
    expect(abcToMidi('K:Ador\nABc').key).toBeUndefined();
    expect(abcToMidi('K:none\nCDE').key).toBeUndefined();
    expect(abcToMidi('CDE').key).toBeUndefined();
  });

  it('plays the notes written, not an accompaniment for the chord symbols', () => {
    const seq = readMidi(abcToMidi('K:G\n"G"GAG "D"ABA|').midi, { timing: 'exact' });
    expect(seq.notes.map((n) => n.pitch)).toEqual([67, 69, 67, 69, 71, 69]);
    // A written chord is notes sounding together.
    const chord = readMidi(abcToMidi('K:C\n[CEG]2 c2|').midi, { timing: 'exact' });
    expect(chord.notes.map((n) => n.pitch).sort()).toEqual([60, 64, 67, 72]);
  });

  it('the shipped examples/ode-to-joy.abc is the melody of examples/ode-to-joy.mid', () => {
    const abc = abcToMidi(readFileSync(new URL('../examples/ode-to-joy.abc', import.meta.url), 'utf8'));
    expect(abc.title).toBe('Ode to Joy');
    const fromAbc = readMidi(abc.midi, { timing: 'exact' }).notes;
    const tune = readMidi(readFileSync(new URL('../examples/ode-to-joy.mid', import.meta.url)), { timing: 'exact' }).notes.filter((n) => n.pitch >= 60);
    expect(fromAbc.map((n) => n.pitch)).toEqual(tune.map((n) => n.pitch));
    fromAbc.forEach((n, i) => expect(n.startSec).toBeCloseTo(tune[i].startSec, 2));
  });

  it('the one-line example in the help and the Discord option is a melody, in crotchets at 120 a minute', () => {
    const melody = abcToMidi(ABC_EXAMPLE);
    expect(melody.notes).toBe(15);
    expect(melody.key).toBe('D major');
    const notes = readMidi(melody.midi, { timing: 'exact' }).notes;
    expect(notes[1].startSec - notes[0].startSec).toBeCloseTo(0.5, 3);
  });

  it('refuses what is not a melody in ABC notation, saying why and with an example', () => {
    expect(errorOf('')).toBe(`the melody is empty: write it in ABC notation, e.g. "${ABC_EXAMPLE}"`);
    expect(errorOf('   \n ')).toMatch(/^the melody is empty/);
    expect(errorOf('K:D')).toBe(`the melody has no notes: write them in ABC notation, e.g. "${ABC_EXAMPLE}"`);
    expect(errorOf('z4 z4|')).toMatch(/^the melody has no notes/); // rests only
    // abcjs reads around what it does not know; a person is told instead of getting a few stray notes.
    expect(errorOf('hello world')).toBe(`that is not ABC notation I can read (unknown character ignored: "h" in "hello world", and 7 more); e.g. "${ABC_EXAMPLE}"`);
    expect(errorOf('C'.repeat(MAX_ABC_CHARS + 1))).toBe(`the melody is 6,001 characters long; at most 6,000 are read`);
  });

  it("turns abcjs' HTML warnings into plain words", () => {
    expect(plainWarning('Music Line:1:1: Unknown parameter: Q:  <span style="text-decoration:underline;">Q</span>')).toBe('unknown parameter: "Q" in "Q: Q"');
    expect(plainWarning('Something <b>odd</b> happened')).toBe('Something odd happened');
  });
});
