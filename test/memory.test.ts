import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { StyleMemory, readContext, DEFAULT_MEMORY_SETTINGS } from '../src/model/memory.js';
import { refinedGuesses, mixWithGuess, bucketOf, nearCell, MemoryTrack, GATE_FEATURES, type MemoryGate } from '../src/model/memory-mix.js';
import { loadMemory, saveMemory, copyMemory, readMemoryFile } from '../src/model/memory-store.js';
import { sha256 } from '../src/util/sha256.js';
import { ModelLoadError } from '../src/model/store.js';
import { SEP } from '../src/music/tokenizer.js';
import { chooseRefinement, collectVotes, crossValidated, fitMemoryInto, fittedMemoryLoss, fitWeights, mixedLoss, modelLoss, MIN_VOTES, REFINE_GRID, withRefinement, type MemoryVote } from '../training/memory-fit.js';
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
import { ALL, piece, tokens } from './support/memory-fixtures.js';

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
      // Another style's corpus: the model's card and the corpus' manifest name different styles.
      const corpus = tinyCorpus();
      writeFileSync(join(corpus, 'manifest.json'), JSON.stringify({ settings: { style: 'romantic' } }));
      writeCard(model, { ...readCard(model)!, data: { manifest: { settings: { style: 'baroque' } } } });
      expect(await runMemory(['--data', corpus, '--model', model])).toBe(2);
      expect(e.mock.calls.flat().join('\n')).toMatch(/is a baroque model and .* a romantic corpus/);
      expect(readMemoryFile(model)).toBeUndefined();
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
