/**
 * Model benchmarks, one backend per process (`MAESTRO_BACKEND=wasm|cpu|… npx tsx bench/model.ts MODE`):
 *  - sample: tokens/s of KV-cached sampling for a 6-layer 256-wide model and a GIGA-Piano-sized one
 *    (16 × 1024, ≈103 M params; random weights — speed does not depend on their values), batch 1 and 4 (and 36
 *    for the small model: the evaluation report's batch);
 *  - train: training tokens/s (forward + backward + AdamW) of the 6-layer 256-wide model, seq 256, batch 8
 *    (batch 1 on the pure-JS backend); train-larger: the same for an 8-layer 384-wide model (the next size up);
 *  - train-threads: the real trainer on 1 and 2 threads.
 * Prints one JSON line per measurement; bench/run.ts collects them into a table.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.js';
import { GPT, crossEntropy } from '../src/model/gpt.js';
import { GIGA_PIANO, MAESTRO_SMALL, parameterCount, type ModelConfig } from '../src/model/config.js';
import { sampleBatch } from '../src/model/sampler.js';
import { gigaTokenizer } from '../src/music/tokenizer.js';
import { AdamW } from '../training/optim.js';

const mode = process.argv[2] ?? 'sample';
process.env.MAESTRO_QUIET = '1';
const backend = await initBackend();

function emit(o: Record<string, unknown>): void {
  console.log(JSON.stringify({ backend, ...o }));
}

/** A plausible prompt: notes of a scale in the GIGA grammar. */
function prompt(notes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < notes; i++) out.push(127, 10, 12, 60 + (i % 12));
  return [...out, 127];
}

async function benchSampling(name: string, config: ModelConfig, tokens: number, promptNotes: number, batches: readonly number[]): Promise<void> {
  const model = new GPT({ ...config, dropout: 0 });
  for (const batch of batches) {
    const run = (maxTokens: number, notes: number) => {
      const t0 = performance.now();
      const rows = Array.from({ length: batch }, (_, i) => ({ prompt: prompt(notes), seed: i + 1 }));
      sampleBatch(model, gigaTokenizer, { rows, seconds: 600, temperature: 1, topK: 0, topP: 1, maxTokens });
      return (performance.now() - t0) / 1000;
    };
    run(4, 4); // warm-up: kernel setup, XNNPACK weight packing
    // Prefill (the prompt in one pass) and decoding (one token per step with the KV cache) separately.
    const prefill = run(1, promptNotes);
    const total = run(tokens, promptNotes);
    const decode = Math.max(1e-6, total - prefill);
    emit({ bench: 'sample', model: name, params: parameterCount(config), batch, promptTokens: promptNotes * 4 + 1, tokens, prefillSeconds: round(prefill), decodeSeconds: round(decode), tokensPerSecond: round((tokens - 1) / decode), sequenceTokensPerSecond: round(((tokens - 1) * batch) / decode) });
  }
  model.dispose();
}

async function benchTraining(name: string, base: ModelConfig, steps: number, B: number): Promise<void> {
  const config = { ...base, dropout: 0.1 };
  const model = new GPT(config);
  const opt = new AdamW();
  const T = 256;
  const x = tf.randomUniform([B, T], 0, 128, 'int32', 1) as tf.Tensor2D;
  const y = tf.randomUniform([B * T], 0, 128, 'int32', 2) as tf.Tensor1D;
  const step = (i: number) => {
    const { value, grads } = tf.variableGrads(() => crossEntropy(model.forward(x, { training: true, dropoutSeed: i }), y), model.variables());
    value.dataSync();
    value.dispose();
    opt.apply(model.weights, Object.fromEntries(Object.entries(model.weights).map(([k, v]) => [k, grads[v.name]])), 1e-4);
  };
  step(0);
  const t0 = performance.now();
  for (let i = 1; i <= steps; i++) step(i);
  const s = (performance.now() - t0) / 1000;
  emit({ bench: 'train', model: name, params: parameterCount(config), batch: B, seq: T, steps, seconds: round(s), tokensPerSecond: round((steps * B * T) / s), rssMB: Math.round(process.memoryUsage().rss / 2 ** 20) });
}

/**
 * The real trainer (training/trainer.ts) on random tokens, 8 × 256 tokens per step as 2 micro-batches of
 * 4, on `threads` threads: what data parallelism buys. Timed by the trainer's own progress line for the
 * last 10 steps (after kernel set-up and thread start-up).
 */
async function benchTrainerThreads(threads: number, steps: number): Promise<void> {
  const { train } = await import('../training/trainer.js');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const runDir = mkdtempSync(join(tmpdir(), 'maestro-bench-train-'));
  const stream = new Uint8Array(200_000).map((_, i) => (i * 2654435761) >>> 25);
  let tps = NaN;
  const result = await train({ ...MAESTRO_SMALL, dropout: 0.1 }, {
    runDir, train: stream, seqLen: 256, batchSize: 4, accumulate: 2, threads, steps, lr: 1e-4, minLr: 1e-5, warmup: 1,
    schedule: 'cosine', weightDecay: 0.1, clipNorm: 1, seed: 1, evalEvery: 0, valWindows: 1, checkpointSeconds: 1e9,
    log: (line) => {
      const m = / (\d+) tok\/s/.exec(line);
      if (m) tps = Number(m[1]);
    },
  });
  result.model.dispose();
  rmSync(runDir, { recursive: true, force: true });
  emit({ bench: 'train-threads', model: '6x256', threads, batch: '2 x 4', seq: 256, steps, tokensPerSecond: tps, rssMB: Math.round(process.memoryUsage().rss / 2 ** 20) });
}

/** 8 layers × 384 wide, 6 heads: ~3× the small model's parameters. */
const LARGER: ModelConfig = { ...MAESTRO_SMALL, nLayer: 8, nHead: 6, nEmbd: 384, mlpDim: 1536 };

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

if (mode === 'sample') {
  // Batch 36 is `maestro eval --report` (18 prompts × 2): the step cost is mostly per-operation overhead at this size.
  await benchSampling('6x256', MAESTRO_SMALL, 128, 100, backend === 'cpu' ? [1, 4] : [1, 4, 36]);
  if (backend !== 'cpu') await benchSampling('giga-16x1024', GIGA_PIANO, 16, 100, [1, 4]);
} else if (mode === 'train') {
  // The pure-JS backend is ~50× slower: a smaller batch keeps its measurement to a minute or two.
  await benchTraining('6x256', MAESTRO_SMALL, backend === 'cpu' ? 1 : 3, backend === 'cpu' ? 1 : 8);
} else if (mode === 'train-larger') {
  // The next size up: what a larger model would cost per token before anyone trains it.
  await benchTraining('8x384', LARGER, 3, 8);
} else if (mode === 'train-threads') {
  for (const threads of [1, 2]) await benchTrainerThreads(threads, 30);
} else {
  console.error('usage: bench/model.ts sample|train|train-larger|train-threads');
  process.exit(2);
}
