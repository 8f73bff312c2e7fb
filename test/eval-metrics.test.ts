import { describe, expect, it } from 'vitest';
import type { Note, NoteSequence } from '../src/music/note-sequence.js';
import { extractFeatures, featureHistograms, clipNotes } from '../src/eval/features.js';
import { NgramIndex, measureMemorisation, noteKeys } from '../src/eval/memorisation.js';
import { measureValidity } from '../src/eval/validity.js';
import { overlap } from '../src/eval/distribution.js';
import { groupPieces } from '../src/eval/pieces.js';
import { splitAfterPrompt } from '../src/eval/thesis-outputs.js';
import { mulberry32 as rng } from '../src/util/rng.js';

/** Notes one after another, each `dur` seconds, starting at `t0`. */
function melody(pitches: number[], dur = 0.25, t0 = 0): Note[] {
  return pitches.map((pitch, i) => ({ pitch, velocity: 80, startSec: t0 + i * dur, endSec: t0 + (i + 1) * dur }));
}

function seqOf(notes: Note[]): NoteSequence {
  return { notes, pedals: [], tempos: [{ timeSec: 0, bpm: 120 }], source: {} };
}

describe('features', () => {
  it('are invariant to transposition (key-relative pitch classes, intervals)', () => {
    const tune = [60, 64, 67, 72, 71, 67, 65, 62, 60, 59, 60];
    const a = extractFeatures(melody(tune), 3);
    const b = extractFeatures(melody(tune.map((p) => p + 5)), 3);
    const skip = new Set(['pitch_mean', 'pitch_p5', 'pitch_p95']);
    a.names.forEach((n, i) => {
      if (!skip.has(n)) expect(b.values[i], n).toBeCloseTo(a.values[i], 9);
    });
    expect(b.values[a.names.indexOf('pitch_mean')]).toBeCloseTo(a.values[a.names.indexOf('pitch_mean')] + 5 / 12, 9);
  });

  it('tells chords from single lines and measures density', () => {
    const line = melody([60, 62, 64, 65, 67, 69, 71, 72], 0.25);
    const chords = [0, 1, 2, 3].flatMap((i) => [60, 64, 67].map((p) => ({ pitch: p, velocity: 80, startSec: i * 0.5, endSec: i * 0.5 + 0.5 })));
    const f = (notes: Note[], name: string) => {
      const x = extractFeatures(notes, 2);
      return x.values[x.names.indexOf(name)];
    };
    expect(f(line, 'chord_size_mean')).toBe(1);
    expect(f(chords, 'chord_size_mean')).toBe(3);
    expect(f(chords, 'poly_mean')).toBeCloseTo(3, 5);
    expect(f(line, 'notes_per_sec_log')).toBeCloseTo(Math.log2(1 + 8 / 2), 9);
    // Every onset-ordered step of the scale is a 1- or 2-semitone step.
    const h = featureHistograms(line);
    expect(h.interval[1] + h.interval[2]).toBeCloseTo(1, 9);
    expect(h.ioi.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
  });

  it('clips a window and shifts it to 0', () => {
    const notes = melody([60, 62, 64, 65], 1);
    expect(clipNotes(notes, 1, 2).map((n) => [n.pitch, n.startSec])).toEqual([
      [62, 0],
      [64, 1],
    ]);
  });
});

describe('memorisation', () => {
  const random = rng(7);
  const training = melody(
    Array.from({ length: 400 }, () => 48 + Math.floor(random() * 36)),
    0.25,
  );
  const index = new NgramIndex();
  index.add(noteKeys(seqOf(training)));

  it('finds a planted copy and measures its length', () => {
    const r2 = rng(99);
    const fresh = (n: number, t0: number) => melody(Array.from({ length: n }, () => 30 + Math.floor(r2() * 10)), 0.25, t0);
    // 40 notes copied (10 s at 0.25 s per note = 5 bars of 2 s), between fresh notes.
    const copied = training.slice(100, 140).map((n) => ({ ...n, startSec: n.startSec - 25 + 5, endSec: n.endSec - 25 + 5 }));
    const cont = seqOf([...fresh(20, 0), ...copied, ...fresh(20, 15)]);
    const m = measureMemorisation(cont, index);
    expect(m.longestCopyNotes).toBe(40);
    expect(m.longestCopySeconds).toBeCloseTo(39 * 0.25, 1);
    expect(m.flagged).toBe(true);
    expect(m.copiedShare).toBeCloseTo(40 / 80, 5);
  });

  it('matches a copied rolled chord whatever order its notes were played in', () => {
    // Training plays each chord bottom-up 5 ms apart (one 16 ms cell); a model's decoded copy is top-down.
    const chordsUp: Note[] = [];
    const chordsDown: Note[] = [];
    for (let i = 0; i < 12; i++) {
      const base = 48 + ((i * 5) % 12);
      [0, 4, 7].forEach((iv, j) => chordsUp.push({ pitch: base + iv, velocity: 80, startSec: i * 0.512 + j * 0.005, endSec: i * 0.512 + 0.4 }));
      [7, 4, 0].forEach((iv) => chordsDown.push({ pitch: base + iv, velocity: 80, startSec: i * 0.512, endSec: i * 0.512 + 0.4 }));
    }
    const idx = new NgramIndex();
    idx.add(noteKeys(seqOf(chordsUp)));
    expect(measureMemorisation(seqOf(chordsDown), idx).longestCopyNotes).toBe(35);
  });

  it('does not flag a short quote or unrelated music', () => {
    // Shifted by a whole number of 16 ms onset steps, so the quoted tokens are the training tokens.
    const quote = seqOf(training.slice(10, 26).map((n) => ({ ...n, startSec: n.startSec - 2.4, endSec: n.endSec - 2.4 })));
    const q = measureMemorisation(quote, index);
    expect(q.longestCopyNotes).toBe(15); // the first note's dt is relative to the prompt, so never matched
    expect(q.flagged).toBe(false);
    const r3 = rng(3);
    const other = seqOf(melody(Array.from({ length: 100 }, () => 48 + Math.floor(r3() * 36))));
    expect(measureMemorisation(other, index).longestCopyNotes).toBe(0);
  });
});

describe('validity', () => {
  it('accepts ordinary music', () => {
    const v = measureValidity(melody(Array.from({ length: 40 }, (_, i) => 60 + (i % 8)), 0.25), 10);
    expect(v).toMatchObject({ decoded: true, valid: true, pathologies: [], notes: 40, pitchRange: 7 });
    expect(v.notesPerSec).toBeCloseTo(4, 9);
  });

  it('detects the pathologies', () => {
    expect(measureValidity(undefined, 30)).toMatchObject({ decoded: false, valid: false });
    expect(measureValidity([], 30).pathologies).toEqual(['no-notes']);
    expect(measureValidity(melody(Array(40).fill(60), 0.25), 10).pathologies).toEqual(['repeated-note']);
    const silence = measureValidity(melody([60, 62, 64, 65, 67], 0.5), 30);
    expect(silence.pathologies).toEqual(['silence']);
    expect(silence.longestSilenceSec).toBeCloseTo(27.5, 5);
    const wall = Array.from({ length: 600 }, (_, i) => ({ pitch: 30 + (i % 60), velocity: 80, startSec: (i % 300) * 0.033, endSec: 10 }));
    expect(measureValidity(wall, 10).pathologies).toContain('wall-of-notes');
  });
});

describe('distribution overlap', () => {
  it('is 1 for identical and 0 for disjoint histograms', () => {
    expect(overlap([0.5, 0.5, 0], [0.5, 0.5, 0])).toBeCloseTo(1, 12);
    expect(overlap([1, 0], [0, 1])).toBe(0);
    expect(overlap([0.6, 0.4], [0.3, 0.7])).toBeCloseTo(0.7, 12);
  });
});

describe('piece identity', () => {
  it('joins spellings of one piece across datasets and keeps different pieces apart', () => {
    const items = [
      { composer: 'Johann Sebastian Bach', title: 'Prelude and Fugue in G Minor, WTC II,  BWV 885' },
      { composer: 'Johann Sebastian Bach', title: 'Prelude & Fugue in G Minor, WTK II' },
      { composer: 'Bach', title: 'Fugue_bwv_885' },
      { composer: 'Bach', title: 'Prelude_bwv_884' },
      { composer: 'Frédéric Chopin', title: 'Scherzo No. 2 in B-flat Minor, Op.31' },
      { composer: 'Chopin', title: 'Scherzos_31' },
      { composer: 'Sergei Rachmaninoff', title: 'Etudes-Tableaux Op. 33' },
      { composer: 'Rachmaninoff', title: '8_Etudes-tableaux_Opus_33_5' },
      { composer: 'Rachmaninoff', title: 'Prelude Op. 23/4' },
      { composer: 'Rachmaninoff', title: 'Prelude in D Major, Op. 23, No. 4' },
      { composer: 'Rachmaninoff', title: 'Prelude Op. 23, No. 2' },
      { composer: 'Chopin', title: 'Prelude Op. 23, No. 2' },
    ];
    const g = groupPieces(items);
    expect(new Set([g[0], g[1], g[2]]).size).toBe(1);
    expect(g[3]).not.toBe(g[0]);
    expect(g[4]).toBe(g[5]);
    expect(g[6]).toBe(g[7]);
    expect(g[8]).toBe(g[9]);
    expect(g[10]).not.toBe(g[8]);
    expect(g[11]).not.toBe(g[10]); // another composer's op. 23
  });
});

describe("thesis outputs' prompt split", () => {
  it('cuts after the prompt even when the prompt was shifted earlier', () => {
    const prompt = seqOf(melody([64, 63, 64, 63, 64, 59, 62, 60, 57], 0.25, 1));
    const shifted = prompt.notes.map((n) => ({ ...n, startSec: n.startSec - 1, endSec: n.endSec - 1 }));
    const cont = melody([45, 52, 57, 60], 0.25, 2.25);
    const { notes, cut } = splitAfterPrompt(seqOf([...shifted, ...cont]), prompt);
    expect(cut).toBe('pitch-match');
    expect(notes.map((n) => n.pitch)).toEqual([45, 52, 57, 60]);
    expect(notes[0].startSec).toBeCloseTo(0.25, 9); // timed from the prompt's last onset, like compose()
  });
});

describe('piece identity with underscore-glued names', () => {
  it('reads opus and sonata numbers out of piano-midi-de and ASAP file titles', () => {
    const g = groupPieces([
      { composer: 'Chopin', title: 'Piano_sonata_No.2_Bb_minor_Opus_35_1' },
      { composer: 'Chopin', title: 'Sonata_2_3rd' },
      { composer: 'Chopin', title: '12 Etudes, Op. 25' },
      { composer: 'Chopin', title: 'Etudes_Opus_25_11_Winter_Wind' },
      { composer: 'Chopin', title: 'Etudes_op_10_1' },
    ]);
    expect(g[0]).toBe(g[1]);
    expect(g[2]).toBe(g[3]);
    expect(g[4]).not.toBe(g[2]);
  });
});
