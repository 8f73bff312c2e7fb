/**
 * `npm run bench`: every benchmark, each in its own process (one backend per process, clean memory),
 * printed as a table of numbers and ratios. Speed targets are checked here, never in tests.
 *   npm run bench            all
 *   npm run bench -- model   only the model benchmarks (also: render, bot, memory)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeKernelsStatus } from '../src/model/native-kernels.js';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv[2];

interface Row {
  backend: string;
  bench: string;
  [k: string]: unknown;
}

function runNode(script: string, args: string[], env: Record<string, string> = {}): Row[] {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, script), ...args], {
    env: { ...process.env, ...env, MAESTRO_QUIET: '1' },
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
  if (r.status !== 0) {
    console.error(`bench ${script} ${args.join(' ')} (${JSON.stringify(env)}) failed:\n${(r.stderr ?? '').split('\n').slice(-15).join('\n')}`);
  }
  return (r.stdout ?? '').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Row);
}

function modelBenchmarks(): void {
  console.log('\n## Sampling (KV cache, grammar-constrained; random weights)\n');
  const sample = [
    ...runNode('model.ts', ['sample'], { MAESTRO_BACKEND: 'wasm' }).map((r): Row => ({ ...r, backend: 'wasm + native kernels' })),
    ...runNode('model.ts', ['sample'], { MAESTRO_BACKEND: 'wasm', MAESTRO_NATIVE_KERNELS: '0' }).map((r): Row => ({ ...r, backend: 'wasm, no native kernels' })),
  ];
  console.log('| backend | model | params | batch | prompt tokens | prefill s | decode tokens/s per sequence | decode tokens/s, all sequences |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of sample) console.log(`| ${r.backend} | ${r.model} | ${(Number(r.params) / 1e6).toFixed(1)} M | ${r.batch} | ${r.promptTokens} | ${r.prefillSeconds} | ${r.tokensPerSecond} | ${r.sequenceTokensPerSecond} |`);

  console.log('\n## Training throughput, 6 × 256 model (5 M params), batch 8 × 256 tokens (cpu: 1 × 256), forward + backward + AdamW\n');
  const fast = runNode('model.ts', ['train'], { MAESTRO_BACKEND: 'wasm' });
  const xnnpack = runNode('model.ts', ['train'], { MAESTRO_BACKEND: 'wasm', MAESTRO_NATIVE_KERNELS: '0' });
  const stock = runNode('model.ts', ['train'], { MAESTRO_BACKEND: 'wasm', MAESTRO_WASM_STOCK: '1' });
  const cpu = runNode('model.ts', ['train'], { MAESTRO_BACKEND: 'cpu' });
  const native = runNode('model.ts', ['train'], { MAESTRO_BACKEND: 'node' });
  const base = Number(fast[0]?.tokensPerSecond ?? NaN);
  console.log('| backend | tokens/s | vs Maestro wasm | RSS |');
  console.log('|---|---|---|---|');
  const rows: [string, Row[]][] = [['wasm + Maestro kernels + native kernels (native/kernels)', fast], ['wasm + Maestro kernels, no native kernels', xnnpack], ['wasm, stock tfjs kernels', stock], ['cpu (pure JS)', cpu], ['tfjs-node (native, if installed)', native]];
  for (const [name, r] of rows) {
    if (!r[0]) {
      console.log(`| ${name} | unavailable | | |`);
      continue;
    }
    const tps = Number(r[0].tokensPerSecond);
    console.log(`| ${name} | ${tps} | ${(tps / base).toFixed(2)}× | ${r[0].rssMB} MB |`);
  }
  if (fast[0]) console.log(`\n≈ ${((base * 3600) / 1e6).toFixed(2)} M training tokens per hour per process on this machine.`);
  // Priced against the 6 × 256 row above, so only when that row exists.
  const larger = fast[0] ? runNode('model.ts', ['train-larger'], { MAESTRO_BACKEND: 'wasm' })[0] : undefined;
  if (larger) {
    const tps = Number(larger.tokensPerSecond);
    console.log(`\nThe next size up, ${larger.model} (${(Number(larger.params) / 1e6).toFixed(1)} M params), same batch and backend: ${tps} tokens/s, ${(tps / base).toFixed(2)}× the 6 × 256 model's (${larger.rssMB} MB RSS).`);
  }

  console.log('\n## Data-parallel training (`maestro train --batch 4 --accumulate 2 --threads N`, the real trainer, wasm)\n');
  const dp = runNode('model.ts', ['train-threads'], { MAESTRO_BACKEND: 'wasm' });
  const one = Number(dp.find((r) => r.threads === 1)?.tokensPerSecond ?? NaN);
  console.log(`| threads | tokens/s | vs 1 thread | RSS |\n|---|---|---|---|`);
  for (const r of dp) console.log(`| ${r.threads} | ${r.tokensPerSecond} | ${(Number(r.tokensPerSecond) / one).toFixed(2)}× | ${r.rssMB} MB |`);
  console.log(`\nNative kernels: ${nativeKernelsStatus()} (MAESTRO_NATIVE_KERNELS=0 rows: tfjs' XNNPACK products and GELU composed of tfjs ops, wasm SIMD).`);
}

async function optional(script: string, fn: string): Promise<void> {
  const path = join(here, script);
  if (!existsSync(path)) {
    console.log(`\n(${script} not present)`);
    return;
  }
  const mod = (await import(path)) as Record<string, () => Promise<void>>;
  await mod[fn]();
}

if (!only || only === 'model') modelBenchmarks();
if (!only || only === 'render') await optional('render.ts', 'benchRender');
if (!only || only === 'bot') await optional('bot.ts', 'benchBot');
if (!only || only === 'memory') await optional('memory.ts', 'benchMemory');
