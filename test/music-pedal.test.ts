// The sustain pedal under a continuation: the rule (src/music/pedal.ts), how notes ring under it, reading a style's
// pedal.json, and fitting it on performances (training/pedal-fit.ts).
import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pedalFor, soundingCounts, type PedalStyle } from '../src/music/pedal.js';
import { readPedal, ModelLoadError } from '../src/model/store.js';
import { writeMidi } from '../src/music/midi.js';
import { fitPedal } from '../training/pedal-fit.js';
import type { Corpus, CorpusEntry } from '../src/eval/corpus.js';
import type { Note, PedalSpan } from '../src/music/note-sequence.js';

const note = (pitch: number, startSec: number, endSec: number): Note => ({ pitch, velocity: 70, startSec, endSec });
/** Block chords, each struck `strikes` times 0.4 s apart and released after 0.2 s (key durations as pedalled performers leave them). */
function blocks(chords: number[][], strikes = 4): Note[] {
  return chords.flatMap((chord, c) =>
    Array.from({ length: strikes }, (_, k) => (c * strikes + k) * 0.4).flatMap((t) => chord.map((p) => note(p, t, t + 0.2))),
  );
}
const C = [48, 52, 55, 60];
const F = [53, 57, 60, 65];
const G = [43, 47, 50, 55];
const RULE: PedalStyle = { harmonyChange: 0.3, minLiftGapSec: 0.25, liftSec: 0.06 };

describe('the pedal rule', () => {
  it('holds the pedal through a harmony and lifts it briefly as each new one is struck', () => {
    const notes = blocks([C, C, F, G]);
    const spans = pedalFor(RULE, notes);
    // Down just after the first chord; lifted 10 ms before the F chord (3.2 s) and the G chord (4.8 s), caught again
    // 60 ms after each; up at the last key's release. C struck again (1.6 s) is no change.
    expect(spans.map((s) => [+s.startSec.toFixed(3), +s.endSec.toFixed(3)])).toEqual([
      [0.05, 3.19],
      [3.26, 4.79],
      [4.86, 6.2],
    ]);
  });

  it('lifts at most once per minLiftGapSec, only where the harmony changes enough, and gives silence no pedal', () => {
    // A new chord every 0.4 s (3.6 s in all): 9 changes, but with lifts at least 1 s apart only at 0.4, 1.6 and 2.8 s.
    const every = blocks([C, F, G, C, F, G, C, F, G, C], 1);
    expect(pedalFor({ ...RULE, minLiftGapSec: 0.1 }, every)).toHaveLength(10);
    expect(pedalFor({ ...RULE, minLiftGapSec: 1 }, every).map((s) => +s.endSec.toFixed(2))).toEqual([0.39, 1.59, 2.79, 3.8]);
    // C → F shares one pitch class (C) of five: a change of 0.8, so a threshold of 0.9 never lifts.
    expect(pedalFor({ ...RULE, harmonyChange: 0.9 }, blocks([C, F]))).toHaveLength(1);
    expect(pedalFor({ ...RULE, harmonyChange: 0.8 }, blocks([C, F]))).toHaveLength(2);
    expect(pedalFor(RULE, [])).toEqual([]);
  });
});

describe('how notes ring', () => {
  const frame = 0.05;
  const counts = (notes: Note[], pedals: PedalSpan[], end: number) => [...soundingCounts(notes, pedals, end, frame)];

  it('a key released under the pedal rings until the pedal is, at most 4 s on, and stops when struck again', () => {
    const n = note(60, 0, 0.1);
    expect(counts([n], [], 0.5)).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(counts([n], [{ startSec: 0.05, endSec: 0.3 }], 0.5)).toEqual([1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
    // A pedal already up when the key is released holds nothing.
    expect(counts([n], [{ startSec: 0, endSec: 0.08 }], 0.5)).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(counts([n], [{ startSec: 0, endSec: 10 }], 10).reduce((a, b) => a + b)).toBe(Math.ceil(4.1 / frame));
    expect(counts([n, note(60, 0.2, 0.25)], [{ startSec: 0, endSec: 1 }], 0.5)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(counts([n, note(64, 0.2, 0.25)], [{ startSec: 0, endSec: 0.3 }], 0.5)).toEqual([1, 1, 1, 1, 2, 2, 0, 0, 0, 0]);
  });
});

describe('a style’s pedal.json', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'maestro-pedal-'));

  it('is read when there is one, and none means dry', () => {
    const d = dir();
    expect(readPedal(d)).toBeNull();
    writeFileSync(join(d, 'pedal.json'), JSON.stringify({ format: 'maestro-pedal/1', pedal: null }));
    expect(readPedal(d)).toBeNull();
    writeFileSync(join(d, 'pedal.json'), JSON.stringify({ format: 'maestro-pedal/1', pedal: RULE }));
    expect(readPedal(d)).toEqual(RULE);
  });

  it('a damaged one is named, with how to fix it', () => {
    const d = dir();
    writeFileSync(join(d, 'pedal.json'), '{ "format": "maestro-pedal/1", "pedal": ');
    expect(() => readPedal(d)).toThrow(ModelLoadError);
    expect(() => readPedal(d)).toThrow(/not valid JSON.*maestro pedal/);
    writeFileSync(join(d, 'pedal.json'), JSON.stringify({ format: 'maestro-pedal/1', pedal: { ...RULE, liftSec: -1 } }));
    expect(() => readPedal(d)).toThrow(/bad pedal rule/);
    writeFileSync(join(d, 'pedal.json'), JSON.stringify({ format: 'something-else' }));
    expect(() => readPedal(d)).toThrow(/not a maestro-pedal\/1 file/);
  });
});

describe('fitting a style’s pedal on performances', () => {
  /** A corpus of one style whose performers pedal as `perform` says, written as MIDI files. */
  function corpusOf(perform: (notes: Note[]) => PedalSpan[]): Corpus {
    const root = mkdtempSync(join(tmpdir(), 'maestro-pedal-corpus-'));
    mkdirSync(join(root, 'asap'));
    const progressions = [[C, F, G, C], [F, G, C, F], [G, C, C, F], [C, G, F, C], [F, C, G, G], [C, C, F, G]];
    const entries: CorpusEntry[] = progressions.map((p, i) => {
      const notes = blocks(p);
      const relPath = `asap/p${i}.mid`;
      writeFileSync(join(root, relPath), writeMidi({ notes, pedals: perform(notes), tempos: [{ timeSec: 0, bpm: 120 }], source: {} }));
      return { relPath, source: 'asap', composer: 'X', title: `p${i}`, style: 'romantic', pieceId: `p${i}`, role: i < 4 ? 'other' : 'validation-piece' };
    });
    return { datasetsDir: root, entries, trainingFiles: { baroque: [], romantic: [], vanguard: [] }, manifests: [] };
  }

  it('chooses a pedal for performers who pedal, scores it on held-out pieces, and leaves dry ones dry', () => {
    const pedalled = fitPedal(corpusOf((notes) => pedalFor(RULE, notes)), 'romantic', { command: 'test' });
    expect(pedalled.pedal).not.toBeNull();
    expect(pedalled.fitted.performances).toBe(4);
    expect(pedalled.heldOut.performances).toBe(2);
    expect(pedalled.heldOut.chosen.error).toBeLessThan(pedalled.heldOut.dry.error / 2);
    expect(pedalled.heldOut.chosen.sounding).toBeGreaterThan(pedalled.heldOut.dry.sounding);
    expect(pedalled.heldOut.performersPedal.pedalDownShare).toBeGreaterThan(0.8);

    const dry = fitPedal(corpusOf(() => []), 'romantic', { command: 'test' });
    expect(dry.pedal).toBeNull();
    expect(dry.heldOut.chosen).toEqual(dry.heldOut.dry);
    expect(dry.heldOut.dry.error).toBe(0);
  });
});
