import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { StyleMemory, readContext, DEFAULT_MEMORY_SETTINGS } from '../src/model/memory.js';
import { refinedGuesses, mixWithGuess, bucketOf, nearCell, gateFeatures, gateWeights, MemoryTrack, GATE_FEATURES, NEAR_CELLS, type MemoryGate, type MemoryWeights } from '../src/model/memory-mix.js';
import { loadMemory, saveMemory, copyMemory, readMemoryFile } from '../src/model/memory-store.js';
import { sha256 } from '../src/util/sha256.js';
import { ModelLoadError } from '../src/model/store.js';
import { SEP } from '../src/music/tokenizer.js';
import { chooseMixes, chooseRefinement, collectVotes, crossValidate, crossValidated, cvLoss, fitMemoryInto, fittedMemoryLoss, fitWeights, mixedLoss, modelLoss, MIN_VOTES, REFINE_GRID, WEIGHT_GRID, withRefinement, type MemoryVote } from '../training/memory-fit.js';
import { fitGate, gatedProbability, gateSamples, hiddenProjections, principalComponents, type GateSample } from '../training/memory-gate.js';
import { evaluateWindows, windowStarts } from '../training/evaluate.js';
import { sampleContinuation, MEMORY_QUOTE_LIMIT } from '../src/model/sampler.js';
import { gigaTokenizer } from '../src/music/tokenizer.js';
import { createTinyModel, createTinyModelsDir } from './support/tiny-model.js';
import { PitchNeighbours } from '../src/model/memory-neighbours.js';
import { defaultViews, PLAIN_VIEW } from '../src/model/views.js';
import { promote } from '../src/cli/train.js';
import { runMemory } from '../src/cli/memory.js';
import { tinyCorpus } from './support/tiny-corpus.js';
import { readCard, writeCard } from '../src/model/store.js';
import { vi } from 'vitest';
import type { GPT } from '../src/model/gpt.js';

/** Tokens of notes given as [dt, dur, pitch], each note "127 dt dur pitch", closed by a separator. */
function tokens(notes: [number, number, number][]): number[] {
  return [...notes.flatMap(([dt, dur, p]) => [SEP, dt, dur, p]), SEP];
}

/** A deterministic "piece": n notes of a pseudo-random walk, one new chord every `dt` quanta, some two-note chords. */
function piece(n: number, seed: number, dt = 10): [number, number, number][] {
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

const ALL = (w: number, near = 0): MemoryWeights => ({
  dt: Array(7).fill(w),
  dur: Array(7).fill(w),
  pitch: Array(7).fill(w),
  near: { dt: Array(NEAR_CELLS).fill(near), dur: Array(NEAR_CELLS).fill(near), pitch: Array(NEAR_CELLS).fill(near) },
});

describe('style memory: reading a context', () => {
  it('groups notes into chords and knows which field comes next', () => {
    // chord {60, 64} (dt 0 and 2: within the chord gap), then 67 after 20 quanta, then a note being written
    const ctx = tokens([[5, 4, 64], [2, 7, 60], [20, 4, 67]]);
    // done chords hold their durations in the order of their sorted pitches (60 was held 7, 64 held 4)
    expect(readContext(ctx, 3)).toEqual({ next: 'dt', done: [[60, 64]], doneOnsets: [0], doneDurs: [[7, 4]], current: [67], recent: [64, 60, 67], recentOnsets: [0, 2, 22] });
    // … its dt is 1: it joins the current chord, so the pitch is predicted with 67 still in progress
    expect(readContext([...ctx, 1, 4], 3)).toMatchObject({ next: 'pitch', done: [[60, 64]], current: [67] });
    // … its dt is 9: the chord {67} is complete
    expect(readContext([...ctx, 9, 4], 3)).toMatchObject({ next: 'pitch', done: [[60, 64], [67]], doneOnsets: [0, 22], current: [] });
    // … and already when its duration is next: the duration belongs to the first note of a new chord
    expect(readContext([...ctx, 9], 3)).toMatchObject({ next: 'dur', done: [[60, 64], [67]], current: [] });
    expect(readContext(ctx.slice(0, -1), 3)?.next).toBe('sep');
    // a window that starts mid-note reads from its first separator; a piece's end marker (127 127) is skipped
    expect(readContext([4, 60, ...ctx.slice(0, 5), SEP, ...ctx.slice(4)], 3)?.done).toEqual([[60, 64]]);
    expect(readContext([60, 61], 3)).toBeUndefined();
  });

  it('buckets match lengths', () => {
    expect([0, 1, 3, 4, 15, 16, 47, 48, 64].map(bucketOf)).toEqual([0, 1, 1, 2, 3, 4, 5, 6, 6]);
  });
});

describe('style memory: guesses', () => {
  const train = piece(400, 7);
  const memory = new StyleMemory(Uint8Array.from(tokens(train)), DEFAULT_MEMORY_SETTINGS, ALL(0.5));

  it('a context copied from the training notes gets their next pitch, with a long match', () => {
    for (const at of [50, 133, 250]) {
      const ctx = tokens(train.slice(at - 30, at)).slice(0, -1); // ends with the separator before note `at`
      const [dt, dur, pitch] = train[at];
      const g = memory.guess([...ctx, SEP, dt, dur])!;
      expect(g.field).toBe('pitch');
      expect(g.matchLength).toBeGreaterThanOrEqual(16);
      // the chord's pitches share the mass; the true one gets at least half of it
      expect(g.probs[pitch]).toBeGreaterThanOrEqual(0.5);
      expect(g.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      // the dt field: centred on the true gap
      const d = memory.guess([...ctx, SEP])!;
      expect(d.field).toBe('dt');
      expect(d.probs.indexOf(Math.max(...d.probs))).toBe(dt);
    }
  });

  it('matches a chord played in another order (rolled or spread), since chords are compared as sets', () => {
    const at = 200;
    const notes = train.slice(at - 30, at).map((n) => [...n] as [number, number, number]);
    // swap the order of every two-note chord (the second note then comes 2 quanta after the first)
    for (let i = 1; i < notes.length; i++) {
      if (notes[i][0] === 0) {
        const [a, b] = [notes[i - 1], notes[i]];
        notes[i - 1] = [a[0], b[1], b[2]];
        notes[i] = [2, a[1], a[2]];
      }
    }
    const ctx = tokens(notes).slice(0, -1);
    const g = memory.guess([...ctx, SEP, train[at][0], train[at][1]])!;
    expect(g.matchLength).toBeGreaterThanOrEqual(16);
    expect(g.probs[train[at][2]]).toBeGreaterThanOrEqual(0.5);
  });

  it('scales the timing it proposes by the tempo of the context (played twice as slowly: twice the gap)', () => {
    const at = 120;
    const slow = train.slice(at - 30, at).map(([dt, dur, p]) => [dt * 2, dur, p] as [number, number, number]);
    const g = memory.guess([...tokens(slow).slice(0, -1), SEP])!;
    expect(g.probs.indexOf(Math.max(...g.probs))).toBe(train[at][0] * 2);
  });

  it('scales the durations it proposes by how long the context holds its notes (held twice as long, same tempo)', () => {
    const at = 120;
    const legato = train.slice(at - 30, at).map(([dt, dur, p]) => [dt, dur * 2, p] as [number, number, number]);
    const g = memory.guess([...tokens(legato).slice(0, -1), SEP, train[at][0]])!;
    expect(g.field).toBe('dur');
    expect(g.exact!.indexOf(Math.max(...g.exact!))).toBe(train[at][1] * 2);
    // the tempo ratio alone (articulation off) proposes the training duration
    const plain = new StyleMemory(Uint8Array.from(tokens(train)), { ...DEFAULT_MEMORY_SETTINGS, articulation: false }, ALL(0.5));
    const p = plain.guess([...tokens(legato).slice(0, -1), SEP, train[at][0]])!;
    expect(p.exact!.indexOf(Math.max(...p.exact!))).toBe(train[at][1]);
  });

  it('with chordDurations, proposes for a chord\'s note the durations of the aligned chord\'s notes not played yet', () => {
    // A phrase of single notes, then the chord {48 held 40, 72 held 6}, the bass struck first; played back the same.
    const phrase = piece(24, 31).filter(([dt]) => dt > 3);
    const chordNotes: [number, number, number][] = [[10, 40, 48], [1, 6, 72]];
    const remembered = Uint8Array.from(tokens([...phrase, ...chordNotes, [10, 8, 60]]));
    const ctx = tokens(phrase).slice(0, -1);
    const peaks = (probs: Float64Array) => [6, 40].map((d) => probs[d] > 0.01); // σ grows with the duration: 40 peaks near 0.05
    const byOrder = new StyleMemory(remembered, { ...DEFAULT_MEMORY_SETTINGS, articulation: false, chordDurations: false }, ALL(0.5));
    const byChord = new StyleMemory(remembered, { ...DEFAULT_MEMORY_SETTINGS, articulation: false, chordDurations: true }, ALL(0.5));
    // The chord's first note, whichever it is: the stream's order says the bass; by chord, either of the two.
    const first = [...ctx, SEP, 10];
    expect(peaks(byOrder.guess(first)!.exact!)).toEqual([false, true]);
    expect(peaks(byChord.guess(first)!.exact!)).toEqual([true, true]);
    // Once this performer has struck the top note first, the note left is the bass: its duration alone.
    const second = [...ctx, SEP, 10, 6, 72, SEP, 1];
    expect(peaks(byChord.guess(second)!.exact!)).toEqual([false, true]);
    expect(peaks(byOrder.guess(second)!.exact!)).toEqual([true, false]); // the stream's second note: the top one again
  });

  it('proposes its timing less sharply where the context\'s rubato differs from the matched performance\'s', () => {
    const at = 120;
    const same = train.slice(at - 30, at);
    // the same notes with every other chord-to-chord gap stretched and the next one shrunk (same overall tempo)
    let flip = false;
    const pushed = same.map(([dt, dur, p]) => {
      if (dt === 0) return [dt, dur, p] as [number, number, number];
      flip = !flip;
      return [Math.round(dt * (flip ? 1.5 : 0.6)), dur, p] as [number, number, number];
    });
    const peak = (m: StyleMemory, notes: [number, number, number][]) => Math.max(...m.guess([...tokens(notes).slice(0, -1), SEP])!.exact!);
    expect(peak(memory, pushed)).toBeLessThan(peak(memory, same) * 0.6);
    const unwidened = new StyleMemory(Uint8Array.from(tokens(train)), { ...DEFAULT_MEMORY_SETTINGS, rubatoWidening: 0 }, ALL(0.5));
    expect(peak(unwidened, pushed)).toBeGreaterThan(peak(memory, pushed) * 1.5);
  });

  it('served, each guess is multiplied by the GPT\'s distribution to its exponent: the memory says which notes, the GPT which first', () => {
    // A chord {48, 60} is due; the memory gives both pitches 1/2, the GPT prefers 48 ten to one.
    const exact = new Float64Array(128);
    exact[48] = exact[60] = 0.5;
    const near = new Float64Array(128);
    near[60] = 1;
    const logProbs = new Float64Array(128).fill(Math.log(0.01 / 126));
    logProbs[48] = Math.log(0.9);
    logProbs[60] = Math.log(0.09);
    const guess = { exact, near: { probs: near, similarity: 1 }, exactWeight: 0.8, nearWeight: 0.25, refine: [1, 1] as [number, number] };
    const refined = refinedGuesses(logProbs, guess);
    expect(refined.exact![48]).toBeCloseTo(0.9 / 0.99, 12);
    expect(refined.exact![60]).toBeCloseTo(0.09 / 0.99, 12);
    expect(refined.near![60]).toBeCloseTo(1, 12); // a single pitch stays itself
    const mixed = mixWithGuess(logProbs, guess);
    expect(mixed.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(mixed[48]).toBeCloseTo(0.75 * (0.2 * 0.9 + 0.8 * (0.9 / 0.99)), 12);
    expect(mixed[60]).toBeCloseTo(0.75 * (0.2 * 0.09 + 0.8 * (0.09 / 0.99)) + 0.25, 12);
    // exponent 0: the guesses as they are, i.e. the plain mix (1 − w)·GPT + w·memory
    const plain = mixWithGuess(logProbs, { ...guess, refine: [0, 0] });
    expect(plain[48]).toBeCloseTo(0.75 * (0.2 * 0.9 + 0.8 * 0.5), 12);
  });

  it('has no guess for music it does not hold, nor for the separator', () => {
    const other = piece(40, 99999, 13).map(([dt, dur, p]) => [dt, dur, p + 1] as [number, number, number]);
    const g = memory.guess(tokens(other));
    expect(g === undefined || g.matchLength < 8).toBe(true);
    expect(memory.guess(tokens(train.slice(0, 20)).slice(0, -1))).toBeUndefined(); // next token: a separator
  });
});

describe('style memory: pitch neighbours', () => {
  it('finds the places whose recent pitches are most alike (cosine of decayed bags), as a brute-force search does', () => {
    const pitch = Uint8Array.from(piece(300, 13).map((n) => n[2]));
    const settings = { notes: 6, decay: 0.8, k: 5, temperature: 0.05 };
    const near = new PitchNeighbours(pitch, settings);
    const bag = (ps: number[]) => {
      const b = new Float64Array(128);
      ps.slice(-settings.notes).reverse().forEach((p, j) => (b[p] += settings.decay ** j));
      const norm = Math.hypot(...b);
      return b.map((x) => x / norm);
    };
    const recent = [...pitch.subarray(100, 106)].reverse(); // a query that is not literally in the stream
    const q = bag(recent);
    const sims = Array.from({ length: pitch.length - 1 }, (_, i) => i + 1).map((k) => {
      const key = bag([...pitch.subarray(Math.max(0, k - settings.notes), k)]);
      return { k, s: key.reduce((a, x, i) => a + x * q[i], 0) };
    });
    sims.sort((a, b) => b.s - a.s || a.k - b.k);
    const top = sims.slice(0, settings.k);
    const g = near.find(recent)!;
    expect(g.similarity).toBeCloseTo(top[0].s, 5);
    expect(g.places).toEqual(top.map((t) => t.k));
    const z = top.reduce((a, t) => a + Math.exp((t.s - top[0].s) / settings.temperature), 0);
    top.forEach((t, i) => expect(g.weights[i]).toBeCloseTo(Math.exp((t.s - top[0].s) / settings.temperature) / z, 4));
  });

  it('still finds a passage after a note was changed, where the exact match breaks', () => {
    const train = piece(400, 17);
    const memory = new StyleMemory(Uint8Array.from(tokens(train)), DEFAULT_MEMORY_SETTINGS, ALL(0.5, 0.5));
    const at = 300;
    const notes = train.slice(at - 20, at).map((n) => [...n] as [number, number, number]);
    notes[notes.length - 2][2] += 1; // a wrong note two notes back
    const g = memory.guess([...tokens(notes).slice(0, -1), SEP, train[at][0], train[at][1]])!;
    expect(g.matchLength).toBeLessThan(8);
    expect(g.near!.similarity).toBeGreaterThan(0.9);
    expect(g.near!.probs[train[at][2]]).toBeGreaterThan(0.5);
    expect(g.weight).toBeCloseTo(1 - (1 - memory.weightOf('pitch', g.matchLength)) * (1 - memory.nearWeight('pitch', g.matchLength, g.near!.similarity)), 12);
    expect(nearCell(g.matchLength, g.near!.similarity)).toBeGreaterThan(0);
    // the neighbours' timing: the next note's dt there, played 1.5× as slowly here → 1.5× the gap
    const slow = notes.map(([dt, dur, p]) => [Math.round(dt * 1.5), dur, p] as [number, number, number]);
    const d = memory.guess([...tokens(slow).slice(0, -1), SEP])!;
    expect(d.near!.probs.indexOf(Math.max(...d.near!.probs))).toBe(Math.round(train[at][0] * 1.5));
  });
});

describe('style memory: chords played in another order', () => {
  it('neither guess proposes a pitch the current chord already has: the rest of that chord instead', () => {
    const train = piece(400, 23);
    const memory = new StyleMemory(Uint8Array.from(tokens(train)), DEFAULT_MEMORY_SETTINGS, ALL(0.5, 0.5));
    // a two-note chord in the training notes (second note dt 0), played here lower note first
    const at = train.findIndex((n, i) => i > 100 && n[0] === 0);
    const [upper, lower] = [train[at - 1], train[at]];
    const ctx = [...tokens(train.slice(at - 25, at - 1)).slice(0, -1), SEP, upper[0], lower[1], lower[2], SEP, 0, upper[1]];
    const g = memory.guess(ctx)!;
    expect(g.field).toBe('pitch');
    expect(g.exact![upper[2]]).toBeGreaterThan(0.5);
    // the nearest places are this chord in the training notes, where the lower note came second: its upper note instead
    expect(g.near!.probs[lower[2]]).toBe(0);
    expect(g.near!.probs[upper[2]]).toBeGreaterThan(0.3);
  });
});

describe('style memory: files', () => {
  it('saves the training tokens with their sha256, loads them back, and refuses a damaged file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-memory-'));
    const train = Uint8Array.from(tokens(piece(100, 3)));
    const original = new StyleMemory(train, DEFAULT_MEMORY_SETTINGS, ALL(0.25));
    const saved = saveMemory(dir, original, { corpus: 'tiny', licence: 'test' });
    expect(saved.source.sha256).toBe(sha256(train));
    expect(new Uint8Array(readFileSync(join(dir, saved.source.file)))).toEqual(train);
    const loaded = loadMemory(dir)!;
    expect(loaded.weights).toEqual(ALL(0.25));
    expect(loaded.notes).toBe(original.notes);
    expect(loaded.guess(train.subarray(0, 41))).toEqual(original.guess(train.subarray(0, 41)));
    // a rebuilt memory replaces the old tokens file
    const train2 = Uint8Array.from(tokens(piece(90, 4)));
    const saved2 = saveMemory(dir, new StyleMemory(train2), { corpus: 'tiny', licence: 'test' });
    expect(readdirSync(dir).filter((f) => f.endsWith('.bin'))).toEqual([saved2.source.file]);
    const copy = mkdtempSync(join(tmpdir(), 'maestro-memory-copy-'));
    expect(copyMemory(dir, copy)).toBe(true);
    expect(loadMemory(copy)!.trainTokens).toEqual(train2);
    expect(loadMemory(copy)!.settings.views).toEqual(DEFAULT_MEMORY_SETTINGS.views);
    // views that are not views: a clear error (compose then serves the GPT alone, with a warning)
    const json = JSON.parse(readFileSync(join(copy, 'memory.json'), 'utf8'));
    for (const views of [[-2, 0, 2], [], [{ semitones: 1, tempo: 9 }], [{ semitones: 0.5, tempo: 1 }], [{ semitones: 0, tempo: 1, weight: 0 }], [{ semitones: 0, tempo: 1, weight: 'more' }], [{ semitones: 0, tempo: 1, weight: true }]]) {
      writeFileSync(join(copy, 'memory.json'), JSON.stringify({ ...json, settings: { ...json.settings, views } }));
      expect(() => loadMemory(copy)).toThrow(/settings\.views must be 1–16 views/);
    }
    writeFileSync(join(dir, saved2.source.file), Uint8Array.from([...train2.subarray(1), 60]));
    expect(() => loadMemory(dir)).toThrow(ModelLoadError);
    expect(() => loadMemory(dir)).toThrow(/sha256/);
    expect(loadMemory(mkdtempSync(join(tmpdir(), 'maestro-no-memory-')))).toBeUndefined();
    expect(existsSync(join(dir, 'memory.json'))).toBe(true);
  });
});

describe('style memory: fitting and evaluation', () => {
  let model: GPT;
  beforeAll(async () => {
    model = await createTinyModel(5);
  });

  it('fits a high weight where the memory is right and none where it is wrong', () => {
    const votes: MemoryVote[] = [];
    for (let i = 0; i < 200; i++) {
      votes.push({ window: i % 10, field: 2, bucket: 4, model: 0.1, memory: 0.9 }); // pitch, long matches: memory right
      votes.push({ window: i % 10, field: 0, bucket: 1, model: 0.3, memory: 0 }); // dt, short matches: memory wrong
    }
    for (let i = 0; i < MIN_VOTES - 1; i++) votes.push({ window: 0, field: 1, bucket: 6, model: 0.1, memory: 0.9 }); // dur: too few to judge
    const w = fitWeights(votes);
    expect(w.pitch[4]).toBeGreaterThanOrEqual(0.9);
    expect(w.dt[1]).toBe(0);
    expect(w.pitch[0]).toBe(0);
    expect(w.dur[6]).toBe(0);
    // …unless the bucket below it has a weight: a longer match is never less sure than a shorter one
    expect(w.pitch[5]).toBe(w.pitch[4]);
    expect(w.pitch[6]).toBe(w.pitch[4]);
    expect(w.dt[2]).toBe(0);
  });

  it('chooses each field\'s refinement exponents by the loss of the mix fitted for them', () => {
    const votes: MemoryVote[] = [];
    for (let i = 0; i < MIN_VOTES + 10; i++) {
      // pitch: the exact guess is best refined at 0.5, the neighbours' at 0.75 (probabilities of the true token per exponent)
      votes.push({ window: i % 4, field: 2, bucket: 4, model: 0.1, memory: 0.2, near: { p: 0.1, cell: nearCell(16, 0.99) }, refined: { exact: [0.2, 0.3, 0.9, 0.5, 0.4], near: [0.1, 0.1, 0.2, 0.99, 0.3] } });
      // dt: refining only hurts
      votes.push({ window: i % 4, field: 0, bucket: 4, model: 0.1, memory: 0.6, refined: { exact: [0.6, 0.5, 0.4, 0.3, 0.2] } });
    }
    const chosen = chooseRefinement(votes);
    expect(chosen.pitch).toEqual([0.5, 0.75]);
    expect(chosen.dt[0]).toBe(0);
    const mapped = withRefinement(votes, chosen);
    expect(mapped[0]).toMatchObject({ memory: 0.9, near: { p: 0.99 } });
    expect(mapped[1].memory).toBe(0.6);
    const plain: MemoryVote = { window: 0, field: 2, bucket: 4, model: 0.1, memory: 0.3 };
    expect(withRefinement([plain], chosen)[0]).toBe(plain); // no options: as it was
  });

  it('on validation windows that repeat the training notes, the mix beats the GPT alone, and evaluation agrees with the fit', () => {
    const train = piece(300, 11);
    const val = Uint8Array.from(tokens(train.slice(100, 200)));
    const memory = new StyleMemory(Uint8Array.from(tokens(train)));
    const seqLen = 32;
    const votes = collectVotes(model, memory, val, seqLen);
    // a tiny corpus: every cell counts, however few its votes
    memory.weights = fitWeights(votes.votes, () => true, 1);
    // The GPT's part of the mix is the mean of its views of the context (the default settings have them).
    expect(memory.settings.views!.length).toBeGreaterThan(1);
    const gpt = modelLoss(votes);
    const mixed = mixedLoss(votes, memory.weights);
    expect(mixed).toBeLessThan(gpt - 1); // an untrained model (~ln 128 nats) against notes the memory holds
    expect(crossValidated(votes, 1)).toBeLessThan(gpt - 1);
    const starts = windowStarts(val.length, seqLen);
    const plain = evaluateWindows(model, val, seqLen, starts);
    const served = evaluateWindows(model, val, seqLen, starts, 16, undefined, memory);
    expect(served.modelLoss).toBeCloseTo(plain.loss, 6);
    expect(plain.loss / plain.tokens).toBeCloseTo(votes.plainLoss / votes.tokens, 4);
    expect(served.loss / served.tokens).toBeCloseTo(mixed, 4);
    expect(served.correct).toBeGreaterThan(plain.correct);
    // with every weight 0 the mix is the GPT's part alone: the plain GPT when there are no views
    memory.weights = ALL(0);
    expect(evaluateWindows(model, val, seqLen, starts, 16, undefined, memory).loss / plain.tokens).toBeCloseTo(gpt, 4);
    const plainMemory = new StyleMemory(memory.trainTokens, { ...memory.settings, views: [PLAIN_VIEW] }, ALL(0));
    expect(evaluateWindows(model, val, seqLen, starts, 16, undefined, plainMemory).loss).toBeCloseTo(plain.loss, 6);
  });

  it('sampling: the memory steers a short remembered start toward what followed it, but quotes at most a phrase', () => {
    const train = piece(300, 21);
    // The plain context only: how views change the GPT's part is views.test's; here they would only reorder the draws.
    const memory = new StyleMemory(Uint8Array.from(tokens(train)), { ...DEFAULT_MEMORY_SETTINGS, views: [PLAIN_VIEW] }, ALL(0.99));
    const req = { seconds: 3, candidates: 2, seed: 3, temperature: 1, topK: 0, topP: 1 };
    const pitchesOf = (toks: number[]) => toks.filter((_, i) => i % 4 === 2);
    // Five remembered notes: a match shorter than the quote limit, so the memory has its say.
    const prompt = tokens(train.slice(100, 105));
    const next = train.slice(105, 108).map((n) => n[2]);
    expect(memory.guess(prompt)!.matchLength).toBeLessThan(MEMORY_QUOTE_LIMIT);
    const withMem = sampleContinuation(model, gigaTokenizer, { ...req, prompt, memory });
    expect(sampleContinuation(model, gigaTokenizer, { ...req, prompt, memory })).toEqual(withMem); // deterministic
    const without = sampleContinuation(model, gigaTokenizer, { ...req, prompt });
    const followed = (toks: number[]) => pitchesOf(toks).slice(0, 3).filter((p, i) => p === next[i]).length;
    for (const c of withMem) expect(followed(c)).toBeGreaterThanOrEqual(2);
    for (const c of without) expect(followed(c)).toBeLessThan(2);
    // …and never follows it much past MEMORY_QUOTE_LIMIT: the longest chord run it shares with the training notes.
    for (const c of withMem) {
      const whole = [...prompt, ...c];
      let longest = 0;
      for (let i = prompt.length; i <= whole.length; i += 4) longest = Math.max(longest, memory.guess(whole.slice(0, i))?.matchLength ?? 0);
      expect(longest).toBeLessThanOrEqual(MEMORY_QUOTE_LIMIT + 4);
      expect(pitchesOf(c).length).toBeGreaterThan(5); // long enough to have met the limit
    }
  });
});

describe('style memory: composing with a track', () => {
  let model: GPT;
  beforeAll(async () => {
    model = await createTinyModel(5);
  });

  it('the track starts on the prompt: a gate that trusts the exact guess only once it has been right follows it from the first note', () => {
    const train = piece(300, 21);
    // The gate: log a = −20 + 10 · (the exact guess' recent log-ratio to the GPT, all fields); the neighbours never.
    const track = GATE_FEATURES.indexOf('track, all fields: log-ratio of the exact guess to the GPT');
    const exactLogit = GATE_FEATURES.map((_, i) => (i === 0 ? -20 : i === track ? 10 : 0));
    const never = GATE_FEATURES.map((_, i) => (i === 0 ? -30 : 0));
    const gate: MemoryGate = { features: [...GATE_FEATURES], maxContext: 128, exact: { dt: exactLogit, dur: exactLogit, pitch: exactLogit }, near: { dt: never, dur: never, pitch: never } };
    const memory = new StyleMemory(Uint8Array.from(tokens(train)), { ...DEFAULT_MEMORY_SETTINGS, views: [PLAIN_VIEW] }, { ...ALL(0), gate });
    const prompt = tokens(train.slice(100, 104));
    expect(memory.guess(prompt)!.matchLength).toBeLessThan(MEMORY_QUOTE_LIMIT);
    const req = { seconds: 3, candidates: 2, seed: 5, temperature: 1, topK: 0, topP: 1, prompt, memory };
    // The random GPT gives the remembered tokens ~1/128; on the prompt the exact guess gave them much more, so its
    // log-ratio is positive and the gate hands it the first note (an empty track would leave it at e^−20): the
    // remembered pitch (its timing is a spread, tempo-scaled guess, so it is not pinned).
    const first = train[104];
    for (const c of sampleContinuation(model, gigaTokenizer, req)) expect(c[2]).toBe(first[2]);
    const fresh = new StyleMemory(Uint8Array.from(tokens(train)), memory.settings, { ...ALL(0), gate });
    const firstGuess = fresh.guess(prompt)!;
    const row = new Float32Array(128).fill(-Math.log(128));
    expect(fresh.mix(row, firstGuess, new MemoryTrack())![first[0]]).toBeLessThan(0.05); // the same step, no track: the GPT's
  });
});

describe('style memory: promotion', () => {
  it('a promoted model keeps its style\'s memory (the memory belongs to the style, not to one set of weights)', async () => {
    const dir = await createTinyModelsDir(['served', 'candidate']);
    const served = join(dir, 'served');
    const train = Uint8Array.from(tokens(piece(100, 5)));
    saveMemory(served, new StyleMemory(train, DEFAULT_MEMORY_SETTINGS, ALL(0.5)), { corpus: 'tiny', licence: 'test' });
    writeCard(served, { ...readCard(served)!, memory: { file: 'memory.json', valLoss128: 1.5 } });
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(promote(join(dir, 'candidate'), served, 1)).toBe(true);
      expect(log.mock.calls.flat().join('\n')).toMatch(/kept the style memory/);
    } finally {
      log.mockRestore();
    }
    expect(readCard(served)).toMatchObject({ name: 'candidate', memory: { valLoss128: 1.5, note: expect.stringMatching(/refit/) } });
    expect(loadMemory(served)!.trainTokens).toEqual(train);
    expect(loadMemory(`${served}.previous`)!.trainTokens).toEqual(train); // rollback keeps it too
  });
});

describe('style memory: promotion compares as served', () => {
  it('fits the style memory against the candidate first, and the two losses with memory decide', async () => {
    const data = tinyCorpus();
    const dir = await createTinyModelsDir(['served', 'candidate']);
    const [served, candidate] = [join(dir, 'served'), join(dir, 'candidate')];
    // The style's own settings (its views here) are what the candidate's memory is fitted with.
    fitMemoryInto(served, data, { settings: { ...DEFAULT_MEMORY_SETTINGS, views: defaultViews(1, 0.1) } });
    const setServedLoss = (loss: number) => {
      const json = readMemoryFile(served)!;
      writeFileSync(join(served, 'memory.json'), JSON.stringify({ ...json, fit: { ...json.fit, valLoss: loss } }));
    };
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      // The candidate's GPT alone (-1) beats anything, but the served mix is better than any mix can be: kept.
      setServedLoss(1e-6);
      expect(promote(candidate, served, -1, { dataDirs: [dirname(data)] })).toBe(false);
      expect(log.mock.calls.flat().join('\n')).toMatch(/fitting the style memory .* against .*candidate[\s\S]*not promoted: validation loss with the style memory/);
      const fitted = fittedMemoryLoss(candidate);
      expect(fitted).toBeGreaterThan(0);
      expect(readMemoryFile(candidate)!.source.sha256).toBe(readMemoryFile(served)!.source.sha256);
      expect(readMemoryFile(candidate)!.settings.views).toEqual(defaultViews(1, 0.1));
      expect((readMemoryFile(candidate)!.fit as { command: string }).command).toMatch(/--views 1 --view-tempo 0\.1 \(by promote\)/);
      // A served mix worse than the candidate's: promoted, with the memory fitted against it (not fitted again).
      log.mockClear();
      setServedLoss(99);
      expect(promote(candidate, served, 99, { dataDirs: [dirname(data)] })).toBe(true);
      expect(log.mock.calls.flat().join('\n')).not.toMatch(/fitting the style memory/);
      expect(fittedMemoryLoss(served)).toBe(fitted);
      expect(readCard(served)).toMatchObject({ memory: { valLoss128: fitted } });
      // Without the memory's corpus the candidate cannot be fitted: the GPTs alone are compared.
      log.mockClear();
      const other = (await createTinyModelsDir(['next'])) + '/next';
      writeCard(served, { ...readCard(served)!, metrics: { valLoss128: 5 } });
      expect(promote(other, served, 6, { dataDirs: [] })).toBe(false);
      expect(log.mock.calls.flat().join('\n')).toMatch(/not promoted: validation loss 6\.0000 is worse than the served model's 5\.0000/);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  });
});

describe('maestro memory (CLI)', () => {
  it('builds a model\'s memory from a corpus\' training part, fits it on the validation part, and records it in the card', async () => {
    const data = tinyCorpus();
    const dir = await createTinyModelsDir(['style']);
    const model = join(dir, 'style');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      // The GPT's part as the plain context first: then weights 0 (on the grid) are the GPT alone.
      expect(await runMemory(['--data', data, '--model', model, '--views', '0'])).toBe(0);
      expect(log.mock.calls.flat().join('\n')).toMatch(/GPT alone \d\.\d{4}, with memory \d\.\d{4}/);
      const plain = readCard(model)!.memory as { valLoss128: number; gptValLoss128: number };
      expect(plain.valLoss128).toBeLessThanOrEqual(plain.gptValLoss128);
      expect(readMemoryFile(model)!.settings.views).toEqual([PLAIN_VIEW]);
      expect(await runMemory(['--data', data, '--model', model, '--views', '1', '--view-tempo', '0.1'])).toBe(0);
      expect(readMemoryFile(model)!.settings.views).toEqual(defaultViews(1, 0.1));
      expect(await runMemory(['--data', data, '--model', model, '--views', '1', '--plain-weight', '2'])).toBe(0);
      expect(readMemoryFile(model)!.settings.views).toEqual([{ semitones: -1, tempo: 1 }, { ...PLAIN_VIEW, weight: 2 }, { semitones: 1, tempo: 1 }]);
      expect(loadMemory(model)!.settings.views![1].weight).toBe(2);
      expect(await runMemory(['--data', data, '--model', model])).toBe(0);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const memory = loadMemory(model)!;
    expect(memory.trainTokens).toEqual(new Uint8Array(readFileSync(join(data, 'train.bin'))));
    const card = readCard(model)!;
    expect(card.memory).toMatchObject({ file: 'memory.json', valLoss128: expect.any(Number), gptValLoss128: expect.any(Number) });
    expect(readMemoryFile(model)!.settings.views).toEqual(DEFAULT_MEMORY_SETTINGS.views);
    // the refinement exponents it chose are in memory.json, and the loaded memory uses them
    const refine = readMemoryFile(model)!.settings.refineByModel!;
    for (const f of ['dt', 'dur', 'pitch'] as const) for (const b of refine[f]!) expect(REFINE_GRID).toContain(b);
    expect(memory.settings.refineByModel).toEqual(refine);
  });

  it('answers bad input with a message and exit code 2', async () => {
    const e = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await runMemory(['--model', 'x'])).toBe(2);
      expect(await runMemory(['--data', mkdtempSync(join(tmpdir(), 'maestro-empty-')), '--model', 'x'])).toBe(2);
      expect(e.mock.calls.flat().join('\n')).toMatch(/has no train\.bin/);
      expect(await runMemory(['--data', tinyCorpus(), '--model', mkdtempSync(join(tmpdir(), 'maestro-empty-'))])).toBe(2);
      const model = join(await createTinyModelsDir(['style']), 'style');
      expect(await runMemory(['--data', tinyCorpus(), '--model', model, '--chord-gap', '-1'])).toBe(2);
      expect(e.mock.calls.flat().join('\n')).toMatch(/chord-gap/);
      expect(await runMemory(['--data', tinyCorpus(), '--model', model, '--views', '9'])).toBe(2);
      expect(e.mock.calls.flat().join('\n')).toMatch(/views/);
      expect(await runMemory(['--data', tinyCorpus(), '--model', model, '--view-tempo', 'fast'])).toBe(2);
      expect(e.mock.calls.flat().join('\n')).toMatch(/--view-tempo must be a number from 0 to 0\.5, not "fast"/);
      expect(await runMemory(['--data', tinyCorpus(), '--model', model, '--plain-weight', '0'])).toBe(2);
      expect(e.mock.calls.flat().join('\n')).toMatch(/--plain-weight must be a number above 0 and at most 16, not "0"/);
    } finally {
      e.mockRestore();
    }
  });
});

describe('style memory: serving', () => {
  it('compose uses a style\'s memory, and serves the GPT alone (with a warning) when the memory is damaged', async () => {
    const { getModel } = await import('../src/compose.js');
    const modelsDir = await createTinyModelsDir(['remembering']);
    const dir = join(modelsDir, 'remembering');
    const saved = saveMemory(dir, new StyleMemory(Uint8Array.from(tokens(piece(100, 8))), DEFAULT_MEMORY_SETTINGS, ALL(0.5)), { corpus: 'tiny', licence: 'test' });
    expect((await getModel('remembering', modelsDir)).memory?.notes).toBeGreaterThan(100);
    writeFileSync(join(dir, saved.source.file), Uint8Array.of(1, 2, 3));
    writeFileSync(join(dir, 'memory.json'), `${readFileSync(join(dir, 'memory.json'), 'utf8')} `); // a new version (its size changed): reloaded
    const warn = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const served = await getModel('remembering', modelsDir);
      expect(served.memory).toBeUndefined();
      expect(served.model).toBeDefined();
      expect(warn.mock.calls.flat().join('\n')).toMatch(/remembering memory is unusable.*sha256/);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('style memory: the bot', () => {
  it('a /compose memory:False job reaches compose() as memory: false; without the option, compose decides (with memory)', async () => {
    const { createPipelineService } = await import('../src/worker/compose-service.js');
    const { UnknownStyleError } = await import('../src/compose.js');
    const seen: { memory?: boolean }[] = [];
    const service = createPipelineService({
      modelsDir: 'unused',
      compose: async (req) => {
        seen.push(req);
        throw new UnknownStyleError('stop here');
      },
    });
    const settings = { style: 'baroque', seconds: 10, temperature: 1, topP: 0.96, seed: 1, candidates: 1 };
    await expect(service({ promptMidi: null, settings: { ...settings, memory: false }, maxFileBytes: 1e7 }, () => {})).rejects.toThrow();
    await expect(service({ promptMidi: null, settings, maxFileBytes: 1e7 }, () => {})).rejects.toThrow();
    expect(seen.map((r) => r.memory)).toEqual([false, undefined]);
  });
});

/** Saves `memory` to a new directory and loads it back: the gate survives, and evaluation serves the same loss. */
function savedAndReloaded(model: GPT, memory: StyleMemory, val: Uint8Array, seqLen: number, starts: number[], servedLoss: number): { dir: string; json: ReturnType<typeof JSON.parse> } {
  const dir = mkdtempSync(join(tmpdir(), 'maestro-gate-'));
  saveMemory(dir, memory, { corpus: 'tiny', licence: 'test' });
  const loaded = loadMemory(dir)!;
  expect(loaded.weights.gate).toEqual(memory.weights.gate);
  expect(evaluateWindows(model, val, seqLen, starts, 16, undefined, loaded).loss).toBeCloseTo(servedLoss, 9);
  return { dir, json: JSON.parse(readFileSync(join(dir, 'memory.json'), 'utf8')) };
}

describe('style memory: the gate', () => {
  let model: GPT;
  beforeAll(async () => {
    model = await createTinyModel(5);
  });
  const at = (name: string) => GATE_FEATURES.indexOf(name as (typeof GATE_FEATURES)[number]);

  it('mixes (GPT + a·exact + b·neighbours) / (1 + a + b), log a and log b linear in the position\'s features', () => {
    const logProbs = new Float64Array(128).fill(Math.log(0.5 / 126));
    logProbs[60] = Math.log(0.25);
    logProbs[64] = Math.log(0.25);
    const exact = new Float64Array(128);
    exact[60] = 1;
    const near = new Float64Array(128);
    near[64] = 1;
    const bias = (w: number) => GATE_FEATURES.map((_, i) => (i === 0 ? Math.log(w) : 0));
    const gate: MemoryGate = { features: [...GATE_FEATURES], maxContext: 128, exact: { pitch: bias(4) }, near: { pitch: bias(1) } };
    const guess = { field: 'pitch' as const, matchLength: 8, contextTokens: 40, exact, near: { probs: near, similarity: 0.9 }, exactWeight: 0, nearWeight: 0, refine: [0, 0] as [number, number] };
    const mixed = mixWithGuess(logProbs, guess, gate);
    expect(mixed[60]).toBeCloseTo((0.25 + 4) / 6, 12);
    expect(mixed[64]).toBeCloseTo((0.25 + 1) / 6, 12);
    expect(mixed.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    // an absent guess has no weight: (GPT + 4·exact) / 5
    const { near: _, ...exactOnly } = guess;
    expect(mixWithGuess(logProbs, exactOnly, gate)[60]).toBeCloseTo((0.25 + 4) / 5, 12);
    // a field the gate leaves out is mixed by the tables
    expect(mixWithGuess(logProbs, { ...guess, field: 'dt', exactWeight: 0.5 }, gate)[60]).toBeCloseTo(0.5 * 0.25 + 0.5, 12);
    // the features: the memory's and the GPT's certainty, their agreement, the context (clamped to the fitted length)
    const track = new MemoryTrack();
    track.observe(Math.log(0.25), { field: 'pitch', exact, near: { probs: near, similarity: 0.9 } }, 60);
    const x = gateFeatures(logProbs, exact, near, 8, 0.9, 40, track.features('pitch'));
    expect(x[at('match length ≥ 8')]).toBe(1);
    expect(x[at('match length ≥ 16')]).toBe(0);
    expect(x[at('neighbour similarity ≥ 0.9')]).toBe(1);
    expect(x[at('exact guess: top probability')]).toBe(1);
    expect(x[at('GPT: top probability')]).toBeCloseTo(0.25, 12);
    expect(x[at('log Σ GPT·exact')]).toBeCloseTo(Math.log(0.25 + 1e-9), 9);
    expect(x[at('log Σ exact·neighbours')]).toBeCloseTo(Math.log(1e-9), 9);
    expect(x[at('log context tokens')]).toBeCloseTo(Math.log(40), 12);
    // the track: the exact guess gave the last pitch 1 where the GPT gave 0.25, the neighbours 0
    expect(x[at('track, this field: log-ratio of the exact guess to the GPT')]).toBeCloseTo(Math.log(1 + 1e-4) - Math.log(0.25), 9);
    expect(x[at('track, all fields: log-ratio of the neighbours to the GPT')]).toBeCloseTo(Math.log(1e-4) - Math.log(0.25), 9);
    expect(x[at('track, all fields: log(1 + count of the exact guess)')]).toBeCloseTo(Math.log(2), 12);
    const far = { ...guess, contextTokens: 4000 };
    const tilted: MemoryGate = { ...gate, exact: { pitch: bias(4).map((w, i) => (i === at('log context tokens') ? -1 : w)) } };
    expect(mixWithGuess(logProbs, far, tilted)).toEqual(mixWithGuess(logProbs, { ...far, contextTokens: 128 }, tilted));
  });

  it('tracks how the guesses fared: a decayed mean log-ratio to the GPT and a decayed count, over all fields and per field', () => {
    const track = new MemoryTrack();
    const guess = (field: 'dt' | 'pitch', p: number) => ({ field, exact: Float64Array.from({ length: 128 }, (_, i) => (i === 60 ? p : 0)) });
    expect(track.features('dt')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    track.observe(Math.log(0.5), guess('pitch', 1), 60); // ratio ln((1 + ε)/0.5)
    track.observe(Math.log(0.5), undefined, 60); // no guess: nothing to record
    track.observe(Math.log(0.5), guess('dt', 0.25), 60); // ratio ln((0.25 + ε)/0.5)
    const [r1, r2] = [Math.log(1 + 1e-4) - Math.log(0.5), Math.log(0.25 + 1e-4) - Math.log(0.5)];
    const [allRatio, allCount, fieldRatio, fieldCount, nearRatio, nearCount] = track.features('pitch');
    expect(allRatio).toBeCloseTo((0.8 * r1 + r2) / 1.8, 12); // the older position counts 0.8
    expect(allCount).toBeCloseTo(Math.log(2.8), 12);
    expect(fieldRatio).toBeCloseTo(r1, 12); // pitch saw one position, not decayed by the dt one
    expect(fieldCount).toBeCloseTo(Math.log(2), 12);
    expect([nearRatio, nearCount]).toEqual([0, 0]); // the neighbours never guessed
    expect(track.features('dt')[2]).toBeCloseTo(r2, 12);
  });

  it('learns from the features what one weight per table cell cannot: how sure the memory is where it is right', () => {
    // Same cell (pitch, match 8–15), two kinds of position: the matched performances agree on one note and are
    // right, or split and are wrong. The best one weight for both is a compromise; the gate tells them apart.
    const samples: GateSample[] = [];
    const sure = at('exact guess: top probability');
    for (let i = 0; i < 600; i++) {
      const agree = i % 2 === 0;
      const x = new Float64Array(GATE_FEATURES.length);
      x[0] = 1;
      x[at('match length ≥ 8')] = 1;
      x[sure] = agree ? 0.9 + (i % 7) / 100 : 0.3 + (i % 5) / 100;
      samples.push({ window: i % 20, field: 2, x, p: agree ? [0.05, 0.9, 0] : [0.3, 0.01, 0], hasExact: true, hasNear: false });
    }
    const gate = fitGate(samples, 128);
    expect(gate.exact.dt).toBeUndefined(); // no samples: that field keeps its tables
    const loss = (p: (s: GateSample) => number) => samples.reduce((a, s) => a - Math.log(p(s)), 0) / samples.length;
    const bestConstant = Math.min(...WEIGHT_GRID.map((w) => loss((s) => (1 - w) * s.p[0] + w * s.p[1])));
    const gated = loss((s) => gatedProbability(s, gate)!);
    expect(gated).toBeLessThan(bestConstant - 0.5);
    const [right, wrong] = [samples[0], samples[1]].map((s) => gateWeights(s.x, gate.exact.pitch!, gate.near.pitch!, true, false)[0]);
    expect(right).toBeGreaterThan(0.8);
    expect(wrong).toBeLessThan(0.2);
    expect(gate.exact.pitch![sure]).toBeGreaterThan(0);
  });

  it('finds the principal components of a cloud of states: mean, directions by variance, signs fixed', () => {
    // Spread 3 along (1, 1, 0)/√2 and 1 along (1, −1, 0)/√2, around (5, 5, 5).
    const rows: number[][] = [];
    for (let i = 0; i < 400; i++) {
      const a = 3 * Math.sin(i * 0.37) * Math.SQRT2;
      const b = Math.cos(i * 1.91) * Math.SQRT2;
      rows.push([5 + (a + b) / 2, 5 + (a - b) / 2, 5]);
    }
    const { mean, components } = principalComponents(rows, 2);
    for (let j = 0; j < 3; j++) expect(mean[j]).toBeCloseTo(rows.reduce((s, r) => s + r[j], 0) / rows.length, 5); // kept to 7 significant digits
    expect(components).toHaveLength(2);
    expect(Math.abs(components[0][0])).toBeCloseTo(Math.SQRT1_2, 2);
    expect(components[0][1]).toBeCloseTo(components[0][0], 2);
    expect(Math.abs(components[1][0])).toBeCloseTo(Math.SQRT1_2, 2);
    expect(components[1][1]).toBeCloseTo(-components[1][0], 2);
    for (const c of components) expect(Math.max(...c)).toBeGreaterThan(0.5); // the largest entry is positive
  });

  it('a gate that reads the hidden state tells apart positions that look the same to every other feature', () => {
    // One cell, identical GPT rows and guesses everywhere: only the GPT's state says whether the memory's note is right.
    const logProbs = new Float32Array(128).fill(-Math.log(128));
    const exact = new Float32Array(128);
    exact[60] = 1;
    const votes: MemoryVote[] = [];
    const states: Float32Array[] = [];
    for (let i = 0; i < 800; i++) {
      const right = i % 2 === 0;
      const hidden = Float32Array.from({ length: 8 }, (_, k) => Math.sin(i * (k + 1) * 0.7) * 0.3 + (k === 3 ? (right ? 2 : -2) : 0));
      states.push(hidden);
      votes.push({ window: i % 20, field: 2, bucket: 3, model: 1 / 128, memory: right ? 1 : 0, position: { logProbs, exact, matchLength: 8, similarity: 0, contextTokens: 64, track: new MemoryTrack().features('pitch'), hidden } });
    }
    const projections = hiddenProjections(votes, () => true, 2, 1);
    expect(Object.keys(projections)).toEqual(['pitch']);
    expect(Math.abs(projections.pitch!.components[0][3])).toBeGreaterThan(0.99);
    const plainSamples = gateSamples(votes, {}, 128);
    const hiddenSamples = gateSamples(votes, {}, 128, projections);
    expect(hiddenSamples[0]!.x).toHaveLength(GATE_FEATURES.length + 2);
    const plain = fitGate(plainSamples, 128, () => true, 1);
    const reading = fitGate(hiddenSamples, 128, () => true, 1, projections);
    expect(plain.hidden).toBeUndefined();
    expect(reading.hidden).toEqual({ pitch: projections.pitch });
    const loss = (samples: (GateSample | undefined)[], gate: MemoryGate) => samples.reduce((a, x) => a - Math.log(gatedProbability(x!, gate)!), 0) / samples.length;
    expect(loss(hiddenSamples, reading)).toBeLessThan(loss(plainSamples, plain) - 0.5);
    // Serving reads the same features from the state the GPT gives it.
    const guess = { field: 'pitch' as const, exact: Float64Array.from(exact), refine: [0, 0] as [number, number], exactWeight: 0, nearWeight: 0, matchLength: 8, contextTokens: 64 };
    for (const i of [0, 1]) {
      const y = i === 0 ? 60 : 61;
      expect(mixWithGuess(logProbs, guess, reading, new MemoryTrack().features('pitch'), states[i])[y]).toBeCloseTo(gatedProbability(hiddenSamples[i]!, reading)!, 9);
    }
    expect(() => mixWithGuess(logProbs, guess, reading)).toThrow(/reads the GPT's hidden state/);
    expect(() => mixWithGuess(logProbs, guess, reading, undefined, new Float32Array(5))).toThrow(/width 8, the model gave 5/);
    // A field without states has no projection; asking for one anyway is an error, not silence.
    expect(() => gateSamples(votes.map((v) => ({ ...v, position: { ...v.position!, hidden: undefined } })), {}, 128, projections)).toThrow(/no hidden states/);
  });

  it('a gate that reads the hidden state, fitted on collected votes, serves what the fit measured in evaluation, composing and memory.json', () => {
    const train = piece(300, 11);
    const val = Uint8Array.from(tokens(train.slice(100, 200)));
    const memory = new StyleMemory(Uint8Array.from(tokens(train)));
    const seqLen = 32;
    const votes = collectVotes(model, memory, val, seqLen, undefined, true);
    expect(votes.votes.every((v) => v.position?.hidden?.length === model.config.nEmbd)).toBe(true);
    const projections = hiddenProjections(votes.votes, () => true, 4, 1);
    const samples = gateSamples(votes.votes, memory.settings.refineByModel!, seqLen, projections);
    const weights = fitWeights(votes.votes, () => true, 1);
    memory.weights = { ...weights, gate: fitGate(samples, seqLen, () => true, 1, projections) };
    expect(memory.readsHidden).toBe(true);
    const fitted = mixedLoss(votes, memory.weights, () => true, samples);
    const starts = windowStarts(val.length, seqLen);
    const served = evaluateWindows(model, val, seqLen, starts, 16, undefined, memory);
    expect(served.loss / served.tokens).toBeCloseTo(fitted, 4);
    // held out, each half's components found on the other half
    const cv = crossValidate(votes, 1, seqLen, 1, 4);
    expect(cv.hiddenGate).toHaveLength(3);
    expect(cv.hiddenGate).not.toEqual(cv.gate);
    expect(cvLoss(votes, cv, { 0: 'hidden', 1: 'gate', 2: 'tables' })).toBeCloseTo((cv.rest + cv.hiddenGate![0] + cv.gate![1] + cv.tables[2]) / votes.tokens, 12);
    expect(chooseMixes({ rest: 0, tables: [1, 1, 1], gate: [2, 0.5, 0.4], hiddenGate: [3, 0.6, 0.3] })).toEqual(['tables', 'gate', 'hidden']);
    // composing hands the gate the state (without it, mixWithGuess throws), deterministically
    const prompt = tokens(train.slice(150, 170));
    expect(memory.guess(prompt)).toBeDefined();
    const req = { seconds: 3, candidates: 1, seed: 5, temperature: 1, topK: 0, topP: 0.95, prompt, memory };
    const composed = sampleContinuation(model, gigaTokenizer, req);
    expect(sampleContinuation(model, gigaTokenizer, req)).toEqual(composed);
    expect(composed.length).toBeGreaterThan(0);
    // on disk and back; a projection of the wrong width, or views without the plain context, are refused
    const { dir, json } = savedAndReloaded(model, memory, val, seqLen, starts, served.loss);
    const pitch = json.weights.gate.hidden.pitch;
    writeFileSync(join(dir, 'memory.json'), JSON.stringify({ ...json, weights: { ...json.weights, gate: { ...json.weights.gate, hidden: { ...json.weights.gate.hidden, pitch: { ...pitch, components: pitch.components.slice(1) } } } } }));
    expect(() => loadMemory(dir)).toThrow(/weights\.gate must hold features/);
    writeFileSync(join(dir, 'memory.json'), JSON.stringify({ ...json, settings: { ...json.settings, views: [{ semitones: 1, tempo: 1 }] } }));
    expect(() => loadMemory(dir)).toThrow(/must include the plain view/);
  });

  it('a gate fitted on collected votes serves what the fit measured, and survives memory.json', () => {
    const train = piece(300, 11);
    const val = Uint8Array.from(tokens(train.slice(100, 200)));
    const memory = new StyleMemory(Uint8Array.from(tokens(train)));
    const seqLen = 32;
    const votes = collectVotes(model, memory, val, seqLen);
    const samples = gateSamples(votes.votes, memory.settings.refineByModel!, seqLen);
    expect(samples.every(Boolean)).toBe(true);
    const weights = fitWeights(votes.votes, () => true, 1);
    memory.weights = { ...weights, gate: fitGate(samples, seqLen, () => true, 1) };
    expect(Object.keys(memory.weights.gate!.exact).sort()).toEqual(['dt', 'dur', 'pitch']);
    const gatedLoss = mixedLoss(votes, memory.weights, () => true, samples);
    expect(gatedLoss).toBeLessThan(mixedLoss(votes, weights)); // in sample, it has the tables' cells and more
    const starts = windowStarts(val.length, seqLen);
    const served = evaluateWindows(model, val, seqLen, starts, 16, undefined, memory);
    expect(served.loss / served.tokens).toBeCloseTo(gatedLoss, 4);
    // held out: each half scored by the tables and by a gate fitted on the other half, field by field
    const cv = crossValidate(votes, 1, seqLen, 1);
    expect(cv.gate).toHaveLength(3);
    expect(cv.gate).not.toEqual(cv.tables);
    const allGated = cvLoss(votes, cv, { 0: 'gate', 1: 'gate', 2: 'gate' });
    expect(allGated).toBeCloseTo((cv.rest + cv.gate!.reduce((a, b) => a + b, 0)) / votes.tokens, 12);
    expect(allGated).toBeLessThan(modelLoss(votes) - 1);
    // on disk and back; a gate from another feature list, or with a missing field's half, is refused
    const { dir, json } = savedAndReloaded(model, memory, val, seqLen, starts, served.loss);
    for (const gate of [{ ...json.weights.gate, features: json.weights.gate.features.slice(1) }, { ...json.weights.gate, near: {} }, { ...json.weights.gate, maxContext: 0 }, { ...json.weights.gate, exact: { ...json.weights.gate.exact, dt: [1, 'x'] } }]) {
      writeFileSync(join(dir, 'memory.json'), JSON.stringify({ ...json, weights: { ...json.weights, gate } }));
      expect(() => loadMemory(dir)).toThrow(/weights\.gate must hold features/);
    }
  });
});
