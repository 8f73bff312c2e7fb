// How a continuation is played: the sustain pedal rule (src/music/pedal.ts) and how notes ring under it, the dynamics
// (src/music/dynamics.ts), reading a style's performance.json, and fitting both on performances
// (training/performance-fit.ts).
import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pedalFor, soundingCounts, type PedalStyle } from '../src/music/pedal.js';
import { readPerformance, ModelLoadError } from '../src/model/store.js';
import { writeMidi } from '../src/music/midi.js';
import { arProcess, VELOCITY_FEATURE_NAMES, withDynamics, type DynamicsModel } from '../src/music/dynamics.js';
import { fitPerformance, manifestPerformances, performanceEntries } from '../training/performance-fit.js';
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
/** Dynamics that play the highest note around 20 louder than the rest, at a level of 60 when there is no prompt. */
const weight = (name: string) => VELOCITY_FEATURE_NAMES.indexOf(name);
const MELODY_LOUDER: DynamicsModel = { weights: VELOCITY_FEATURE_NAMES.map((_, j) => (j === weight('highest note ±0.25 s') ? 20 : 0)), level: 60 };
const file = (pedal: PedalStyle | null, dynamics: DynamicsModel = MELODY_LOUDER) => JSON.stringify({ format: 'maestro-performance/1', pedal: { pedal }, dynamics: { model: dynamics } });

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

describe('dynamics', () => {
  const seq = (notes: Note[]) => ({ notes, pedals: [], tempos: [{ timeSec: 0, bpm: 120 }], source: {} });
  // Two-note chords, 0.5 s apart: the upper note is the highest around.
  const chords = (from: number, n: number, velocity = 80) => Array.from({ length: n }, (_, k) => [note(72, from + k * 0.5, from + k * 0.5 + 0.4), note(48, from + k * 0.5, from + k * 0.5 + 0.4)]).flat().map((x) => ({ ...x, velocity }));

  it('voices the notes as the model says and levels them from how loud the prompt was played', () => {
    const cont = seq(chords(0.5, 4));
    const at = (velocity: number) => withDynamics(cont, chords(-8, 16, velocity), chords(-8, 16, 999), MELODY_LOUDER, 1).notes.map((n) => n.velocity);
    const soft = at(30);
    // Upper notes 20 louder than the lower ones; the prompt's level (played at 30 against a shape of 0/20 → median 10) sets the rest.
    expect(soft).toEqual([40, 20, 40, 20, 40, 20, 40, 20]);
    expect(at(80).map((v, i) => v - soft[i]!)).toEqual(Array(8).fill(50));
    // An improvisation (no prompt) is played at the style's level.
    expect(withDynamics(cont, [], [], MELODY_LOUDER, 1).notes.map((n) => n.velocity)).toEqual([80, 60, 80, 60, 80, 60, 80, 60]);
  });

  it('draws the expression the regression leaves: reproducible from the seed, varying as the fitted process does', () => {
    const cont = seq(chords(0.5, 200));
    const expressive: DynamicsModel = { ...MELODY_LOUDER, residual: { rho: 0.4, sigma: 10 } };
    const play = (seed: number) => withDynamics(cont, [], [], expressive, seed).notes.map((n) => n.velocity);
    expect(play(3)).toEqual(play(3));
    expect(play(3)).not.toEqual(play(4));
    // What is drawn on top of the mean: stationary spread sigma / √(1 − rho²) ≈ 10.9, lag-1 correlation ≈ rho.
    const drawn = arProcess({ rho: 0.4, sigma: 10 }, 20_000, 7);
    const sd = Math.sqrt(drawn.reduce((s, v) => s + v * v, 0) / drawn.length);
    const lag1 = drawn.slice(1).reduce((s, v, i) => s + v * drawn[i]!, 0) / drawn.reduce((s, v) => s + v * v, 0);
    expect(sd).toBeGreaterThan(10.4);
    expect(sd).toBeLessThan(11.4);
    expect(lag1).toBeGreaterThan(0.37);
    expect(lag1).toBeLessThan(0.43);
    // Without a residual the regression's mean alone plays (the tests above).
    expect(withDynamics(cont, [], [], MELODY_LOUDER, 3).notes.map((n) => n.velocity)).toEqual(withDynamics(cont, [], [], MELODY_LOUDER, 4).notes.map((n) => n.velocity));
  });

  it("without a model keeps the simulated shape, moved to the prompt's level", () => {
    const cont = seq(chords(0.5, 2, 100));
    expect(withDynamics(cont, chords(-4, 8, 40), chords(-4, 8, 90), null, 1).notes.map((n) => n.velocity)).toEqual([50, 50, 50, 50]);
  });
});

describe('a style’s performance.json', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'maestro-performance-'));

  it('is read when there is one: a pedal rule or none (dry), and the dynamics', () => {
    const d = dir();
    expect(readPerformance(d)).toBeNull();
    writeFileSync(join(d, 'performance.json'), file(null));
    expect(readPerformance(d)).toEqual({ pedal: null, dynamics: MELODY_LOUDER });
    writeFileSync(join(d, 'performance.json'), file(RULE));
    expect(readPerformance(d)).toEqual({ pedal: RULE, dynamics: MELODY_LOUDER });
  });

  it('a damaged one is named, with how to fix it', () => {
    const d = dir();
    const bad = (text: string, why: RegExp) => {
      writeFileSync(join(d, 'performance.json'), text);
      expect(() => readPerformance(d)).toThrow(ModelLoadError);
      expect(() => readPerformance(d)).toThrow(why);
    };
    bad('{ "format": "maestro-performance/1", "pedal": ', /not valid JSON.*maestro performance/);
    bad(file({ ...RULE, liftSec: -1 }), /bad pedal rule/);
    bad(file(RULE, { weights: [1, 2], level: 60 }), /no usable dynamics model/);
    bad(JSON.stringify({ format: 'something-else' }), /not a maestro-performance\/1 file/);
  });
});

describe('fitting how a style is played, on performances', () => {
  /** A corpus of one style whose performers pedal as `perform` says and play chords' upper notes 30 louder, as MIDI files. */
  function corpusOf(perform: (notes: Note[]) => PedalSpan[]): Corpus {
    const root = mkdtempSync(join(tmpdir(), 'maestro-pedal-corpus-'));
    mkdirSync(join(root, 'asap'));
    const progressions = [[C, F, G, C], [F, G, C, F], [G, C, C, F], [C, G, F, C], [F, C, G, G], [C, C, F, G]];
    const entries: CorpusEntry[] = progressions.map((p, i) => {
      const struck = blocks(p, 12);
      const top = (n: Note) => struck.every((m) => m.startSec !== n.startSec || m.pitch <= n.pitch);
      const notes = struck.map((n) => ({ ...n, velocity: top(n) ? 90 : 60 }));
      const relPath = `asap/p${i}.mid`;
      writeFileSync(join(root, relPath), writeMidi({ notes, pedals: perform(notes), tempos: [{ timeSec: 0, bpm: 120 }], source: {} }));
      return { relPath, source: 'asap', composer: 'X', title: `p${i}`, style: 'romantic', pieceId: `p${i}`, role: i < 4 ? 'other' : 'validation-piece' };
    });
    return { datasetsDir: root, entries, trainingFiles: { baroque: [], romantic: [], vanguard: [] }, manifests: [] };
  }

  it('chooses a pedal for performers who pedal, scores it on held-out pieces, and leaves dry ones dry', () => {
    const { pedal: pedalled } = fitPerformance(performanceEntries(corpusOf((notes) => pedalFor(RULE, notes)), 'romantic'), 'romantic', { command: 'test' });
    expect(pedalled.pedal).not.toBeNull();
    expect(pedalled.fitted.performances).toBe(4);
    expect(pedalled.heldOut.performances).toBe(2);
    expect(pedalled.heldOut.chosen.error).toBeLessThan(pedalled.heldOut.dry.error / 2);
    expect(pedalled.heldOut.chosen.sounding).toBeGreaterThan(pedalled.heldOut.dry.sounding);
    expect(pedalled.heldOut.performersPedal.pedalDownShare).toBeGreaterThan(0.8);
    // Of the rules that ring as close, the one pressing the pedal as often as the performers is kept.
    expect(pedalled.fitted.chosen.error).toBeLessThanOrEqual(pedalled.fitted.nearest.error * 1.01);
    expect(pedalled.fitted.chosen.pressesPerMin).toBeCloseTo(pedalled.fitted.performersPressesPerMin, 0);
    expect(pedalled.heldOut.chosen.pressesPerMin).toBeCloseTo(pedalled.heldOut.performersPedal.pressesPerMin, 0);

    const { pedal: dry } = fitPerformance(performanceEntries(corpusOf(() => []), 'romantic'), 'romantic', { command: 'test' });
    expect(dry.pedal).toBeNull();
    expect(dry.heldOut.chosen).toEqual(dry.heldOut.dry);
    expect(dry.heldOut.dry.error).toBe(0);
  });

  it('learns which notes performers play louder, and is nearer them held out than the simulation or one velocity', () => {
    const { dynamics } = fitPerformance(performanceEntries(corpusOf(() => []), 'romantic'), 'romantic', { command: 'test' });
    const e = dynamics.heldOut.error;
    expect(dynamics.heldOut.notes).toBeGreaterThan(100);
    // A quarter of the notes (the chord tops) are 30 louder: one velocity is 7.5 off on average; the model finds them.
    expect(e.model).toBeLessThan(1);
    expect(e.flat).toBeCloseTo(7.5, 5);
    expect(e.simulation).toBeGreaterThan(10);
    expect(dynamics.model.weights[weight('top of its chord')]).toBeGreaterThan(10);
    // Nothing is left to draw: the residual is small; the check measures the voicing the performers gave.
    expect(dynamics.model.residual!.sigma).toBeLessThan(2);
    expect(dynamics.heldOut.chordTop.performers).toBeCloseTo(30, 5);
    expect(dynamics.heldOut.chordTop.mean).toBeGreaterThan(25);
  });
});

describe("a style an admin added: its performances from its built corpus' manifest", () => {
  it('fits on the training files and checks on the validation files, recorded performances only, wherever their source keeps them', () => {
    const root = mkdtempSync(join(tmpdir(), 'maestro-added-style-'));
    const maestroDir = join(root, 'maestro');
    const catalogDir = join(root, 'datasets');
    for (const d of [join(maestroDir, '2004'), join(catalogDir, 'asap/Mozart'), join(catalogDir, 'piano-midi-de/Haydn'), join(root, 'data/classical')]) mkdirSync(d, { recursive: true });
    for (const f of [join(maestroDir, '2004/a.midi'), join(catalogDir, 'asap/Mozart/b.mid'), join(catalogDir, 'asap/Mozart/c.mid'), join(catalogDir, 'piano-midi-de/Haydn/d.mid')]) writeFileSync(f, '');
    const files = [
      { id: 'maestro:2004/a.midi', source: 'maestro', split: 'train' },
      { id: 'catalog:asap/Mozart/b.mid', source: 'asap', split: 'train' },
      { id: 'catalog:asap/Mozart/gone.mid', source: 'asap', split: 'train' }, // removed since the build: skipped
      { id: 'catalog:piano-midi-de/Haydn/d.mid', source: 'piano-midi-de', split: 'train' }, // sequenced, not performed
      { id: 'catalog:asap/Mozart/c.mid', source: 'asap', split: 'val' },
    ];
    writeFileSync(join(root, 'data/classical/manifest.json'), JSON.stringify({ files }));
    expect(manifestPerformances(join(root, 'data/classical'), { maestroDir, catalogDir })).toEqual({
      fit: [join(maestroDir, '2004/a.midi'), join(catalogDir, 'asap/Mozart/b.mid')],
      heldOut: [join(catalogDir, 'asap/Mozart/c.mid')],
    });
    expect(() => manifestPerformances(join(root, 'data/romantic'), { maestroDir, catalogDir })).toThrow(/has no manifest.json: build the style's dataset first/);
  });
});
