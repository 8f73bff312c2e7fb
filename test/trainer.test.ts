import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync, existsSync, readFileSync, rmSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/model/backend.js';
import { GPT } from '../src/model/gpt.js';
import * as tf from '@tensorflow/tfjs';
import { train, batchFrom, loadCheckpoint, saveCheckpoint, type TrainOptions } from '../training/trainer.js';
import { evaluate } from '../training/evaluate.js';
import { TINY_CONFIG } from './support/tiny-model.js';
import { Rng } from '../src/util/rng.js';
import { streamFields, TOKEN_FIELDS } from '../src/music/tokenizer.js';
import { cosineLr, oneCycleLr } from '../training/optim.js';
import { AdamW } from '../training/optim.js';
import { evaluateInThreads } from '../training/eval-threads.js';

beforeAll(async () => {
  process.env.MAESTRO_QUIET = '1';
  await initBackend();
});

/** A learnable stream: notes of a repeating scale in the GIGA grammar. */
function scaleStream(n: number): Uint8Array {
  const out: number[] = [];
  const rng = new Rng(3);
  while (out.length < n) for (const p of [60, 62, 64, 65, 67, 69, 71, 72]) out.push(127, 8 + rng.int(2), 8, p);
  return new Uint8Array(out.slice(0, n));
}

function options(runDir: string, steps: number): TrainOptions {
  return {
    runDir, train: scaleStream(4000), val: scaleStream(600), seqLen: 32, batchSize: 4, accumulate: 1, steps,
    lr: 3e-3, minLr: 3e-4, warmup: 2, schedule: 'cosine', weightDecay: 0.1, clipNorm: 1, seed: 11,
    evalEvery: 5, valWindows: 8, checkpointSeconds: 3600, log: () => {},
  };
}

const config = { ...TINY_CONFIG, dropout: 0.1 };

function maxWeightDifference(a: GPT, b: GPT): number {
  let worst = 0;
  for (const [name, v] of Object.entries(a.weights)) {
    const x = v.dataSync();
    const y = b.weights[name].dataSync();
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
  }
  return worst;
}

describe('trainer', () => {
  it('learns: validation loss falls well below chance (ln 128 ≈ 4.85)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-train-'));
    const r = await train(config, { ...options(dir, 40), lr: 1e-2 });
    expect(r.lastVal!.loss).toBeLessThan(3);
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(40);
    expect(lines[39].valLoss).toBeDefined();
  });

  it('resume equivalence: 2N steps = N steps, stop, resume N steps', async () => {
    const a = mkdtempSync(join(tmpdir(), 'maestro-a-'));
    const b = mkdtempSync(join(tmpdir(), 'maestro-b-'));
    const straight = await train(config, options(a, 10));
    let calls = 0;
    const half = await train(config, { ...options(b, 10), shouldStop: () => ++calls > 5 });
    expect(half.stoppedEarly).toBe(true);
    expect(half.checkpoint.step).toBe(5);
    half.model.dispose();
    const resumed = await train(config, options(b, 10), true);
    expect(resumed.checkpoint.step).toBe(10);
    expect(maxWeightDifference(straight.model, resumed.model)).toBeLessThan(1e-5);
  });

  it('resume after a kill between checkpoints logs every step once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-kill-'));
    await train(config, options(dir, 3));
    // A run killed after its step-3 checkpoint had already logged steps 4 and 5; resuming redoes them.
    writeFileSync(join(dir, 'metrics.jsonl'), readFileSync(join(dir, 'metrics.jsonl'), 'utf8') + '{"step":4,"loss":9}\n{"step":5,"loss":9}\n');
    await train(config, options(dir, 6), true);
    const steps = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number });
    expect(steps.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(steps.every((r) => r.loss < 9)).toBe(true);
  });

  it('data parallel: 3 micro-batches on 2 threads train the same model as 3 accumulated on one', async () => {
    const metrics = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number; gradNorm: number; valLoss?: number });
    const one = mkdtempSync(join(tmpdir(), 'maestro-dp1-'));
    const two = mkdtempSync(join(tmpdir(), 'maestro-dp2-'));
    // Dropout on, so the helper must reproduce the training thread's seeds, not just its batches; 64
    // validation windows, so the parallel run's validation is split over its two threads too.
    const val = { val: scaleStream(64 * 32 + 1), valWindows: 64 };
    // Pitch-shift augmentation on, so the helper must also draw the same transpositions.
    const single = await train(config, { ...options(one, 6), ...val, accumulate: 3, transpose: 3 });
    const parallel = await train(config, { ...options(two, 6), ...val, accumulate: 3, threads: 2, transpose: 3 });
    const [a, b] = [metrics(one), metrics(two)];
    expect(b).toHaveLength(6);
    for (let i = 0; i < 6; i++) {
      expect(Math.abs(a[i].loss - b[i].loss)).toBeLessThan(1e-4);
      expect(Math.abs(a[i].gradNorm - b[i].gradNorm)).toBeLessThan(1e-4);
    }
    expect(Math.abs(a[4].valLoss! - b[4].valLoss!)).toBeLessThan(1e-4);
    expect(maxWeightDifference(single.model, parallel.model)).toBeLessThan(1e-4);
    await expect(train(config, { ...options(mkdtempSync(join(tmpdir(), 'maestro-dp4-')), 1), threads: 2 })).rejects.toThrow(/2 threads need at least 2 micro-batches/);
  });

  it('evaluation on 3 threads gives the single-thread numbers, per group too', async () => {
    const model = new GPT(TINY_CONFIG, undefined, 5);
    // 200 windows: this thread's part (66) is evaluated in two slices with a yield between them.
    const stream = scaleStream(200 * 32 + 1);
    const groupOf = stream.map((_, i) => i % 4);
    const serial = evaluate(model, stream, 32, Infinity, 16, groupOf);
    const parallel = await evaluateInThreads(model, stream, 32, { threads: 3, groupOf });
    expect(serial.windows).toBe(200);
    expect(parallel.windows).toBe(200);
    expect(Math.abs(parallel.loss - serial.loss)).toBeLessThan(1e-9);
    expect(parallel.accuracy).toBeCloseTo(serial.accuracy, 12);
    expect(parallel.groups!.map((g) => g.tokens)).toEqual(serial.groups!.map((g) => g.tokens));
    parallel.groups!.forEach((g, i) => expect(Math.abs(g.loss - serial.groups![i].loss)).toBeLessThan(1e-9));
    model.dispose();
  });

  it('pitch-shift augmentation moves every pitch of a window by one shift and nothing else', () => {
    const stream = scaleStream(400);
    const shifts = new Set<number>();
    for (let seed = 0; seed < 12; seed++) {
      const plain = batchFrom(stream, 1, 32, new Rng(seed));
      const moved = batchFrom(stream, 1, 32, new Rng(seed), 3); // same first draw: the same window
      const [a, b] = [plain.x.dataSync(), moved.x.dataSync()];
      const diffs = new Set<number>();
      for (let t = 0; t < a.length; t++) {
        if (a[t] >= 60 && a[t] <= 72 && a[t - 3] === 127) diffs.add(b[t] - a[t]); // pitch positions of the scale
        else if (t >= 3) expect(b[t]).toBe(a[t]);
      }
      expect(diffs.size).toBe(1);
      const [k] = diffs;
      expect(Math.abs(k)).toBeLessThanOrEqual(3);
      shifts.add(k);
      expect(moved.y.dataSync()[0]).toBe(b[1]); // targets are the same window, one token on
      tf.dispose([plain.x, plain.y, moved.x, moved.y]);
    }
    expect(shifts.size).toBeGreaterThan(3);
  });

  it('time-stretch augmentation changes only the timing of the same window, by a factor within the bound', () => {
    const stream = scaleStream(400);
    let changed = 0;
    for (let seed = 0; seed < 12; seed++) {
      const plain = batchFrom(stream, 1, 32, new Rng(seed));
      const both = batchFrom(stream, 1, 32, new Rng(seed), 0, 0.5); // same first draw: the same window
      const [a, b] = [plain.x.dataSync(), both.x.dataSync()];
      const fields = streamFields(Uint8Array.from(a));
      for (let t = 0; t < a.length; t++) {
        const f = TOKEN_FIELDS[fields[t]];
        if (f === 'sep' || f === 'pitch' || a[t] === 0) expect(b[t]).toBe(a[t]);
        else {
          expect(b[t]).toBeGreaterThanOrEqual(Math.floor(a[t] / 1.5));
          expect(b[t]).toBeLessThanOrEqual(Math.floor((a[t] + 1) * 1.5));
          if (b[t] !== a[t]) changed++;
        }
      }
      tf.dispose([plain.x, plain.y, both.x, both.y]);
    }
    expect(changed).toBeGreaterThan(0);
  });

  it('atomic checkpoint: a crash mid-write leaves the previous checkpoint loadable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-ckpt-'));
    const r = await train(config, options(dir, 3));
    // Simulate a crash during the next save: a half-written temp dir and the live one moved aside.
    writeFileSync(join(dir, 'checkpoint.tmp'), 'garbage');
    rmSync(join(dir, 'checkpoint.tmp'));
    renameSync(join(dir, 'checkpoint'), join(dir, 'checkpoint.previous'));
    const loaded = loadCheckpoint(dir);
    expect(loaded.state.step).toBe(3);
    // And a normal save after the crash works and cleans up.
    saveCheckpoint(dir, r.model, new AdamW(), { ...loaded.state, step: 4 });
    expect(existsSync(join(dir, 'checkpoint.previous'))).toBe(false);
    expect(loadCheckpoint(dir).state.step).toBe(4);
  });

  it('evaluate uses consecutive windows of the thesis protocol', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-eval-'));
    const r = await train(config, options(dir, 1));
    const e = evaluate(r.model, scaleStream(1000), 32);
    expect(e.windows).toBe(Math.floor(999 / 32));
    expect(e.loss).toBeGreaterThan(0);
    expect(() => evaluate(r.model, scaleStream(20), 32)).toThrow(/shorter than one window/);
  });

  it('schedules warm up and decay', () => {
    expect(cosineLr(0, { lr: 1, minLr: 0.1, warmup: 10, total: 100 })).toBeCloseTo(0.1);
    expect(cosineLr(10, { lr: 1, minLr: 0.1, warmup: 10, total: 100 })).toBeCloseTo(1);
    expect(cosineLr(100, { lr: 1, minLr: 0.1, warmup: 10, total: 100 })).toBeCloseTo(0.1);
    expect(oneCycleLr(0, { lr: 1, total: 100 })).toBeCloseTo(0.04);
    expect(oneCycleLr(25, { lr: 1, total: 100 })).toBeCloseTo(1);
    expect(oneCycleLr(100, { lr: 1, total: 100 })).toBeLessThan(1e-3);
  });
});
