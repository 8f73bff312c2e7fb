import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/model/backend.js';
import { deepen, depthPlan } from '../src/model/grow.js';
import { loadModel, readCard, saveModel } from '../src/model/store.js';
import { runTrain } from '../src/cli/train.js';
import { createTinyModel } from './support/tiny-model.js';

beforeAll(async () => {
  process.env.MAESTRO_QUIET = '1';
  await initBackend();
});

describe('deepening a trained model', () => {
  it('plans each old block followed by its copies, in order', () => {
    expect(depthPlan(2, 4)).toEqual([{ from: 0, original: true }, { from: 0, original: false }, { from: 1, original: true }, { from: 1, original: false }]);
    expect(depthPlan(2, 3)).toEqual([{ from: 0, original: true }, { from: 1, original: true }, { from: 1, original: false }]);
    expect(depthPlan(3, 3).every((p) => p.original)).toBe(true);
    expect(() => depthPlan(3, 2)).toThrow(/only deepen/);
  });

  it('starts as the same function, with the copies’ output projections zero and everything else copied', async () => {
    const model = await createTinyModel(5);
    // Every weight random (biases and norms included), so a copy that is not the identity would show.
    for (const [name, v] of Object.entries(model.weights)) v.assign(tf.randomNormal(v.shape, 0, 0.3, 'float32', name.length * 31 + v.size));
    const deeper = deepen(model, 5);
    expect(deeper.config.nLayer).toBe(5);
    const tokens = tf.randomUniform([2, 48], 0, 128, 'int32', 3) as tf.Tensor2D;
    const diff = tf.tidy(() => model.forward(tokens).sub(deeper.forward(tokens)).abs().max().dataSync()[0]);
    expect(diff).toBeLessThan(1e-4);
    // Plan for 2 → 5: h0 ← 0, h1 ← 0 (copy), h2 ← 1, h3 ← 1 (copy), h4 ← 1 (copy).
    const same = (a: string, b: string) => tf.tidy(() => deeper.weights[a].sub(model.weights[b]).abs().max().dataSync()[0]);
    expect(same('h2.attn.o.w', 'h1.attn.o.w')).toBe(0);
    expect(same('h4.attn.q.w', 'h1.attn.q.w')).toBe(0);
    expect(same('h1.mlp.fc.w', 'h0.mlp.fc.w')).toBe(0);
    for (const name of ['h1.attn.o.w', 'h1.attn.o.b', 'h3.mlp.proj.w', 'h4.mlp.proj.b']) {
      expect(tf.tidy(() => deeper.weights[name].abs().max().dataSync()[0])).toBe(0);
    }
    deeper.dispose();
    // The original is untouched and still usable.
    expect(model.forward(tokens).shape).toEqual([2 * 48, 128]);
    model.dispose();
  });

  it('maestro train --init … --layers N trains the deeper model and records where it came from', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-grow-'));
    const notes: number[] = [];
    for (let i = 0; i < 1500; i++) notes.push(127, 8, 8, 60 + ((i * 5) % 12));
    writeFileSync(join(dir, 'train.bin'), Uint8Array.from(notes.slice(0, 5000)));
    writeFileSync(join(dir, 'val.bin'), Uint8Array.from(notes.slice(5000)));
    const small = await createTinyModel(2);
    saveModel(join(dir, 'small'), small, { name: 'small', description: 'test', licence: 'test' }, 'float32');
    small.dispose();
    const common = ['--data', dir, '--seq', '32', '--batch', '2', '--steps', '3', '--lr', '3e-3', '--eval-every', '0'];
    expect(await runTrain([...common, '--out', join(dir, 'run'), '--init', join(dir, 'small'), '--layers', '4'])).toBe(0);
    const grown = loadModel(join(dir, 'run', 'model'));
    expect(grown.config.nLayer).toBe(4);
    // Training reached the added blocks: their output projections are no longer zero.
    expect(tf.tidy(() => grown.weights['h1.mlp.proj.w'].abs().max().dataSync()[0])).toBeGreaterThan(0);
    grown.dispose();
    const card = readCard(join(dir, 'run', 'model'))!;
    expect((card.training as Record<string, unknown>).deepenedFrom).toBe(2);
    expect((card.architecture as Record<string, unknown>).nLayer).toBe(4);
    // Bad requests are told, not crashed on.
    expect(await runTrain([...common, '--out', join(dir, 'bad1'), '--preset', 'tiny', '--layers', '4'])).toBe(2);
    expect(await runTrain([...common, '--out', join(dir, 'bad2'), '--init', join(dir, 'small'), '--layers', '1'])).toBe(2);
  });
});
