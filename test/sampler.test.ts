import { describe, it, expect, beforeAll } from 'vitest';
import { initBackend } from '../src/model/backend.js';
import { sampleContinuation, sampleBatch, drawToken } from '../src/model/sampler.js';
import { mixSeed } from '../src/util/rng.js';
import { gigaTokenizer, SEP, PIANO_LOW, PIANO_HIGH, ONSET_QUANTUM_MS, DURATION_QUANTUM_MS } from '../src/music/tokenizer.js';
import { Rng } from '../src/util/rng.js';
import { createTinyModel } from './support/tiny-model.js';
import { clearKey } from '../src/music/key.js';
import type { GPT } from '../src/model/gpt.js';

let model: GPT;
beforeAll(async () => {
  process.env.MAESTRO_QUIET = '1';
  await initBackend();
  model = await createTinyModel(21);
});

const prompt = [SEP, 0, 13, 60, SEP, 26, 10, 62, SEP, 20, 8, 64, SEP];
const base = { temperature: 1, topK: 0, topP: 1, seed: 7, candidates: 2, seconds: 4, prompt };

/** Onset (ms) of the last note in a continuation, as the decoder sees it. */
function lastOnsetMs(tokens: number[]): number {
  let ms = 0;
  for (let i = 0; i < tokens.length; i += 4) ms += tokens[i] * ONSET_QUANTUM_MS;
  return ms;
}

/** The lowest pitch sounding at the last onset of a continuation (the last chord's notes and those held into it). */
function lastChordBass(tokens: number[]): number {
  const notes: { onset: number; end: number; pitch: number }[] = [];
  let onset = 0;
  for (let i = 0; i < tokens.length; i += 4) {
    onset += tokens[i] * ONSET_QUANTUM_MS;
    notes.push({ onset, end: onset + tokens[i + 1] * DURATION_QUANTUM_MS, pitch: tokens[i + 2] });
  }
  return Math.min(...notes.filter((n) => n.onset === onset || n.end > onset).map((n) => n.pitch));
}

describe('sampler', () => {
  it('every output follows the grammar: whole notes [dt, dur, pitch, 127] with legal values', () => {
    for (const seed of [1, 2, 3]) {
      const outs = sampleContinuation(model, gigaTokenizer, { ...base, seed, candidates: 3 });
      for (const toks of outs) {
        expect(toks.length % 4).toBe(0);
        for (let i = 0; i < toks.length; i += 4) {
          const [dt, dur, pitch, sep] = toks.slice(i, i + 4);
          expect(dt).toBeGreaterThanOrEqual(0);
          expect(dt).toBeLessThanOrEqual(126);
          expect(dur).toBeGreaterThanOrEqual(1);
          expect(dur).toBeLessThanOrEqual(126);
          expect(pitch).toBeGreaterThanOrEqual(PIANO_LOW);
          expect(pitch).toBeLessThanOrEqual(PIANO_HIGH);
          expect(sep).toBe(SEP);
        }
        const seq = gigaTokenizer.decode([SEP, ...toks]);
        expect(seq.notes.length).toBe(toks.length / 4);
      }
    }
  });

  it('keeps the grammar for the rows that go on when another row of the batch ends', () => {
    // Rows end at different steps; one that ends draws no dt, and the others must still get dur next (a regression:
    // they were put back to dt, which garbled one note each time the batch's first row ended).
    let rows = 0;
    for (let seed = 0; seed < 20; seed++) {
      for (const toks of sampleContinuation(model, gigaTokenizer, { ...base, seconds: 6, candidates: 4, seed })) {
        rows++;
        expect(toks.length % 4).toBe(0);
        toks.forEach((t, i) => expect(t === SEP).toBe(i % 4 === 3));
      }
    }
    expect(rows).toBe(80);
  });

  it('same seed and inputs give identical output; another seed differs', () => {
    const a = sampleContinuation(model, gigaTokenizer, base);
    const b = sampleContinuation(model, gigaTokenizer, base);
    const c = sampleContinuation(model, gigaTokenizer, { ...base, seed: 8 });
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
    // candidates in one batch differ from each other
    expect(a[0]).not.toEqual(a[1]);
  });

  it('stops within the requested length: the next note would start past it', () => {
    for (const seconds of [2, 6]) {
      const outs = sampleContinuation(model, gigaTokenizer, { ...base, seconds, candidates: 2, seed: 5 });
      for (const toks of outs) {
        expect(lastOnsetMs(toks)).toBeLessThan(seconds * 1000);
        // A random model's notes are at most 126·16 ms apart, so it gets within ~2 s of the target.
        expect(lastOnsetMs(toks)).toBeGreaterThan(seconds * 1000 - 126 * ONSET_QUANTUM_MS);
      }
    }
  });

  it('keeps going past the context size by re-windowing (block size 64 here)', () => {
    const outs = sampleContinuation(model, gigaTokenizer, { ...base, seconds: 60, candidates: 1, seed: 3 });
    expect(outs[0].length).toBeGreaterThan(64);
  });

  it('improvises with no prompt', () => {
    const outs = sampleContinuation(model, gigaTokenizer, { ...base, prompt: [], seconds: 3 });
    expect(outs[0].length).toBeGreaterThan(0);
  });

  it('a batch of rows with different prompts gives each row what it gets alone (rows leave the batch as they finish)', () => {
    const other = [SEP, 4, 20, 48, SEP, 30, 12, 55, SEP];
    const rows = [
      { prompt, seed: 11 },
      { prompt: other, seed: 12 },
      { prompt, seed: 13 },
      { prompt: [], seed: 14 },
    ];
    const settings = { temperature: 1, topK: 0, topP: 1, seconds: 5 };
    const together = sampleBatch(model, gigaTokenizer, { ...settings, rows });
    const alone = rows.map((r) => sampleBatch(model, gigaTokenizer, { ...settings, rows: [r] })[0]);
    expect(together).toEqual(alone);
    // Lengths differ, so rows did finish at different steps.
    expect(new Set(together.map((t) => t.length)).size).toBeGreaterThan(1);
    // sampleContinuation's candidate b is the row seeded mixSeed(seed, b).
    const cands = sampleContinuation(model, gigaTokenizer, { ...settings, prompt, seed: 9, candidates: 2 });
    expect(sampleBatch(model, gigaTokenizer, { ...settings, rows: [{ prompt, seed: mixSeed(9, 1) }] })[0]).toEqual(cands[1]);
  });

  it('shapes only the pitch by default: greedy decoding still draws the rhythm from the model', () => {
    const greedy = { ...base, temperature: 0, candidates: 1, seconds: 6 };
    const a = sampleContinuation(model, gigaTokenizer, { ...greedy, seed: 1 });
    const b = sampleContinuation(model, gigaTokenizer, { ...greedy, seed: 2 });
    expect(a).not.toEqual(b); // the rhythm differs by seed
    const rhythm = (t: number[]) => t.filter((_, i) => i % 4 < 2);
    expect(rhythm(a[0])).not.toEqual(rhythm(b[0]));
    // Shaping the rhythm too: fully greedy, the seed no longer matters.
    const c = sampleContinuation(model, gigaTokenizer, { ...greedy, seed: 1, shapeRhythm: true });
    const d = sampleContinuation(model, gigaTokenizer, { ...greedy, seed: 2, shapeRhythm: true });
    expect(c).toEqual(d);
  });

  it('keeps at most maxPolyphony notes sounding: a new note waits for one to end', () => {
    const most = (toks: number[]) => {
      const notes = gigaTokenizer.decode([SEP, ...toks]).notes;
      return Math.max(...notes.map((n) => notes.filter((m) => m.startSec <= n.startSec && m.endSec > n.startSec).length));
    };
    const run = (maxPolyphony: number) => sampleContinuation(model, gigaTokenizer, { ...base, seconds: 20, candidates: 3, maxPolyphony });
    // A random model holds notes for up to 4 s: far more than 3 overlap without the limit.
    expect(Math.max(...run(Infinity).map(most))).toBeGreaterThan(3);
    for (const toks of run(3)) expect(most(toks)).toBeLessThanOrEqual(3);
  });

  it('stops a row at maxNotes', () => {
    const outs = sampleContinuation(model, gigaTokenizer, { ...base, seconds: 60, candidates: 2, maxNotes: 5 });
    for (const toks of outs) expect(toks.length).toBe(5 * 4);
    const uncapped = sampleContinuation(model, gigaTokenizer, { ...base, seconds: 60, candidates: 2 });
    expect(uncapped[0].slice(0, 20)).toEqual(outs[0]);
    expect(() => sampleContinuation(model, gigaTokenizer, { ...base, maxNotes: 0 })).toThrow(/maxNotes/);
  });

  it('adds the pitch bias by pitch class: a strong one keeps every pitch in its classes, a zero one changes nothing', () => {
    const onlyCAndG = Array.from({ length: 12 }, (_, pc) => (pc === 0 || pc === 7 ? 0 : -40));
    const pitches = (outs: number[][]) => outs.flatMap((toks) => toks.filter((_, i) => i % 4 === 2));
    const free = pitches(sampleContinuation(model, gigaTokenizer, { ...base, seconds: 8 }));
    expect(free.some((p) => p % 12 !== 0 && p % 12 !== 7)).toBe(true); // the tiny model alone wanders
    const kept = pitches(sampleContinuation(model, gigaTokenizer, { ...base, seconds: 8, pitchBias: onlyCAndG }));
    expect(kept.length).toBeGreaterThan(4);
    for (const p of kept) expect([0, 7]).toContain(p % 12);
    expect(sampleContinuation(model, gigaTokenizer, { ...base, pitchBias: new Array(12).fill(0) })).toEqual(sampleContinuation(model, gigaTokenizer, base));
    expect(() => sampleContinuation(model, gigaTokenizer, { ...base, pitchBias: [1, 2] })).toThrow(/pitchBias/);
  });

  it('ends on the endOn pitch class when it can within the grace, else where it would have without it', () => {
    const onlyCAndG = Array.from({ length: 12 }, (_, pc) => (pc === 0 || pc === 7 ? 0 : -40));
    const kept = { ...base, seconds: 4, candidates: 4, pitchBias: onlyCAndG };
    const plain = sampleContinuation(model, gigaTokenizer, kept);
    const ending = sampleContinuation(model, gigaTokenizer, { ...kept, endOn: 0, endingGraceSec: 20 });
    ending.forEach((toks, b) => {
      // The same random stream: the ending only goes on past where the plain row stopped.
      expect(toks.slice(0, plain[b].length)).toEqual(plain[b]);
      expect(lastChordBass(toks) % 12).toBe(0);
      expect(lastOnsetMs(toks)).toBeLessThan((4 + 20) * 1000);
    });
    // The tiny model puts G in the bass often enough that some rows had to go on to reach a C.
    expect(ending.some((toks, b) => toks.length > plain[b].length)).toBe(true);
    expect(plain.some((toks) => lastChordBass(toks) % 12 !== 0)).toBe(true);
    // A pitch class it never plays (C♯ here): each row ends exactly where it would have.
    expect(sampleContinuation(model, gigaTokenizer, { ...kept, endOn: 1, endingGraceSec: 5 })).toEqual(plain);
    // … also when it runs out of tokens while looking for one.
    const tokenCap = Math.max(...plain.map((t) => t.length)) + 8;
    expect(sampleContinuation(model, gigaTokenizer, { ...kept, endOn: 1, endingGraceSec: 20, maxTokens: tokenCap })).toEqual(plain);
    // No grace: nothing changes.
    expect(sampleContinuation(model, gigaTokenizer, { ...kept, endOn: 0 })).toEqual(plain);
    expect(() => sampleContinuation(model, gigaTokenizer, { ...kept, endOn: 12 })).toThrow(/endOn/);
    expect(() => sampleContinuation(model, gigaTokenizer, { ...kept, endOn: 0, endingGraceSec: 61 })).toThrow(/endingGraceSec/);
  });

  it("with endOn 'own-key', ends on the tonic of the key the row has played by the length asked", () => {
    const cMajorScale = Array.from({ length: 12 }, (_, pc) => ([0, 2, 4, 5, 7, 9, 11].includes(pc) ? 0 : -40));
    const kept = { ...base, seconds: 12, candidates: 4, pitchBias: cMajorScale };
    const plain = sampleContinuation(model, gigaTokenizer, kept);
    const ending = sampleContinuation(model, gigaTokenizer, { ...kept, endOn: 'own-key', endingGraceSec: 20 });
    let wentOn = 0;
    ending.forEach((toks, b) => {
      expect(toks.slice(0, plain[b].length)).toEqual(plain[b]);
      if (toks.length === plain[b].length) return;
      wentOn++;
      // The key is the one of what it had played when it reached the length: the plain row, all but nothing after it.
      const key = clearKey(gigaTokenizer.decode([SEP, ...plain[b]]).notes);
      expect(key).toBeDefined();
      expect(lastChordBass(toks) % 12).toBe(key!.tonic);
    });
    expect(wentOn).toBeGreaterThan(0);
    expect(sampleContinuation(model, gigaTokenizer, { ...kept, endOn: 'own-key' })).toEqual(plain);
  });

  it('rejects bad settings with clear errors', () => {
    expect(() => sampleContinuation(model, gigaTokenizer, { ...base, temperature: -1 })).toThrow(/temperature/);
    expect(() => sampleContinuation(model, gigaTokenizer, { ...base, topP: 0 })).toThrow(/top_p/);
    expect(() => sampleContinuation(model, gigaTokenizer, { ...base, candidates: 0 })).toThrow(/candidates/);
  });
});

describe('drawToken', () => {
  const logits = Array.from({ length: 128 }, (_, i) => (i === 40 ? 5 : i === 41 ? 4 : 0));

  it('only draws inside the allowed range', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 200; i++) {
      const t = drawToken(logits, 50, 60, { temperature: 1, topK: 0, topP: 1 }, rng);
      expect(t).toBeGreaterThanOrEqual(50);
      expect(t).toBeLessThanOrEqual(60);
    }
  });

  it('temperature acts on logits: low temperature concentrates, high spreads', () => {
    const count = (temperature: number) => {
      const rng = new Rng(2);
      let top = 0;
      for (let i = 0; i < 2000; i++) if (drawToken(logits, 0, 126, { temperature, topK: 0, topP: 1 }, rng) === 40) top++;
      return top / 2000;
    };
    const cold = count(0.3), warm = count(1), hot = count(3);
    expect(cold).toBeGreaterThan(warm);
    expect(warm).toBeGreaterThan(hot);
    expect(drawToken(logits, 0, 126, { temperature: 0, topK: 0, topP: 1 }, new Rng(3))).toBe(40);
  });

  it('top-k and top-p cut the tail', () => {
    const rng = new Rng(4);
    for (let i = 0; i < 300; i++) {
      expect([40, 41]).toContain(drawToken(logits, 0, 126, { temperature: 1, topK: 2, topP: 1 }, rng));
      expect(drawToken(logits, 0, 126, { temperature: 1, topK: 0, topP: 0.4 }, rng)).toBe(40); // P(40) ≈ 0.45
    }
  });
});
