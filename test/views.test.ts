import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { combineViews, defaultViews, fieldAfter, isPlain, PLAIN_VIEW, viewOf, viewArgs, viewPattern, viewToken, type View } from '../src/model/views.js';
import { StyleMemory, DEFAULT_MEMORY_SETTINGS } from '../src/model/memory.js';
import { noWeights } from '../src/model/memory-mix.js';
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

describe('views of the context (transposed, slower, faster)', () => {
  let model: GPT;
  beforeAll(async () => {
    model = await createTinyModel(9);
  });

  it('a view moves every pitch and scales every dt and duration, also in a window that starts mid-note', () => {
    const seq = tokens(notes.slice(0, 4));
    expect(viewOf(seq, { semitones: 2, tempo: 1 })).toEqual(tokens(notes.slice(0, 4).map(([dt, dur, p]) => [dt, dur, p + 2])));
    const slower = { semitones: -1, tempo: 1.1 };
    expect(viewOf(seq, slower)).toEqual(tokens(notes.slice(0, 4).map(([dt, dur, p]) => [Math.round(dt * 1.1), Math.round(dur * 1.1), p - 1])));
    // Starting at a note's dur: the first two tokens are its dur and pitch.
    const cut = seq.slice(2);
    const moved = viewOf(cut, slower);
    expect(moved.slice(0, 2)).toEqual([Math.round(cut[0] * 1.1), cut[1] - 1]);
    expect(moved.slice(2)).toEqual(viewOf(seq.slice(4), slower));
    expect(viewOf(seq, PLAIN_VIEW)).toEqual(seq);
    // Tokens stay in their field's range.
    expect(viewToken(125, 'pitch', { semitones: 3, tempo: 1 })).toBe(126);
    expect(viewToken(120, 'dt', { semitones: 0, tempo: 1.1 })).toBe(126);
    expect(viewToken(1, 'dur', { semitones: 0, tempo: 0.4 })).toBe(1);
    expect(viewToken(SEP, 'sep', slower)).toBe(SEP);
    expect(fieldAfter('dur')).toBe('pitch');
    expect(fieldAfter('pitch')).toBe('sep');
    // maestro memory's views: plain in the middle, the transposed views as they are or alternately slower and faster.
    expect(defaultViews(2)).toEqual([-2, -1, 0, 1, 2].map((k) => (k === 0 ? PLAIN_VIEW : { semitones: k, tempo: 1 })));
    expect(defaultViews(2, 0.1)).toEqual([{ semitones: -2, tempo: 1.1 }, { semitones: -1, tempo: 0.9 }, PLAIN_VIEW, { semitones: 1, tempo: 1.1 }, { semitones: 2, tempo: 0.9 }]);
    expect(isPlain(defaultViews(0))).toBe(true);
    // …and back (what promotion and the training worker pass on to "maestro memory")
    for (const [n, f, w] of [[0, 0, 1], [2, 0, 1], [2, 0.1, 1], [3, 0.15, 1], [2, 0, 2], [1, 0.1, 1.5]]) expect(viewPattern(defaultViews(n, f, w))).toEqual({ n, tempoChange: f, plainWeight: w });
    // A plain weight is the plain view's own (the served JSON of a style without one is unchanged).
    expect(defaultViews(2, 0, 2)[2]).toEqual({ ...PLAIN_VIEW, weight: 2 });
    expect(defaultViews(2, 0, 1)[2]).toEqual(PLAIN_VIEW);
    expect(viewArgs(defaultViews(2, 0.1, 2))).toEqual(['--views', '2', '--view-tempo', '0.1', '--plain-weight', '2']);
    expect(viewArgs(defaultViews(2))).toEqual(['--views', '2']);
    expect(viewPattern([{ semitones: -1, tempo: 1, weight: 2 }, PLAIN_VIEW, { semitones: 1, tempo: 1 }])).toBeUndefined();
    expect(viewPattern([{ semitones: 0, tempo: 1 }, { semitones: 5, tempo: 1 }])).toBeUndefined();
    expect(viewPattern([{ semitones: -1, tempo: 1 }, PLAIN_VIEW, { semitones: 1, tempo: 1.2 }])).toBeUndefined();
  });

  it('combining: a transposed view\'s belief in pitch x + k is a belief in x, a slower view\'s in dt d a belief in d / tempo', () => {
    const peak = (at: number) => Array.from({ length: 128 }, (_, i) => (i === at ? 8 : 0));
    // The plain view believes 60, the view 2 semitones up believes 62: both say 60.
    const up2: View = { semitones: 2, tempo: 1 };
    const pitch = combineViews([peak(60), peak(62)], [PLAIN_VIEW, up2], 'pitch');
    expect(pitch.indexOf(Math.max(...pitch))).toBe(60);
    expect(Math.exp(pitch[60])).toBeGreaterThan(0.5);
    // A transposition leaves a dt alone: the same rows disagree, half of the mass at each.
    const dt = combineViews([peak(60), peak(62)], [PLAIN_VIEW, up2], 'dt');
    expect(Math.exp(dt[60])).toBeCloseTo(Math.exp(dt[62]), 9);
    // Twice as slow, dt 40 there is dt 20 here (the view's bin, of width ½ here, shared by bins 19.75–20.25: all in 20).
    const slow = combineViews([peak(40)], [{ semitones: 0, tempo: 2 }], 'dt');
    expect(slow.indexOf(Math.max(...slow))).toBe(20);
    // 10 % faster, the view's bin 9 covers 9.44–10.56 here: all of bin 10, and 0.056 of bins 9 and 11 each.
    const fast = combineViews([peak(9)], [{ semitones: 0, tempo: 0.9 }], 'dur');
    expect(fast.indexOf(Math.max(...fast))).toBe(10);
    expect(Math.exp(fast[10]) / Math.exp(fast[11])).toBeCloseTo(18, 0);
    expect(fast[9]).toBeCloseTo(fast[11], 6);
    // A duration is never 0, and the separator keeps its own bin.
    const short = combineViews([peak(1)], [{ semitones: 0, tempo: 1.5 }], 'dur');
    expect(Math.exp(short[0])).toBeLessThan(1e-3);
    const end = combineViews([peak(127)], [{ semitones: 0, tempo: 1.5 }], 'dt');
    expect(Math.exp(end[127])).toBeGreaterThan(0.5);
    for (const out of [pitch, dt, slow, fast, short, end]) expect(out.reduce((a, x) => a + Math.exp(x), 0)).toBeCloseTo(1, 9);
    // A view of weight 2 counts as that view twice.
    const a = Array.from({ length: 128 }, (_, i) => Math.cos(i / 3));
    const b = Array.from({ length: 128 }, (_, i) => Math.sin(i / 5));
    const weighted = combineViews([a, b], [{ ...PLAIN_VIEW, weight: 2 }, up2], 'pitch');
    expect(Array.from(weighted)).toEqual(Array.from(combineViews([a, a, b], [PLAIN_VIEW, PLAIN_VIEW, up2], 'pitch')).map((x) => expect.closeTo(x, 9)));
    expect(Array.from(weighted)).not.toEqual(Array.from(combineViews([a, b], [PLAIN_VIEW, up2], 'pitch')).map((x) => expect.closeTo(x, 3)));
    // One plain view: its own normalised distribution.
    const row = Array.from({ length: 128 }, (_, i) => Math.sin(i));
    const logZ = Math.log(row.reduce((a, x) => a + Math.exp(x), 0));
    expect(Array.from(combineViews([row], [PLAIN_VIEW], 'pitch'))).toEqual(row.map((x) => expect.closeTo(x - logZ, 9)));
  });

  it('evaluation runs every window through each view and combines them; the GPT alone stays the plain context', () => {
    const stream = Uint8Array.from(tokens(notes));
    const seqLen = 24;
    const starts = windowStarts(stream.length, seqLen).slice(0, 3);
    const views: View[] = [{ semitones: -1, tempo: 1.1 }, PLAIN_VIEW, { semitones: 2, tempo: 0.9 }];
    const seen: { combined: number[]; plain: number[] }[] = [];
    forEachTarget(model, stream, seqLen, starts, 2, (w, s, t, combined, y, plain) => {
      if (w === 1 && (t === 10 || t === 11)) seen.push({ combined: Array.from(combined), plain: Array.from(plain) });
    }, views);
    // By hand, for the second window: input 10 is a dur (its target a pitch), input 11 a pitch (target a separator).
    const window = Array.from(stream.subarray(starts[1], starts[1] + seqLen));
    const rows = views.map((view) => logProbs(model, viewOf(window, view)));
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
    // Without the plain view among them, the GPT's own numbers still come from the plain context (an extra pass).
    const moved = new StyleMemory(stream, { ...DEFAULT_MEMORY_SETTINGS, views: [views[0], views[2]] }, noWeights());
    expect(evaluateWindows(model, stream, seqLen, starts, 16, undefined, moved).modelLoss).toBeCloseTo(plain.loss, 6);
    const votes = collectVotes(model, memory, stream, seqLen);
    const all = evaluateWindows(model, stream, seqLen, windowStarts(stream.length, seqLen));
    expect(votes.plainLoss / votes.tokens).toBeCloseTo(all.loss / all.tokens, 5);
  });

  it('a window cut mid-note is read through the plain context until its first separator (before it, which tokens are pitches is unknown)', () => {
    const stream = Uint8Array.from(tokens(notes));
    const seqLen = 24;
    const start = 2; // a dur, then a pitch; the window's first separator is its input 2
    const views: View[] = [{ semitones: -1, tempo: 1.1 }, PLAIN_VIEW, { semitones: 2, tempo: 0.9 }];
    const seen: { combined: number[]; plain: number[] }[] = [];
    forEachTarget(model, stream, seqLen, [start], 1, (_w, _s, t, combined, _y, plain) => {
      seen[t] = { combined: Array.from(combined), plain: Array.from(plain) };
    }, views);
    const window = Array.from(stream.subarray(start, start + seqLen));
    expect(window[2]).toBe(SEP);
    const rows = views.map((view) => logProbs(model, viewOf(window, view)));
    for (const t of [0, 1]) expect(seen[t].combined).toEqual(seen[t].plain.map((x) => expect.closeTo(x, 6)));
    const expected = combineViews(rows.map((r) => r.subarray(2 * 128, 3 * 128)), views, 'dt');
    expect(seen[2].combined).toEqual(Array.from(expected).map((x) => expect.closeTo(x, 4)));
    expect(seen[2].combined).not.toEqual(seen[2].plain.map((x) => expect.closeTo(x, 4)));
  });

  it('sampling with a memory\'s views draws from the combined distribution (greedy pitch: its argmax) and stays in the grammar', () => {
    const prompt = tokens(notes.slice(0, 6));
    const views: View[] = [{ semitones: -2, tempo: 1.1 }, PLAIN_VIEW, { semitones: 1, tempo: 0.9 }];
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
        const rows = views.map((view) => logProbs(model, viewOf(context, view)).subarray((context.length - 1) * 128, context.length * 128));
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
    // Sampling is deterministic with views too, and a memory with the plain view alone samples the GPT's own distribution.
    const sampled = { ...req, temperature: 1, seed: 8, maxTokens: 40 };
    expect(sampleContinuation(model, gigaTokenizer, { ...sampled, memory })).toEqual(sampleContinuation(model, gigaTokenizer, { ...sampled, memory }));
    const plainMemory = new StyleMemory(Uint8Array.from(tokens(notes)), { ...DEFAULT_MEMORY_SETTINGS, views: [PLAIN_VIEW] }, noWeights());
    expect(sampleContinuation(model, gigaTokenizer, { ...sampled, memory: plainMemory })).toEqual(sampleContinuation(model, gigaTokenizer, sampled));
  });
});
