import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { combineViews, fieldAfter, shiftPitch, transposeView } from '../src/model/views.js';
import { StyleMemory, DEFAULT_MEMORY_SETTINGS, noWeights } from '../src/model/memory.js';
import { evaluateWindows, forEachTarget, windowStarts } from '../training/evaluate.js';
import { collectVotes } from '../training/memory-fit.js';
import { sampleContinuation } from '../src/model/sampler.js';
import { gigaTokenizer, SEP } from '../src/music/tokenizer.js';
import { createTinyModel } from './support/tiny-model.js';
import type { GPT } from '../src/model/gpt.js';

function tokens(notes: [number, number, number][]): number[] {
  return [...notes.flatMap(([dt, dur, p]) => [SEP, dt, dur, p]), SEP];
}

const notes: [number, number, number][] = Array.from({ length: 40 }, (_, i) => [i % 3 === 0 ? 0 : 9, 4 + (i % 5), 48 + ((i * 7) % 25)]);

/** The model's log-probabilities for every position of one sequence. */
function logProbs(model: GPT, seq: number[]): Float32Array {
  return tf.tidy(() => tf.logSoftmax(model.forward(tf.tensor2d(seq, [1, seq.length], 'int32'))).dataSync() as Float32Array);
}

describe('transposition views', () => {
  let model: GPT;
  beforeAll(async () => {
    model = await createTinyModel(9);
  });

  it('a view moves every pitch and nothing else, also in a window that starts mid-note', () => {
    const seq = tokens(notes.slice(0, 4));
    expect(transposeView(seq, 2)).toEqual(tokens(notes.slice(0, 4).map(([dt, dur, p]) => [dt, dur, p + 2])));
    // Starting at a note's dur: the first two tokens are its dur and pitch.
    const cut = seq.slice(2);
    const moved = transposeView(cut, -3);
    expect(moved[0]).toBe(cut[0]);
    expect(moved[1]).toBe(cut[1] - 3);
    expect(moved.slice(2)).toEqual(transposeView(seq.slice(4), -3));
    expect(transposeView(seq, 0)).toEqual(seq);
    expect(shiftPitch(125, 3)).toBe(126); // pitch tokens stay pitch tokens
    expect(fieldAfter('dur')).toBe('pitch');
  });

  it('combining: a pitch view\'s belief in x + k is a belief in x; timing views are averaged as they are', () => {
    const peak = (at: number) => Array.from({ length: 128 }, (_, i) => (i === at ? 5 : 0));
    // The plain view believes 60, the view 2 semitones up believes 62: both say 60.
    const pitch = combineViews([peak(60), peak(62)], [0, 2], 'pitch');
    expect(pitch.indexOf(Math.max(...pitch))).toBe(60);
    expect(Math.exp(pitch[60])).toBeGreaterThan(0.5);
    // For a dt the same rows disagree: half of the mass at each.
    const dt = combineViews([peak(60), peak(62)], [0, 2], 'dt');
    expect(Math.exp(dt[60])).toBeCloseTo(Math.exp(dt[62]), 9);
    for (const out of [pitch, dt]) expect(out.reduce((a, x) => a + Math.exp(x), 0)).toBeCloseTo(1, 9);
    // One plain view: its own normalised distribution.
    const row = Array.from({ length: 128 }, (_, i) => Math.sin(i));
    const logZ = Math.log(row.reduce((a, x) => a + Math.exp(x), 0));
    expect(Array.from(combineViews([row], [0], 'pitch'))).toEqual(row.map((x) => expect.closeTo(x - logZ, 9)));
  });

  it('evaluation runs every window through each view and combines them; the GPT alone stays the plain context', () => {
    const stream = Uint8Array.from(tokens(notes));
    const seqLen = 24;
    const starts = windowStarts(stream.length, seqLen).slice(0, 3);
    const views = [-1, 0, 2];
    const seen: { combined: number[]; plain: number[] }[] = [];
    forEachTarget(model, stream, seqLen, starts, 2, (w, s, t, combined, y, plain) => {
      if (w === 1 && (t === 10 || t === 11)) seen.push({ combined: Array.from(combined), plain: Array.from(plain) });
    }, views);
    // By hand, for the second window: input 10 is a dur (its target a pitch), input 11 a pitch (target a separator).
    const window = Array.from(stream.subarray(starts[1], starts[1] + seqLen));
    const rows = views.map((k) => logProbs(model, transposeView(window, k)));
    for (const [i, t] of [10, 11].entries()) {
      const field = fieldAfter((['sep', 'dt', 'dur', 'pitch'] as const)[(starts[1] + t) % 4]);
      expect(field).toBe(t === 10 ? 'pitch' : 'sep');
      const expected = combineViews(rows.map((r) => r.subarray(t * 128, (t + 1) * 128)), views, field);
      expect(seen[i].combined).toEqual(Array.from(expected).map((x) => expect.closeTo(x, 4)));
      expect(seen[i].plain).toEqual(Array.from(rows[1].subarray(t * 128, (t + 1) * 128)).map((x) => expect.closeTo(x, 4)));
    }
    // With a memory whose weights are all 0 the served loss is the views' loss; the GPT's own is the plain one.
    const memory = new StyleMemory(stream, { ...DEFAULT_MEMORY_SETTINGS, views }, noWeights());
    const served = evaluateWindows(model, stream, seqLen, starts, 16, undefined, memory);
    const plain = evaluateWindows(model, stream, seqLen, starts);
    expect(served.modelLoss).toBeCloseTo(plain.loss, 6);
    expect(served.loss).not.toBeCloseTo(plain.loss, 3);
    const votes = collectVotes(model, memory, stream, seqLen);
    const all = evaluateWindows(model, stream, seqLen, windowStarts(stream.length, seqLen));
    expect(votes.plainLoss / votes.tokens).toBeCloseTo(all.loss / all.tokens, 5);
  });

  it('sampling with a memory\'s views draws from the combined distribution (greedy pitch: its argmax) and stays in the grammar', () => {
    const prompt = tokens(notes.slice(0, 6));
    const views = [-2, 0, 1];
    const memory = new StyleMemory(Uint8Array.from(tokens(notes)), { ...DEFAULT_MEMORY_SETTINGS, views }, noWeights());
    // Temperature 0 makes the pitch greedy (the rhythm is always drawn from the distribution).
    const req = { prompt, seconds: 60, candidates: 1, seed: 4, temperature: 0, topK: 0, topP: 1, maxTokens: 24 };
    const [greedy] = sampleContinuation(model, gigaTokenizer, { ...req, memory });
    // Each pitch: the argmax over the piano of the views combined over the context so far.
    const context = [...prompt];
    let pitches = 0;
    for (const tok of greedy) {
      const field = gigaTokenizer.fieldAt(context);
      if (field === 'pitch') {
        const rows = views.map((k) => logProbs(model, transposeView(context, k)).subarray((context.length - 1) * 128, context.length * 128));
        const combined = combineViews(rows, views, field);
        const { lo, hi } = gigaTokenizer.allowedRange(field);
        let best = lo;
        for (let i = lo; i <= hi; i++) if (combined[i] > combined[best]) best = i;
        expect(tok).toBe(best);
        pitches++;
      }
      context.push(tok);
    }
    expect(pitches).toBeGreaterThanOrEqual(4);
    expect(gigaTokenizer.decode([...prompt, ...greedy]).notes.length).toBeGreaterThan(6);
    // Sampling is deterministic with views too, and the plain memory ([0]) samples the GPT's own distribution.
    const sampled = { ...req, temperature: 1, seed: 8, maxTokens: 40 };
    expect(sampleContinuation(model, gigaTokenizer, { ...sampled, memory })).toEqual(sampleContinuation(model, gigaTokenizer, { ...sampled, memory }));
    const plainMemory = new StyleMemory(Uint8Array.from(tokens(notes)), { ...DEFAULT_MEMORY_SETTINGS, views: [0] }, noWeights());
    expect(sampleContinuation(model, gigaTokenizer, { ...sampled, memory: plainMemory })).toEqual(sampleContinuation(model, gigaTokenizer, sampled));
  });
});
