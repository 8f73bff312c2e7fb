/**
 * The training loop: random windows from a token stream, AdamW with warm-up + cosine (or one-cycle)
 * schedule, gradient clipping and accumulation (optionally computed on several threads: see
 * gradient-threads.ts), periodic validation, metrics as JSON lines, checkpoints every few minutes and
 * `resume`, and a clean stop on SIGINT/SIGTERM (finish the step, checkpoint, exit).
 *
 * Deterministic given a seed: batch i is drawn from Rng(mixSeed(seed, i)) and dropout is seeded per
 * step, so "train 2N steps" and "train N, stop, resume, train N" see the same batches and noise.
 */
import * as tf from '@tensorflow/tfjs';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GPT, crossEntropy } from '../src/model/gpt.js';
import type { ModelConfig } from '../src/model/config.js';
import { arraysToWeights, replaceDir, weightsToArrays } from '../src/model/store.js';
import { readTensorFile, writeFileAtomic, writeTensorFile, type NamedArray } from '../src/model/tensor-file.js';
import { Rng, mixSeed } from '../src/util/rng.js';
import { stretchTokens, transposeTokens } from '../src/music/tokenizer.js';
import { AdamW, DEFAULT_ADAMW, cosineLr, oneCycleLr } from './optim.js';
import { GradientThreads } from './gradient-threads.js';
import { evaluate } from './evaluate.js';
import { evaluateInThreads } from './eval-threads.js';

export interface TrainOptions {
  /** Where checkpoints, metrics.jsonl and the final model go. */
  runDir: string;
  train: Uint8Array;
  val?: Uint8Array;
  /** Tokens per training window (≤ model blockSize). */
  seqLen: number;
  batchSize: number;
  /** Micro-batches per optimizer step (gradient accumulation). */
  accumulate: number;
  /**
   * Threads computing micro-batches in parallel (data parallelism; default 1). The wasm backend uses one
   * core per thread, so on a 2-core machine 2 threads nearly double tokens/s. Needs accumulate ≥ threads;
   * the result equals single-threaded accumulation up to float summation order.
   */
  threads?: number;
  steps: number;
  lr: number;
  minLr: number;
  warmup: number;
  schedule: 'cosine' | 'one-cycle';
  weightDecay: number;
  clipNorm: number;
  seed: number;
  /** Validate every this many steps (0 = never) on up to valWindows windows of seqLen. */
  evalEvery: number;
  valWindows: number;
  /** Write a checkpoint at least this often (seconds). */
  checkpointSeconds: number;
  /**
   * Pitch-shift augmentation: each training window is transposed by a random number of semitones in
   * −transpose..transpose (0 = off, the default). Validation is never transposed.
   */
  transpose?: number;
  /**
   * Time-stretch augmentation: each training window is played a random factor slower or faster, log-uniform within
   * 1 ± stretch (0 = off, the default; stretchTokens). Validation is never stretched. Measured on the base (session
   * 27, 1,000 steps with `transpose` 3): 0.05 cost 0.003 nats of validation against the same run without it.
   */
  stretch?: number;
  /** Only these weights are trained (names or prefixes); undefined = all. */
  trainable?: (name: string) => boolean;
  /** Progress line sink (stderr by default). */
  log?: (line: string) => void;
  /** Returns true when the run should stop early (checked between steps). */
  shouldStop?: () => boolean;
}

/** What computing one micro-batch needs (a gradient thread gets the same). */
export type MicroBatchOptions = Pick<TrainOptions, 'train' | 'seed' | 'accumulate' | 'batchSize' | 'seqLen' | 'transpose' | 'stretch'>;

export interface Checkpoint {
  step: number;
  tokensSeen: number;
  wallSeconds: number;
  bestValLoss: number | null;
  config: ModelConfig;
}

export interface TrainResult {
  model: GPT;
  checkpoint: Checkpoint;
  lastVal?: { loss: number; accuracy: number };
  stoppedEarly: boolean;
}

const CKPT = 'checkpoint';

/** Train from `init` (a fresh or loaded model), or resume from runDir's checkpoint when resume is set. */
export async function train(init: GPT | ModelConfig, opts: TrainOptions, resume = false): Promise<TrainResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  mkdirSync(opts.runDir, { recursive: true });
  const { model, optimizer, state } = resume && checkpointDir(opts.runDir)
    ? loadCheckpoint(opts.runDir)
    : fresh(init, opts);
  const minWindow = opts.seqLen + 1;
  if (opts.train.length < minWindow) throw new Error(`training stream has ${opts.train.length} tokens; need at least ${minWindow}`);
  if (opts.seqLen > model.config.blockSize) throw new Error(`seqLen ${opts.seqLen} exceeds the model's block size ${model.config.blockSize}`);

  const names = Object.keys(model.weights).sort().filter((n) => !opts.trainable || opts.trainable(n));
  const metricsPath = join(opts.runDir, 'metrics.jsonl');
  if (resume) dropMetricsAfter(metricsPath, state.step);
  let lastCkpt = Date.now();
  let stoppedEarly = false;
  let lastVal: TrainResult['lastVal'];
  const started = Date.now() - state.wallSeconds * 1000;
  let windowTokens = 0;

  const threads = opts.threads ?? 1;
  if (threads > opts.accumulate) throw new Error(`${threads} threads need at least ${threads} micro-batches per step (--accumulate)`);
  const pool = threads > 1 ? await GradientThreads.start(threads - 1, model, names, opts) : null;
  let windowStart = Date.now(); // after thread start-up, so tokens/s is training speed
  try {
    while (state.step < opts.steps) {
      if (opts.shouldStop?.()) {
        stoppedEarly = true;
        break;
      }
      const lr = opts.schedule === 'one-cycle'
        ? oneCycleLr(state.step, { lr: opts.lr, total: opts.steps })
        : cosineLr(state.step, { lr: opts.lr, minLr: opts.minLr, warmup: opts.warmup, total: opts.steps });
      // Micro-batch m goes to thread m % threads; this thread (0) takes its share while the others run.
      const others = pool?.run(state.step, model);
      let lossSum = 0;
      let grads: Record<string, tf.Tensor> | undefined;
      for (let micro = 0; micro < opts.accumulate; micro += threads) {
        const g = microBatchGrads(model, names, opts, state.step, micro);
        lossSum += g.loss;
        grads = grads ? addInto(grads, g.grads) : g.grads;
      }
      if (others) {
        const r = await others;
        lossSum += r.loss;
        for (const g of r.grads) grads = addInto(grads!, g); // thread order: the sum does not depend on timing
      }
      const gradNorm = optimizer.apply(model.weights, grads!, lr, 1 / opts.accumulate); // the mean over micro-batches
      state.step++;
      const tokens = opts.batchSize * opts.seqLen * opts.accumulate;
      state.tokensSeen += tokens;
      windowTokens += tokens;
      const loss = lossSum / opts.accumulate;
      if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${state.step} (loss ${loss}); lower the learning rate`);
      const record: Record<string, unknown> = { step: state.step, loss: round(loss), lr: Number(lr.toExponential(3)), gradNorm: round(gradNorm), tokens: state.tokensSeen };

      if (opts.val && opts.evalEvery > 0 && (state.step % opts.evalEvery === 0 || state.step === opts.steps)) {
        // On the training run's cores: the gradient threads are idle between steps.
        lastVal = threads > 1
          ? await evaluateInThreads(model, opts.val, opts.seqLen, { threads, maxWindows: opts.valWindows })
          : evaluate(model, opts.val, opts.seqLen, opts.valWindows);
        record.valLoss = round(lastVal.loss);
        record.valAccuracy = round(lastVal.accuracy);
        record.valPerplexity = round(Math.exp(lastVal.loss));
        if (state.bestValLoss === null || lastVal.loss < state.bestValLoss) state.bestValLoss = lastVal.loss;
      }
      appendFileSync(metricsPath, JSON.stringify(record) + '\n');

      const now = Date.now();
      if (state.step % 10 === 0 || record.valLoss !== undefined || state.step === opts.steps) {
        const tps = windowTokens / Math.max(1e-3, (now - windowStart) / 1000);
        const eta = ((opts.steps - state.step) * tokens) / Math.max(1, tps);
        log(`${progressBar(state.step / opts.steps)} step ${state.step}/${opts.steps} loss ${loss.toFixed(3)}` +
          (record.valLoss !== undefined ? ` val ${Number(record.valLoss).toFixed(3)} acc ${Number(record.valAccuracy).toFixed(3)}` : '') +
          ` lr ${lr.toExponential(2)} ${tps.toFixed(0)} tok/s ETA ${formatDuration(eta)}`);
        windowStart = now;
        windowTokens = 0;
      }
      if (now - lastCkpt >= opts.checkpointSeconds * 1000) {
        state.wallSeconds = (now - started) / 1000;
        saveCheckpoint(opts.runDir, model, optimizer, state);
        lastCkpt = now;
      }
      await new Promise((r) => setImmediate(r)); // let signal handlers run between steps
    }
  } finally {
    await pool?.close();
  }
  state.wallSeconds = (Date.now() - started) / 1000;
  saveCheckpoint(opts.runDir, model, optimizer, state);
  optimizer.dispose();
  return { model, checkpoint: state, lastVal, stoppedEarly };
}

function fresh(init: GPT | ModelConfig, opts: TrainOptions): { model: GPT; optimizer: AdamW; state: Checkpoint } {
  const model = init instanceof GPT ? init : new GPT(init, undefined, opts.seed);
  return {
    model,
    optimizer: new AdamW({ ...DEFAULT_ADAMW, weightDecay: opts.weightDecay, clipNorm: opts.clipNorm }),
    state: { step: 0, tokensSeen: 0, wallSeconds: 0, bestValLoss: null, config: model.config },
  };
}

/**
 * Loss and gradients (of the weights in `names`) for micro-batch `micro` of `step`. Its batch and dropout
 * are seeded by (seed, step, micro) alone, so any thread computing it gets the same numbers.
 */
export function microBatchGrads(model: GPT, names: string[], opts: MicroBatchOptions, step: number, micro: number): { loss: number; grads: Record<string, tf.Tensor> } {
  const rng = new Rng(mixSeed(opts.seed, step * opts.accumulate + micro));
  const { x, y } = batchFrom(opts.train, opts.batchSize, opts.seqLen, rng, opts.transpose, opts.stretch);
  const vars = names.map((n) => model.weights[n]);
  const { value, grads: g } = tf.variableGrads(
    () => crossEntropy(model.forward(x, { training: true, dropoutSeed: mixSeed(opts.seed + 1, step * 64 + micro) }), y),
    vars,
  );
  const loss = value.dataSync()[0];
  tf.dispose([value, x, y]);
  const grads: Record<string, tf.Tensor> = {};
  for (let i = 0; i < names.length; i++) grads[names[i]] = g[vars[i].name];
  return { loss, grads };
}

/** a += b, name by name (disposes b and the old a). */
export function addInto(a: Record<string, tf.Tensor>, b: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  for (const n of Object.keys(b)) {
    const sum = a[n].add(b[n]);
    tf.dispose([a[n], b[n]]);
    a[n] = sum;
  }
  return a;
}

/**
 * Random windows of seqLen+1 tokens; inputs are the first seqLen, targets the last seqLen. With
 * `transpose` K > 0 each window is pitch-shifted by a random −K..K semitones, with `stretch` s > 0 played a random
 * factor within 1 ± s slower or faster (no extra draws when 0, so runs without augmentation see the same batches as
 * before it existed).
 */
export function batchFrom(stream: Uint8Array, batch: number, seqLen: number, rng: Rng, transpose = 0, stretch = 0): { x: tf.Tensor2D; y: tf.Tensor1D } {
  const x = new Int32Array(batch * seqLen);
  const y = new Int32Array(batch * seqLen);
  for (let b = 0; b < batch; b++) {
    const start = rng.int(stream.length - seqLen);
    let window = stream.subarray(start, start + seqLen + 1);
    if (transpose > 0) window = transposeTokens(window, rng.int(2 * transpose + 1) - transpose);
    if (stretch > 0) window = stretchTokens(window, Math.exp((2 * rng.next() - 1) * Math.log1p(stretch)), () => rng.next());
    for (let t = 0; t < seqLen; t++) {
      x[b * seqLen + t] = window[t];
      y[b * seqLen + t] = window[t + 1];
    }
  }
  return { x: tf.tensor2d(x, [batch, seqLen], 'int32'), y: tf.tensor1d(y, 'int32') };
}

/**
 * A run killed between checkpoints has logged steps the resumed run will redo; drop them so the
 * metrics (and the loss curve drawn from them) hold each step once.
 */
function dropMetricsAfter(path: string, step: number): void {
  if (!existsSync(path)) return;
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
  const kept = lines.filter((l) => (JSON.parse(l) as { step: number }).step <= step);
  if (kept.length !== lines.length) writeFileAtomic(path, [kept.map((l) => l + '\n').join('')]);
}

// --- checkpoints ----------------------------------------------------------------------------------------

/**
 * A checkpoint is a directory (weights, optimizer moments, state). It is written next to the live one
 * and swapped in with renames, so a crash mid-write leaves the previous checkpoint loadable.
 */
export function saveCheckpoint(runDir: string, model: GPT, opt: AdamW, state: Checkpoint): void {
  const dir = join(runDir, CKPT);
  const tmp = `${dir}.tmp`;
  mkdirSync(tmp, { recursive: true });
  writeTensorFile(join(tmp, 'weights.mtw'), weightsToArrays(model));
  // config.json makes a checkpoint directory loadable as a model directory (e.g. --init for fine-tuning).
  writeFileAtomic(join(tmp, 'config.json'), [JSON.stringify(model.config, null, 2) + '\n']);
  const moments: Record<string, NamedArray> = {};
  for (const [n, t] of Object.entries(opt.m)) moments[`m/${n}`] = { shape: t.shape, data: t.dataSync() as Float32Array };
  for (const [n, t] of Object.entries(opt.v)) moments[`v/${n}`] = { shape: t.shape, data: t.dataSync() as Float32Array };
  writeTensorFile(join(tmp, 'optimizer.mtw'), moments);
  writeFileAtomic(join(tmp, 'state.json'), [JSON.stringify({ ...state, adamStep: opt.step, adam: opt.config }, null, 2)]);
  replaceDir(tmp, dir, false);
}

/** The run's last complete checkpoint directory, if any. */
function checkpointDir(runDir: string): string | undefined {
  const dir = join(runDir, CKPT);
  if (existsSync(join(dir, 'state.json'))) return dir;
  // A crash between replaceDir's two renames leaves the last complete checkpoint as .previous.
  if (existsSync(join(`${dir}.previous`, 'state.json'))) return `${dir}.previous`;
  return undefined;
}

/** The model configuration a resumed run will continue with (read without loading any tensors). */
export function checkpointConfig(runDir: string): ModelConfig | undefined {
  const dir = checkpointDir(runDir);
  return dir ? (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Checkpoint).config : undefined;
}

export function loadCheckpoint(runDir: string): { model: GPT; optimizer: AdamW; state: Checkpoint } {
  const dir = checkpointDir(runDir) ?? join(runDir, CKPT);
  const raw = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Checkpoint & { adamStep: number; adam: typeof DEFAULT_ADAMW };
  const model = new GPT(raw.config, arraysToWeights(readTensorFile(join(dir, 'weights.mtw'))));
  const optimizer = new AdamW(raw.adam);
  optimizer.step = raw.adamStep;
  for (const [key, a] of Object.entries(readTensorFile(join(dir, 'optimizer.mtw')))) {
    const [kind, ...rest] = key.split('/');
    const name = rest.join('/');
    (kind === 'm' ? optimizer.m : optimizer.v)[name] = tf.tensor(a.data, a.shape);
  }
  const { adamStep: _s, adam: _a, ...state } = raw;
  return { model, optimizer, state };
}

// --- formatting -----------------------------------------------------------------------------------------

function round(x: number): number {
  return Math.round(x * 1e5) / 1e5;
}

function progressBar(frac: number, width = 20): string {
  const filled = Math.round(Math.max(0, Math.min(1, frac)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
}
