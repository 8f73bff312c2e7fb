import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT, crossEntropy } from '../src/model/gpt.js';
import { initBackend } from '../src/model/backend.js';
import { parameterCount, GIGA_PIANO, validateConfig } from '../src/model/config.js';
import { loadModel, ModelLoadError, saveModel } from '../src/model/store.js';
import { toFloat16, fromFloat16, readTensorFile, writeTensorFile } from '../src/model/tensor-file.js';
import { createTinyModel, TINY_CONFIG } from './support/tiny-model.js';

beforeAll(async () => {
  process.env.MAESTRO_QUIET = '1';
  await initBackend();
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}

describe('GPT', () => {
  it('counts GIGA-Piano at ~103 M parameters', () => {
    // Our count includes the untied head and Er tables; the thesis quotes 103 M.
    expect(parameterCount(GIGA_PIANO) / 1e6).toBeGreaterThan(100);
    expect(parameterCount(GIGA_PIANO) / 1e6).toBeLessThan(110);
  });

  it('rejects inconsistent configs', () => {
    expect(() => validateConfig({ ...TINY_CONFIG, nEmbd: 33 })).toThrow(/divisible/);
    expect(() => validateConfig({ ...TINY_CONFIG, maxRelDist: 8 })).toThrow(/maxRelDist/);
  });

  it('cached incremental decoding gives the same logits as the full forward pass', async () => {
    const model = await createTinyModel(3);
    // Make the relative tables large so a skewing mistake would show.
    for (const [k, v] of Object.entries(model.weights)) if (k.endsWith('attn.er')) v.assign(tf.randomNormal(v.shape, 0, 1, 'float32', 9));
    const B = 3, T = 40;
    const tokens = tf.randomUniform([B, T], 0, 128, 'int32', 4) as tf.Tensor2D;
    const full = model.forward(tokens).reshape([B, T, 128]);
    let { logits, cache } = model.prefill(tokens.slice([0, 0], [B, 7]) as tf.Tensor2D);
    let worst = maxAbsDiff(logits, full.slice([0, 6, 0], [B, 1, 128]).reshape([B, 128]));
    for (let t = 7; t < T; t++) {
      logits.dispose();
      ({ logits, cache } = model.step(tokens.slice([0, t], [B, 1]).reshape([B]) as tf.Tensor1D, cache));
      worst = Math.max(worst, maxAbsDiff(logits, full.slice([0, t, 0], [B, 1, 128]).reshape([B, 128])));
    }
    expect(worst).toBeLessThan(1e-4);
    model.dispose();
  });

  it('the final hidden state is what the logits are read from, the same in the full pass, the prefill and each step', async () => {
    const model = await createTinyModel(4);
    const B = 2, T = 12;
    const tokens = tf.randomUniform([B, T], 0, 128, 'int32', 6) as tf.Tensor2D;
    const { logits, hidden } = model.forwardWithHidden(tokens);
    expect(hidden.shape).toEqual([B * T, TINY_CONFIG.nEmbd]);
    expect(maxAbsDiff(logits, model.forward(tokens))).toBe(0);
    expect(maxAbsDiff(tf.matMul(hidden, model.weights['head.w']), logits)).toBeLessThan(1e-4);
    const full = hidden.reshape([B, T, -1]);
    const at = (t: number) => full.slice([0, t, 0], [B, 1, -1]).reshape([B, -1]);
    const pre = model.prefill(tokens.slice([0, 0], [B, 5]) as tf.Tensor2D, { hidden: true });
    expect(maxAbsDiff(pre.hidden!, at(4))).toBeLessThan(1e-4);
    expect(model.prefill(tokens.slice([0, 0], [B, 5]) as tf.Tensor2D).hidden).toBeUndefined(); // only when asked
    const next = model.step(tokens.slice([0, 5], [B, 1]).reshape([B]) as tf.Tensor1D, pre.cache, true);
    expect(maxAbsDiff(next.hidden!, at(5))).toBeLessThan(1e-4);
    model.dispose();
  });

  it('relative attention matters: changing Er changes the logits, and the model is causal', async () => {
    const model = await createTinyModel(5);
    const tokens = tf.randomUniform([1, 20], 0, 128, 'int32', 1) as tf.Tensor2D;
    const before = model.forward(tokens);
    model.weights['h0.attn.er'].assign(tf.randomNormal([TINY_CONFIG.maxRelDist, 16], 0, 1, 'float32', 2));
    const after = model.forward(tokens);
    expect(maxAbsDiff(before, after)).toBeGreaterThan(1e-3);
    // Changing a later token must not change earlier positions' logits.
    const changed = tokens.arraySync();
    changed[0][15] = (changed[0][15] + 1) % 128;
    const other = model.forward(tf.tensor2d(changed, [1, 20], 'int32'));
    expect(maxAbsDiff(after.slice([0, 0], [15, 128]), other.slice([0, 0], [15, 128]))).toBeLessThan(1e-6);
    expect(maxAbsDiff(after.slice([15, 0], [1, 128]), other.slice([15, 0], [1, 128]))).toBeGreaterThan(1e-6);
    model.dispose();
  });

  it('wasm gradients match the pure-JS backend', async () => {
    const model = await createTinyModel(8);
    const tokens = tf.randomUniform([2, 16], 0, 128, 'int32', 2) as tf.Tensor2D;
    const targets = tf.randomUniform([32], 0, 128, 'int32', 3) as tf.Tensor1D;
    const grads = (m: GPT) => {
      const { grads } = tf.variableGrads(() => crossEntropy(m.forward(tokens), targets), m.variables());
      return Object.fromEntries(Object.entries(m.weights).map(([k, v]) => [k, Array.from(grads[v.name].dataSync())]));
    };
    const wasm = grads(model);
    const weights = Object.fromEntries(Object.entries(model.weights).map(([k, v]) => [k, { data: v.dataSync().slice(), shape: v.shape }]));
    const tokenData = tokens.arraySync();
    const targetData = targets.arraySync();
    await tf.setBackend('cpu');
    try {
      const cpuModel = new GPT(TINY_CONFIG, Object.fromEntries(Object.entries(weights).map(([k, w]) => [k, tf.variable(tf.tensor(w.data, w.shape), true, `cpu-${k}`)])));
      const { grads: g } = tf.variableGrads(() => crossEntropy(cpuModel.forward(tf.tensor2d(tokenData, undefined, 'int32')), tf.tensor1d(targetData, 'int32')), cpuModel.variables());
      let worst = 0;
      for (const [k, v] of Object.entries(cpuModel.weights)) {
        const c = g[v.name].dataSync();
        for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(c[i] - wasm[k][i]));
      }
      expect(worst).toBeLessThan(1e-4);
    } finally {
      await tf.setBackend('wasm');
    }
  });
});

describe('model files', () => {
  it('float16 round trip is within half precision', () => {
    const x = new Float32Array([0, 1, -2.5, 0.1, 65504, 1e-6, -3.14159]);
    const y = fromFloat16(toFloat16(x));
    for (let i = 0; i < x.length; i++) expect(Math.abs(y[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 1e-3 + 6e-8);
  });

  it('saves and loads a model; logits survive float16 storage', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'maestro-store-')), 'm');
    const model = await createTinyModel(11);
    saveModel(dir, model, { name: 't', description: 'test', licence: 'none' });
    const loaded = loadModel(dir);
    const tokens = tf.tensor2d([[127, 0, 10, 60, 127, 5, 10, 64]], undefined, 'int32');
    expect(maxAbsDiff(model.forward(tokens), loaded.forward(tokens))).toBeLessThan(5e-3);
    // Saving again keeps the previous version for rollback.
    saveModel(dir, loaded, { name: 't2', description: 'test', licence: 'none' });
    expect(JSON.parse(readFileSync(join(`${dir}.previous`, 'card.json'), 'utf8')).name).toBe('t');
  });

  it('rejects a truncated tensor file with a clear error', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'maestro-tf-')), 'w.mtw');
    writeTensorFile(path, { a: { shape: [4], data: new Float32Array([1, 2, 3, 4]) } });
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.length - 4));
    expect(() => readTensorFile(path)).toThrow(/truncated/);
    writeFileSync(path, bytes.subarray(0, 20));
    expect(() => readTensorFile(path)).toThrow(/truncated \(in its header\)/);
  });

  it('a damaged model directory is a ModelLoadError naming what is wrong: truncated or missing weights, config and weights of two models', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'maestro-damaged-')), 'm');
    saveModel(dir, await createTinyModel(12), { name: 't', description: 'test', licence: 'none' });
    const weights = readFileSync(join(dir, 'weights.mtw'));
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'weights.mtw'), weights.subarray(0, weights.length - 100));
    expect(() => loadModel(dir)).toThrow(ModelLoadError);
    expect(() => loadModel(dir)).toThrow(/truncated/);
    writeFileSync(join(dir, 'weights.mtw'), weights);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, nLayer: config.nLayer - 1 }));
    expect(() => loadModel(dir)).toThrow(/tensors this config does not use .*different models/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, nEmbd: config.nEmbd * 2 }));
    expect(() => loadModel(dir)).toThrow(ModelLoadError);
    expect(() => loadModel(join(dir, 'nowhere'))).toThrow(/no model at/);
  });
});
