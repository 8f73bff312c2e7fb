/**
 * The style memory's cost (src/model/memory.ts): loading a shipped memory (suffix array + neighbour index), one guess
 * per field, sampling with and without it on the served model of the same style, and scoring 128-token windows as
 * `maestro eval --thesis` does (training/evaluate.ts, one thread).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadMemory } from '../src/model/memory-store.js';
import { initBackend } from '../src/model/backend.js';
import { loadModel } from '../src/model/store.js';
import { sampleContinuation, DEFAULT_SAMPLING } from '../src/model/sampler.js';
import { gigaTokenizer } from '../src/music/tokenizer.js';
import { REPO_ROOT } from '../src/compose.js';
import { evaluateWindows } from '../training/evaluate.js';

export async function benchMemory(style = 'romantic'): Promise<void> {
  const dir = join(REPO_ROOT, 'models', style);
  console.log(`\n## Style memory (models/${style}: GPT + memory, src/model/memory.ts)\n`);
  if (!existsSync(join(dir, 'memory.json'))) {
    console.log(`(models/${style} has no memory)`);
    return;
  }
  let t = performance.now();
  const memory = loadMemory(dir)!;
  const loadMs = performance.now() - t;
  // Contexts cut from the memory's own stream: long matches, the most work per guess.
  const stream = memory.trainTokens;
  const perField: Record<string, { ms: number; n: number }> = {};
  for (let w = 0; w < 60; w++) {
    const start = Math.floor((w * (stream.length - 200)) / 60);
    for (let len = 1; len <= 128; len++) {
      t = performance.now();
      const g = memory.guess(stream.subarray(start, start + len));
      const ms = performance.now() - t;
      const f = g?.field ?? 'none (separator or no context)';
      (perField[f] ??= { ms: 0, n: 0 }).ms += ms;
      perField[f].n++;
    }
  }
  console.log(`Loading: ${(loadMs / 1000).toFixed(2)} s for ${memory.notes.toLocaleString('en-US')} notes.\n`);
  console.log('| next token | guesses | ms per guess |\n|---|---|---|');
  for (const [f, { ms, n }] of Object.entries(perField)) console.log(`| ${f} | ${n} | ${(ms / n).toFixed(3)} |`);

  await initBackend(undefined, () => {});
  const model = loadModel(dir);
  const prompt = Array.from(stream.subarray(0, 400));
  const first = prompt.lastIndexOf(127);
  const req = { ...DEFAULT_SAMPLING, prompt: prompt.slice(0, first + 1), seconds: 10, candidates: 4, seed: 1 };
  const rate = (withMemory: boolean) => {
    const t0 = performance.now();
    const out = sampleContinuation(model, gigaTokenizer, { ...req, ...(withMemory ? { memory } : {}) });
    const tokens = out.reduce((a, c) => a + c.length, 0);
    return tokens / ((performance.now() - t0) / 1000);
  };
  rate(false); // warm-up
  const without = rate(false);
  const withIt = rate(true);
  // The served mix runs the GPT once per view of the context (src/model/views.ts); without them, the memory's own cost.
  const views = memory.settings.views;
  memory.settings.views = undefined;
  const plainViews = rate(true);
  memory.settings.views = views;
  console.log(`\nSampling 4 candidates × 10 s from a remembered passage: ${without.toFixed(0)} tokens/s without the memory, ${withIt.toFixed(0)} with it as served (${views?.length ?? 1} views of the context; ${(withIt / without).toFixed(2)}×), ${plainViews.toFixed(0)} with it on the plain context alone (${(plainViews / without).toFixed(2)}×).`);

  // Scoring: 32 windows of 128 tokens spread over the memory's own stream (every target remembered: the most work per guess).
  const windows = Array.from({ length: 32 }, (_, w) => Math.floor((w * (stream.length - 200)) / 32));
  const score = (withMemory: boolean) => {
    const t0 = performance.now();
    const sums = evaluateWindows(model, stream, 128, windows, 16, undefined, withMemory ? memory : undefined);
    return sums.tokens / ((performance.now() - t0) / 1000);
  };
  const gptAlone = score(false);
  const served = score(true);
  console.log(`Scoring 32 windows of 128 tokens (one thread): ${gptAlone.toFixed(0)} targets/s the GPT alone, ${served.toFixed(0)} as served (${(served / gptAlone).toFixed(2)}×: ${views?.length ?? 1} views, the memory's guesses and its gate).`);
  model.dispose();
}
