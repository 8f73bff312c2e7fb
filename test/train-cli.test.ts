import { describe, it, expect, vi } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTrain, promote, stopHandler } from '../src/cli/train.js';
import { runPromote, runRollback } from '../src/cli/promote.js';
import { cardStyle, readCard, writeCard } from '../src/model/store.js';
import { tinyCorpus } from './support/tiny-corpus.js';
import { readMemoryFile } from '../src/model/memory-store.js';
import { sha256 } from '../src/util/sha256.js';
import { KnownError } from '../src/util/known-error.js';
import { initBackend } from '../src/model/backend.js';

const cardStyleOf = (dir: string) => cardStyle(readCard(dir));

describe('maestro train (CLI)', () => {
  it('runs the LR finder and writes its curve', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'maestro-run-')), 'lr');
    expect(await runTrain(['--data', tinyCorpus(), '--out', out, '--preset', 'tiny', '--seq', '32', '--batch', '2', '--find-lr'])).toBe(0);
    const found = JSON.parse(readFileSync(join(out, 'lr-finder.json'), 'utf8'));
    expect(found.suggestion).toBeGreaterThan(1e-6);
    expect(found.suggestion).toBeLessThan(1);
    expect(readFileSync(join(out, 'lr-finder.png')).subarray(1, 4).toString()).toBe('PNG');
  });

  it('trains, saves a model with a card and a loss curve, and promotes only when not worse', async () => {
    const data = tinyCorpus();
    const root = mkdtempSync(join(tmpdir(), 'maestro-run-'));
    const out = join(root, 'run');
    expect(await runTrain(['--data', data, '--out', out, '--preset', 'tiny', '--seq', '32', '--batch', '4', '--steps', '30', '--lr', '3e-3', '--eval-every', '10'])).toBe(0);
    const card = readCard(join(out, 'model'))!;
    expect(card.licence).toMatch(/NC-SA/);
    expect((card.training as Record<string, unknown>).steps).toBe(30);
    expect(existsSync(join(out, 'loss-curve.png'))).toBe(true);
    const served = join(root, 'served');
    const loss = Number((card.metrics as Record<string, number>).valLoss128);
    expect(promote(join(out, 'model'), served, loss)).toBe(true);
    expect(readFileSync(join(served, 'loss-curve.png')).subarray(1, 4).toString()).toBe('PNG');
    // A served model that validates better is kept.
    writeCard(served, { ...readCard(served)!, metrics: { valLoss128: loss - 1 } });
    expect(promote(join(out, 'model'), served, loss)).toBe(false);
    expect(existsSync(`${served}.previous`)).toBe(false);
    // How the style is played (maestro performance) belongs to the style: a promotion keeps it.
    const performance = `{ "format": "maestro-performance/1", "pedal": { "pedal": null } }`;
    writeFileSync(join(served, 'performance.json'), performance);
    writeCard(served, { ...readCard(served)!, metrics: { valLoss128: loss + 1 } });
    expect(promote(join(out, 'model'), served, loss)).toBe(true);
    expect(readFileSync(join(served, 'performance.json'), 'utf8')).toBe(performance);
    // A file or a folder that is not a model is never replaced by a promotion (a typo such as --promote models).
    const notes = join(root, 'notes.txt');
    writeFileSync(notes, 'keep me');
    mkdirSync(join(root, 'folder'));
    writeFileSync(join(root, 'folder', 'other.txt'), 'keep me too');
    expect(() => promote(join(out, 'model'), notes, loss)).toThrow(/is a file, not a model directory/);
    expect(() => promote(join(out, 'model'), join(root, 'folder'), loss)).toThrow(/is not a model directory/);
    expect(readFileSync(notes, 'utf8')).toBe('keep me');
    expect(readdirSync(join(root, 'folder'))).toEqual(['other.txt']);
    expect(existsSync(`${notes}.previous`) || existsSync(join(root, 'folder.previous'))).toBe(false);
    // The CLI refuses it before training.
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      expect(await runTrain(['--data', data, '--out', join(root, 'run2'), '--preset', 'tiny', '--steps', '1', '--promote', join(root, 'folder')])).toBe(2);
    } finally {
      err.mockRestore();
    }
    expect(errors.join('\n')).toContain('is not a model directory');
    expect(existsSync(join(root, 'run2', 'model'))).toBe(false);
  });

  it('promotes a model only into its own style: a run on the baroque corpus does not replace the romantic model', async () => {
    const data = tinyCorpus();
    writeFileSync(join(data, 'manifest.json'), JSON.stringify({ settings: { style: 'baroque' } }));
    const root = mkdtempSync(join(tmpdir(), 'maestro-style-'));
    const args = ['--data', data, '--preset', 'tiny', '--seq', '32', '--batch', '2', '--eval-every', '0', '--steps', '1'];
    expect(await runTrain([...args, '--out', join(root, 'run')])).toBe(0);
    const served = join(root, 'romantic');
    expect(promote(join(root, 'run', 'model'), served, 99)).toBe(true);
    // A style's first promotion gives it its memory of the run's corpus.
    expect(readMemoryFile(served)!.source.sha256).toBe(sha256(new Uint8Array(readFileSync(join(data, 'train.bin')))));
    writeCard(served, { ...readCard(served)!, data: { manifest: { settings: { style: 'romantic' } } }, metrics: { valLoss128: 99 } });
    const before = readFileSync(join(served, 'card.json'), 'utf8');
    // The card of the run names baroque (its corpus' manifest): promote() refuses it.
    expect(cardStyleOf(join(root, 'run', 'model'))).toBe('baroque');
    expect(() => promote(join(root, 'run', 'model'), served, 0)).toThrow(/serves romantic, and .* was trained on baroque/);
    // The CLI, before training.
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      expect(await runTrain([...args, '--out', join(root, 'run2'), '--promote', served])).toBe(2);
    } finally {
      err.mockRestore();
    }
    expect(errors.join('\n')).toContain('is the baroque corpus: a model is promoted into its own style');
    expect(readFileSync(join(served, 'card.json'), 'utf8')).toBe(before);
    expect(existsSync(join(root, 'run2', 'model'))).toBe(false);
  });

  it("says when the base pre-trained on a style corpus' validation files (a style added after the base), in the card and on the console", async () => {
    const root = mkdtempSync(join(tmpdir(), 'maestro-seen-'));
    const withManifest = (manifest: object) => {
      const dir = tinyCorpus();
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
      return dir;
    };
    // The base's corpus held out the validation files of the styles it knew: baroque's.
    // (and its own validation pieces, one of them a Mozart performance).
    const pretrain = withManifest({ corpus: 'pretrain-thesis', settings: { heldOutFiles: ['maestro:bach.midi'] }, validationFiles: ['catalog:asap/Mozart/a.mid'] });
    const baroque = withManifest({ corpus: 'thesis-baroque', settings: { style: 'baroque' }, validationFiles: ['maestro:bach.midi'] });
    const classical = withManifest({ corpus: 'classical', settings: { style: 'classical' }, validationFiles: ['catalog:asap/Mozart/a.mid', 'catalog:asap/Haydn/b.mid'] });
    const args = ['--seq', '32', '--batch', '2', '--eval-every', '0', '--steps', '1'];
    expect(await runTrain(['--data', pretrain, '--out', join(root, 'base'), '--preset', 'tiny', ...args])).toBe(0);
    const errors: string[] = [];
    const logs: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    const log = vi.spyOn(console, 'log').mockImplementation((m: string) => void logs.push(m));
    try {
      expect(await runTrain(['--data', baroque, '--out', join(root, 'baroque'), '--init', join(root, 'base', 'model'), ...args])).toBe(0);
      expect(errors.join('\n')).not.toContain('warning');
      expect(await runTrain(['--data', classical, '--out', join(root, 'classical'), '--init', join(root, 'base', 'model'), ...args])).toBe(0);
      // A continued run of the added style inherits the caveat from its parent's card.
      expect(await runTrain(['--data', classical, '--out', join(root, 'classical-2'), '--init', join(root, 'classical', 'model'), ...args])).toBe(0);
    } finally {
      err.mockRestore();
      log.mockRestore();
    }
    expect(readCard(join(root, 'baroque', 'model'))!.data!.seenInPretraining).toBeUndefined();
    const seen = { corpus: 'classical', files: ['catalog:asap/Haydn/b.mid'], of: 2 };
    expect(readCard(join(root, 'classical', 'model'))!.data!.seenInPretraining).toEqual(seen);
    expect(readCard(join(root, 'classical-2', 'model'))!.data!.seenInPretraining).toEqual(seen);
    expect(errors.filter((e) => e.includes('warning: the base pre-trained on 1 of classical\'s 2 validation files'))).toHaveLength(2);
    expect(logs.filter((l) => /^saved .*classical.*validation loss [\d.]+ .* — optimistic: the base pre-trained on 1 of classical's 2/.test(l))).toHaveLength(2);
  });

  it('maestro promote serves a finished run if it validates no worse; maestro rollback serves the previous model again', async () => {
    const data = tinyCorpus();
    const root = mkdtempSync(join(tmpdir(), 'maestro-promote-'));
    const args = ['--data', data, '--preset', 'tiny', '--seq', '32', '--batch', '2', '--eval-every', '0', '--steps', '1'];
    expect(await runTrain([...args, '--out', join(root, 'a')])).toBe(0);
    expect(await runTrain([...args, '--out', join(root, 'b'), '--seed', '2'])).toBe(0);
    const served = join(root, 'served');
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await runPromote([join(root, 'a', 'model'), '--to', served])).toBe(0);
      const a = readFileSync(join(served, 'weights.mtw'));
      // b is promoted only if it validates no worse; make it worse, then better.
      const lossOf = (dir: string) => Number((readCard(dir)!.metrics as Record<string, number>).valLoss128);
      writeCard(join(root, 'b', 'model'), { ...readCard(join(root, 'b', 'model'))!, metrics: { valLoss128: lossOf(served) + 1 } });
      expect(await runPromote([join(root, 'b', 'model'), '--to', served])).toBe(3);
      expect(readFileSync(join(served, 'weights.mtw'))).toEqual(a);
      writeCard(join(root, 'b', 'model'), { ...readCard(join(root, 'b', 'model'))!, metrics: { valLoss128: lossOf(served) - 1 } });
      expect(await runPromote([join(root, 'b', 'model'), '--to', served])).toBe(0);
      const b = readFileSync(join(served, 'weights.mtw'));
      expect(b).not.toEqual(a);
      // Rollback serves a again; a second rollback undoes the first.
      expect(await runRollback([served])).toBe(0);
      expect(readFileSync(join(served, 'weights.mtw'))).toEqual(a);
      expect(await runRollback([served])).toBe(0);
      expect(readFileSync(join(served, 'weights.mtw'))).toEqual(b);
      // Bad input: one line, exit 2, nothing touched.
      expect(await runPromote([join(root, 'a', 'model')])).toBe(2);
      expect(await runPromote([root, '--to', served])).toBe(2);
      expect(await runRollback([join(root, 'a', 'model')])).toBe(2);
      writeFileSync(join(root, 'notes.txt'), 'keep me');
      expect(await runPromote([join(root, 'a', 'model'), '--to', join(root, 'notes.txt')])).toBe(2);
    } finally {
      err.mockRestore();
      log.mockRestore();
    }
    expect(errors.join('\n')).toContain('--to is required');
    expect(errors.join('\n')).toContain('is not a model directory (no config.json)');
    expect(errors.join('\n')).toContain('there is no previous model in');
    expect(errors.join('\n')).toContain('notes.txt is a file, not a model directory');
    expect(readFileSync(join(root, 'notes.txt'), 'utf8')).toBe('keep me');
    expect(readFileSync(join(served, 'weights.mtw'))).toEqual(readFileSync(join(root, 'b', 'model', 'weights.mtw')));
  });

  it("maestro promote tries a style's first model moved toward its base, and serves the best", async () => {
    const root = mkdtempSync(join(tmpdir(), 'maestro-first-'));
    const pretrain = tinyCorpus();
    const style = tinyCorpus();
    writeFileSync(join(style, 'manifest.json'), JSON.stringify({ corpus: 'classical', settings: { style: 'classical' }, validationFiles: [] }));
    const args = ['--seq', '32', '--batch', '2', '--eval-every', '0'];
    expect(await runTrain(['--data', pretrain, '--out', join(root, 'pre'), '--preset', 'tiny', '--steps', '3', ...args])).toBe(0);
    mkdirSync(join(root, 'models'));
    expect(await runPromote([join(root, 'pre', 'model'), '--to', join(root, 'models', 'base')])).toBe(0);
    expect(await runTrain(['--data', style, '--out', join(root, 'run'), '--init', join(root, 'models', 'base'), '--steps', '3', '--lr', '3e-3', ...args])).toBe(0);
    const logs: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((m: string) => void logs.push(m));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await runPromote([join(root, 'run', 'model'), '--to', join(root, 'models', 'classical')])).toBe(0);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const lossIn = (dir: string) => Number((readCard(dir)!.metrics as Record<string, number>).valLoss128);
    const tried = [join(root, 'run', 'model'), join(root, 'run', 'toward-base-0.5'), join(root, 'run', 'toward-base-0.8')].map(lossIn);
    expect(lossIn(join(root, 'models', 'classical'))).toBe(Math.min(...tried));
    expect(logs.filter((l) => /moved (50|80) % of the way back to .*: validation loss/.test(l))).toHaveLength(2);
  });

  it('a promoted continuation keeps the loss curves of the runs before it; a model that does not continue it does not', async () => {
    const data = tinyCorpus();
    const root = mkdtempSync(join(tmpdir(), 'maestro-run-'));
    const served = join(root, 'served');
    const common = ['--data', data, '--seq', '32', '--batch', '2', '--lr', '3e-3', '--eval-every', '0', '--name', 'base'];
    const run = async (name: string, steps: number, init?: string) => {
      expect(await runTrain([...common, '--out', join(root, name), '--steps', String(steps), ...(init ? ['--init', init] : ['--preset', 'tiny'])])).toBe(0);
      if (existsSync(served)) writeCard(served, { ...readCard(served)!, metrics: {} }); // no served loss: the candidate is always promoted
      expect(promote(join(root, name, 'model'), served, 0)).toBe(true);
      return readdirSync(served).filter((f) => f.startsWith('loss-curve')).sort();
    };
    expect(await run('a', 4)).toEqual(['loss-curve.png']);
    expect(await run('b', 3, served)).toEqual(['loss-curve-steps-1-4.png', 'loss-curve.png']);
    expect(await run('c', 2, served)).toEqual(['loss-curve-steps-1-4.png', 'loss-curve-steps-5-7.png', 'loss-curve.png']);
    expect(readFileSync(join(served, 'loss-curve-steps-5-7.png'))).toEqual(readFileSync(join(root, 'b', 'loss-curve.png')));
    // A fresh model (or a style fine-tuned from a base) replacing the served one starts its own set.
    expect(await run('d', 2)).toEqual(['loss-curve.png']);
  });

  it('records the lineage: a continued run adds its parent to the history and totals, surviving the parent being replaced', async () => {
    const data = tinyCorpus();
    const root = mkdtempSync(join(tmpdir(), 'maestro-run-'));
    const common = ['--data', data, '--seq', '32', '--batch', '2', '--lr', '3e-3', '--eval-every', '0'];
    expect(await runTrain([...common, '--out', join(root, 'a'), '--preset', 'tiny', '--steps', '4', '--name', 'my base'])).toBe(0);
    const a = readCard(join(root, 'a', 'model'))!;
    // Continue "a" for 3 steps, stopping after 2 and resuming (the snapshot of a's card is what counts).
    const b = ['--out', join(root, 'b'), '--init', join(root, 'a', 'model'), '--name', 'my base'];
    expect(await runTrain([...common, ...b, '--steps', '2'])).toBe(0);
    writeCard(join(root, 'a', 'model'), { ...a, training: { ...a.training, steps: 999 } }); // "a" replaced meanwhile
    expect(await runTrain([...common, ...b, '--steps', '3', '--resume'])).toBe(0);
    const t = readCard(join(root, 'b', 'model'))!.training as Record<string, unknown>;
    expect(t.history).toEqual([expect.objectContaining({ model: 'my base', steps: 4, tokensSeen: 4 * 2 * 32 })]);
    expect(t.stepsTotal).toBe(4 + 3);
    expect(t.tokensSeenTotal).toBe((4 + 3) * 2 * 32);
    expect(t.command).toContain("--name 'my base'");
    // Same corpus as the parent: a continuation keeps the parent's description.
    expect(readCard(join(root, 'b', 'model'))!.description).toBe(a.description);
  });

  it('resumes from the checkpoint alone: the --init model may be gone, and a deepened run keeps its lineage', async () => {
    const data = tinyCorpus();
    const root = mkdtempSync(join(tmpdir(), 'maestro-run-'));
    const common = ['--data', data, '--seq', '32', '--batch', '2', '--lr', '3e-3', '--eval-every', '0'];
    expect(await runTrain([...common, '--out', join(root, 'a'), '--preset', 'tiny', '--steps', '2'])).toBe(0);
    const layers = (readCard(join(root, 'a', 'model'))!.architecture as { nLayer: number }).nLayer;
    const b = ['--out', join(root, 'b'), '--init', join(root, 'a', 'model'), '--layers', String(2 * layers)];
    expect(await runTrain([...common, ...b, '--steps', '2'])).toBe(0);
    rmSync(join(root, 'a'), { recursive: true });
    expect(await runTrain([...common, ...b, '--steps', '4', '--resume'])).toBe(0);
    const card = readCard(join(root, 'b', 'model'))!;
    expect((card.architecture as { nLayer: number }).nLayer).toBe(2 * layers);
    expect(card.training).toMatchObject({ steps: 4, deepenedFrom: layers });
  });

  it('counts a Ctrl-C echoed within a second (terminal + npx) once; a later one aborts, or skips only the evaluation', () => {
    let t = 0;
    const exits: number[] = [];
    const logs: string[] = [];
    const h = stopHandler({ checkpointDir: 'run/checkpoint', log: (m) => logs.push(m), exit: (c) => void exits.push(c), now: () => t });
    h.onSignal();
    t = 30;
    h.onSignal(); // the echo
    expect(h.state.stopping).toBe(true);
    expect(exits).toEqual([]);
    t = 2000;
    h.onSignal(); // a real second Ctrl-C during training: abort
    expect(exits).toEqual([130]);
    const after = stopHandler({ checkpointDir: 'run/checkpoint', log: (m) => logs.push(m), exit: (c) => void exits.push(c), now: () => t });
    after.onSignal();
    after.state.checkpointed = true;
    t = 5000;
    after.onSignal(); // after the checkpoint: skip the evaluation, say where the checkpoint is
    expect(exits).toEqual([130, 130]);
    expect(logs.at(-1)).toMatch(/checkpoint in run\/checkpoint is complete \(continue with --resume\)/);
  });

  it('stops cleanly on Ctrl-C: a checkpoint at the last logged step, then the model is saved (marked unfinished)', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'maestro-run-')), 'run');
    const bin = join(import.meta.dirname, '..', 'bin', 'maestro.js');
    const child = spawn(process.execPath, [bin, 'train', '--data', tinyCorpus(), '--out', out, '--preset', 'tiny', '--seq', '32', '--batch', '2', '--steps', '100000', '--eval-every', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const metrics = join(out, 'metrics.jsonl');
    for (let i = 0; i < 600 && !(existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 3); i++) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr.match(/stopping after this step/g)).toHaveLength(1);
    const lastStep = JSON.parse(readFileSync(metrics, 'utf8').trim().split('\n').pop()!).step;
    expect(JSON.parse(readFileSync(join(out, 'checkpoint', 'state.json'), 'utf8')).step).toBe(lastStep);
    expect((readCard(join(out, 'model'))!.training as Record<string, unknown>).finished).toBe(false);
  }, 60_000);

  it('refuses an empty corpus in one line (exit code 2), before training', async () => {
    const data = tinyCorpus();
    writeFileSync(join(data, 'train.bin'), new Uint8Array());
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      expect(await runTrain(['--data', data, '--out', join(mkdtempSync(join(tmpdir(), 'maestro-empty-')), 'run'), '--preset', 'tiny', '--steps', '1'])).toBe(2);
    } finally {
      err.mockRestore();
    }
    expect(errors.join('\n')).toMatch(/train\.bin holds 0 tokens, too few to train on \(at least 129\): is the corpus empty\?/);
  });

  it('refuses missing data with exit code 2', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'maestro-empty-'));
    mkdirSync(join(empty, 'x'));
    expect(await runTrain(['--data', join(empty, 'x'), '--out', join(empty, 'run')])).toBe(2);
    expect(await runTrain(['--out', join(empty, 'run')])).toBe(2);
  });

  it('refuses --resume where there is no checkpoint (exit code 2), instead of quietly starting a new run', async () => {
    const data = tinyCorpus();
    const out = join(mkdtempSync(join(tmpdir(), 'maestro-noresume-')), 'run');
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      expect(await runTrain(['--data', data, '--out', out, '--steps', '1', '--resume'])).toBe(2);
    } finally {
      err.mockRestore();
    }
    expect(errors.join('\n')).toContain('holds no checkpoint to continue');
    expect(existsSync(join(out, 'checkpoint'))).toBe(false);
  });

  it('refuses to start a new run over the checkpoint of another (exit code 2): it is continued with --resume', async () => {
    const data = tinyCorpus();
    const out = join(mkdtempSync(join(tmpdir(), 'maestro-rerun-')), 'run');
    const args = ['--data', data, '--out', out, '--preset', 'tiny', '--seq', '32', '--batch', '2', '--eval-every', '0'];
    expect(await runTrain([...args, '--steps', '2'])).toBe(0);
    const state = readFileSync(join(out, 'checkpoint', 'state.json'), 'utf8');
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      expect(await runTrain([...args, '--steps', '4'])).toBe(2);
    } finally {
      err.mockRestore();
    }
    expect(errors.join('\n')).toContain("already holds a run's checkpoint: continue it with --resume");
    expect(readFileSync(join(out, 'checkpoint', 'state.json'), 'utf8')).toBe(state);
    expect(await runTrain([...args, '--steps', '4', '--resume'])).toBe(0);
  });

  it("says what to do when a run does not fit the wasm backend's 4 GB heap, and leaves no Ctrl-C handler behind", async (ctx) => {
    if ((await initBackend()) !== 'wasm') ctx.skip(); // tfjs-node has no such limit
    // 512 sequences of 256 tokens a micro-batch: the attention weights alone are 1 GB a layer.
    const out = join(mkdtempSync(join(tmpdir(), 'maestro-oom-')), 'run');
    const listeners = process.listenerCount('SIGINT');
    const run = runTrain(['--data', tinyCorpus(), '--out', out, '--preset', 'small', '--seq', '256', '--batch', '512', '--steps', '1', '--eval-every', '0']);
    const failure = await run.then(() => undefined, (err: unknown) => err);
    expect(failure).toBeInstanceOf(KnownError); // the CLI prints its message alone, exit code 1
    expect((failure as Error).message).toMatch(/WebAssembly backend ran out of memory: its heap holds at most 4 GB.*512 × 256 tokens.*Lower --batch \(raise --accumulate to keep 512 sequences a step\)/);
    expect(process.listenerCount('SIGINT')).toBe(listeners);
  }, 120_000);

  it('refuses an --out that is a file before training (exit code 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-outfile-'));
    writeFileSync(join(dir, 'taken'), 'a file');
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      expect(await runTrain(['--data', tinyCorpus(), '--out', join(dir, 'taken')])).toBe(2);
    } finally {
      err.mockRestore();
    }
    expect(errors.join('\n')).toContain('is a file; give a directory');
    expect(readFileSync(join(dir, 'taken'), 'utf8')).toBe('a file');
  });
});
