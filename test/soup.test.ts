import { describe, it, expect, vi } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTrain } from '../src/cli/train.js';
import { runSoup } from '../src/cli/soup.js';
import { readCard, writeCard } from '../src/model/store.js';
import { readTensorFile, toFloat16, fromFloat16 } from '../src/model/tensor-file.js';
import { averageWeights, interpolateWeights, withoutBase, SoupError } from '../training/soup.js';
import { tinyCorpus } from './support/tiny-corpus.js';


const common = (data: string) => ['--data', data, '--seq', '32', '--batch', '2', '--lr', '3e-3', '--eval-every', '0'];

/** A tiny base and two fine-tunes of it with different seeds. */
async function lineage() {
  const data = tinyCorpus();
  const root = mkdtempSync(join(tmpdir(), 'maestro-soup-'));
  expect(await runTrain([...common(data), '--out', join(root, 'base'), '--preset', 'tiny', '--steps', '4', '--name', 'base'])).toBe(0);
  for (const seed of [1, 2]) {
    expect(await runTrain([...common(data), '--out', join(root, `ft${seed}`), '--init', join(root, 'base', 'model'), '--steps', '3', '--seed', String(seed), '--name', 'style'])).toBe(0);
  }
  return { data, root, base: join(root, 'base', 'model'), a: join(root, 'ft1', 'model'), b: join(root, 'ft2', 'model') };
}

describe('model soup', () => {
  it('averages tensors element-wise and refuses models of different shapes', () => {
    const a = { w: { shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) } };
    const b = { w: { shape: [2, 2], data: Float32Array.of(3, 2, 1, -4) } };
    expect(Array.from(averageWeights([{ name: 'a', weights: a }, { name: 'b', weights: b }]).w.data)).toEqual([2, 2, 2, 0]);
    expect(() => averageWeights([{ name: 'a', weights: a }])).toThrow(SoupError);
    const c = { w: { shape: [4, 1], data: Float32Array.of(1, 2, 3, 4) } };
    expect(() => averageWeights([{ name: 'a', weights: a }, { name: 'c', weights: c }])).toThrow(/tensor w is 4x1 in c but 2x2 in a/);
    expect(() => averageWeights([{ name: 'a', weights: a }, { name: 'd', weights: { v: a.w } }])).toThrow(/other tensors/);
  });

  it('saves the average of two fine-tunes with a card that lists them and counts the shared base once, then promotes it', async () => {
    const { root, a, b } = await lineage();
    const out = join(root, 'soup');
    const served = join(root, 'served');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await runSoup(['--out', out, a, b, '--promote', served, '--threads', '1'])).toBe(0);
    } finally {
      log.mockRestore();
    }
    // The stored weights are the float16 of the mean of the two (stored) fine-tunes.
    const [wa, wb, ws] = [a, b, out].map((d) => readTensorFile(join(d, 'weights.mtw')));
    for (const name of Object.keys(ws)) {
      const mean = Float32Array.from(wa[name].data, (x, i) => (x + wb[name].data[i]) / 2);
      expect(Array.from(ws[name].data)).toEqual(Array.from(fromFloat16(toFloat16(mean))));
    }
    const card = readCard(out)!;
    const t = card.training as Record<string, unknown>;
    expect(t.soupOf).toEqual([
      expect.objectContaining({ dir: a, seed: 1, steps: 3, valLoss128: expect.any(Number) }),
      expect.objectContaining({ dir: b, seed: 2, steps: 3, valLoss128: expect.any(Number) }),
    ]);
    // History: the base's run once, then each fine-tune's run; totals over all of them.
    expect((t.history as { model: string; steps: number }[]).map((h) => [h.model, h.steps])).toEqual([['base', 4], ['style', 3], ['style', 3]]);
    expect(t.stepsTotal).toBe(4 + 3 + 3);
    expect(t.tokensSeenTotal).toBe((4 + 3 + 3) * 2 * 32);
    expect(card.metrics).toMatchObject({ valLoss128: expect.any(Number), valWindows128: expect.any(Number) });
    expect(card.licence).toMatch(/NC-SA/);
    expect(readCard(served)).toEqual(card);
    // Each fine-tune's loss curve is shipped with the soup, and promotion carries them along.
    for (const dir of [out, served]) expect(readdirSync(dir).filter((f) => f.startsWith('loss-curve')).sort()).toEqual(['loss-curve-ingredient-1.png', 'loss-curve-ingredient-2.png']);
    // A served model that validates better is kept.
    writeCard(served, { ...card, metrics: { valLoss128: 0 } });
    const quiet = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await runSoup(['--out', out, a, b, '--promote', served, '--threads', '1'])).toBe(0);
    } finally {
      quiet.mockRestore();
    }
    expect((readCard(served)!.metrics as { valLoss128: number }).valLoss128).toBe(0);
  }, 60_000);

  it('adding a fine-tune to a soup of two gives the uniform soup of three (the soup weighs as its ingredients)', async () => {
    const { data, root, a, b } = await lineage();
    expect(await runTrain([...common(data), '--out', join(root, 'ft3'), '--init', join(root, 'base', 'model'), '--steps', '3', '--seed', '3', '--name', 'style'])).toBe(0);
    const c = join(root, 'ft3', 'model');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await runSoup(['--out', join(root, 'ab'), a, b, '--threads', '1'])).toBe(0);
      expect(await runSoup(['--out', join(root, 'abc'), join(root, 'ab'), c, '--threads', '1'])).toBe(0);
    } finally {
      log.mockRestore();
    }
    // (2 × the stored soup of a and b + c) / 3, stored as float16: the uniform soup of three up to storage rounding.
    const [wab, wc, ws] = [join(root, 'ab'), c, join(root, 'abc')].map((d) => readTensorFile(join(d, 'weights.mtw')));
    for (const name of Object.keys(ws)) {
      const expected = Float32Array.from(wab[name].data, (x, i) => (2 * x + wc[name].data[i]) / 3);
      expect(Array.from(ws[name].data)).toEqual(Array.from(fromFloat16(toFloat16(expected))));
    }
    const card = readCard(join(root, 'abc'))!;
    expect((card.training!.soupOf as { seed: number }[]).map((i) => i.seed)).toEqual([1, 2, 3]);
    expect(card.description).toMatch(/of 3 models .*style \(seed 1\), style \(seed 2\), style \(seed 3\); the first: trained from scratch$/); // not the inner soup's description
    expect(readdirSync(join(root, 'abc')).filter((f) => f.startsWith('loss-curve')).sort()).toEqual([1, 2, 3].map((i) => `loss-curve-ingredient-${i}.png`));
  }, 60_000);

  it('moves weights toward a base and back (WiSE-FT)', () => {
    const ft = { name: 'ft', weights: { w: { shape: [2], data: Float32Array.of(1, 2) } } };
    const base = { name: 'base', weights: { w: { shape: [2], data: Float32Array.of(3, 6) } } };
    const moved = interpolateWeights(ft, base, 0.25);
    expect(Array.from(moved.w.data)).toEqual([1.5, 3]);
    expect(Array.from(withoutBase({ name: 'moved', weights: moved }, base, 0.25).w.data)).toEqual([1, 2]);
  });

  it('moves a soup toward its base, and adding a fine-tune to it gives the moved uniform soup of three', async () => {
    const { data, root, base, a, b } = await lineage();
    expect(await runTrain([...common(data), '--out', join(root, 'ft3'), '--init', base, '--steps', '3', '--seed', '3', '--name', 'style'])).toBe(0);
    const c = join(root, 'ft3', 'model');
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((m: string) => void lines.push(m));
    try {
      expect(await runSoup(['--out', join(root, 'ab'), a, b, '--base', base, '--base-weight', '0.5', '--threads', '1'])).toBe(0);
      // No --base or --base-weight: both come from the moved soup's card.
      expect(await runSoup(['--out', join(root, 'abc'), join(root, 'ab'), c, '--threads', '1'])).toBe(0);
    } finally {
      log.mockRestore();
    }
    expect(lines.some((l) => /^average of 2: validation loss/.test(l))).toBe(true);
    expect(lines.some((l) => /^moved 0.5 of the way to .*base\/model: validation loss/.test(l))).toBe(true);
    const sha256 = createHash('sha256').update(readFileSync(join(base, 'weights.mtw'))).digest('hex');
    for (const soup of ['ab', 'abc']) {
      const card = readCard(join(root, soup))!;
      expect(card.training!.baseMix).toEqual({ dir: base, weight: 0.5, sha256, soupValLoss128: expect.any(Number) });
      expect(card.description).toMatch(/moved 50 % of the way back to its base .*base\/model \(WiSE-FT\)/);
    }
    // In float64 from the stored weights: ab = (a + b)/4 + base/2, abc = (a + b + c)/6 + base/2, each stored as float16.
    const [wa, wb, wc, wbase, wab, wabc] = [a, b, c, base, join(root, 'ab'), join(root, 'abc')].map((d) => readTensorFile(join(d, 'weights.mtw')));
    const near = (got: Float32Array, want: (i: number) => number) => {
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want(i))).toBeLessThanOrEqual(2e-3 * Math.abs(want(i)) + 1e-6);
    };
    for (const n of Object.keys(wabc)) {
      near(wab[n].data, (i) => (wa[n].data[i] + wb[n].data[i]) / 4 + wbase[n].data[i] / 2);
      near(wabc[n].data, (i) => (wa[n].data[i] + wb[n].data[i] + wc[n].data[i]) / 6 + wbase[n].data[i] / 2);
    }
    expect((readCard(join(root, 'abc'))!.training!.soupOf as { seed: number }[]).map((i) => i.seed)).toEqual([1, 2, 3]);

    // A base whose weights changed since cannot be taken back out: a clear error, nothing written.
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    const quiet = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      copyFileSync(join(a, 'weights.mtw'), join(base, 'weights.mtw'));
      expect(await runSoup(['--out', join(root, 'abc2'), join(root, 'ab'), c, '--threads', '1'])).toBe(2);
      expect(errors.at(-1)).toMatch(/ab was moved toward the base .* as it was then .* now holds other weights/);
      expect(await runSoup(['--out', join(root, 'abc3'), a, b, '--base-weight', '0.2'])).toBe(2);
      expect(errors.at(-1)).toMatch(/--base-weight needs --base/);
      expect(await runSoup(['--out', join(root, 'abc4'), a, b, '--base', base, '--base-weight', '1'])).toBe(2);
      expect(errors.at(-1)).toMatch(/--base-weight must be between 0 and 0.9/);
      const ab = readCard(join(root, 'ab'))!;
      writeCard(join(root, 'ab'), { ...ab, training: { ...ab.training, baseMix: { weight: 0.5 } } });
      expect(await runSoup(['--out', join(root, 'abc5'), join(root, 'ab'), c, '--threads', '1'])).toBe(2);
      expect(errors.at(-1)).toMatch(/records a move toward its base without a usable base directory, weight and sha256/);
    } finally {
      err.mockRestore();
      quiet.mockRestore();
    }
    for (const s of ['abc2', 'abc3', 'abc4', 'abc5']) expect(existsSync(join(root, s))).toBe(false);
  }, 60_000);

  it('refuses bad input with exit code 2 and a message: one model, a missing model, another architecture', async () => {
    const { data, root, a, b } = await lineage();
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      expect(await runSoup(['--out', join(root, 's1'), a])).toBe(2);
      expect(errors.at(-1)).toMatch(/at least two model directories/);
      expect(await runSoup(['--out', join(root, 's2'), a, join(root, 'nope')])).toBe(2);
      expect(errors.at(-1)).toMatch(/no model at .*nope/);
      writeFileSync(join(root, 'taken'), 'a file');
      expect(await runSoup(['--out', join(root, 'taken'), a, b])).toBe(2);
      expect(errors.at(-1)).toMatch(/taken is a file, not a model directory/);
      expect(await runSoup(['--out', join(root, 's4'), a, b, '--promote', join(root, 'taken')])).toBe(2);
      expect(errors.at(-1)).toMatch(/--promote .*taken is a file, not a model directory/);
      expect(existsSync(join(root, 's4'))).toBe(false);
      // A folder that holds other things than a model (here the runs themselves) is not replaced by a soup.
      expect(await runSoup(['--out', root, a, b])).toBe(2);
      expect(errors.at(-1)).toMatch(/is not a model directory \(it has no config.json\)/);
      expect(existsSync(`${root}.previous`)).toBe(false);
      expect(await runTrain([...common(data), '--out', join(root, 'deep'), '--init', join(root, 'base', 'model'), '--layers', '4', '--steps', '1'])).toBe(0);
      expect(await runSoup(['--out', join(root, 's3'), a, join(root, 'deep', 'model')])).toBe(2);
      expect(errors.at(-1)).toMatch(/deep\/model has nLayer 4 but .*ft1\/model has 2: only models of one architecture can be averaged/);
    } finally {
      err.mockRestore();
    }
    for (const s of ['s1', 's2', 's3']) expect(existsSync(join(root, s))).toBe(false);
  }, 60_000);
});
