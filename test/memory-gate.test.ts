/**
 * The style memory's gate (src/model/memory-mix.ts, fitted by training/memory-gate.ts): how it mixes, what it reads,
 * and that what the fit measures is what evaluation, composing and memory.json serve.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StyleMemory } from '../src/model/memory.js';
import { mixWithGuess, gateFeatures, gateWeights, MemoryTrack, GATE_FEATURES, type MemoryGate } from '../src/model/memory-mix.js';
import { loadMemory, saveMemory } from '../src/model/memory-store.js';
import { chooseMixes, collectVotes, crossValidate, cvLoss, fitWeights, mixedLoss, modelLoss, WEIGHT_GRID, type MemoryVote } from '../training/memory-fit.js';
import { fitGate, gatedProbability, gateSamples, hiddenProjections, principalComponents, type GateSample } from '../training/memory-gate.js';
import { evaluateWindows, windowStarts } from '../training/evaluate.js';
import { sampleContinuation } from '../src/model/sampler.js';
import { gigaTokenizer } from '../src/music/tokenizer.js';
import { createTinyModel } from './support/tiny-model.js';
import type { GPT } from '../src/model/gpt.js';
import { piece, tokens } from './support/memory-fixtures.js';

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

