/**
 * /compose end to end through the fake Discord (real discord.js bot, real Redis, real worker with the
 * production compose threads + renderer): p50/p95 of the whole interaction, with queue wait,
 * sampling, rendering and upload separated. 30 s continuations.
 * Run: `npx tsx bench/bot.ts [runs]`. Uses models/<style> if trained, else a random-init model of the
 * same architecture (same sampling cost; musically meaningless). Prints numbers, asserts nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ApplicationCommandOptionType } from 'discord-api-types/v10';
import { BotHarness } from '../test/support/bot-harness.js';
import { createTinyModelsDir } from '../test/support/tiny-model.js';
import { createPipelineService } from '../src/worker/compose-service.js';
import { ComposeThreadPool } from '../src/worker/compose-threads.js';
import { MAESTRO_SMALL } from '../src/model/config.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export async function benchBot(runs = Number(process.env.BENCH_BOT_RUNS ?? 6)): Promise<void> {
  const style = 'baroque';
  const trained = existsSync(path.join(repoRoot, 'models', style, 'config.json'));
  // Without a trained model, a randomly initialised model of the shipped architecture (the "small"
  // preset) costs the same to sample from, so the timings still mean something.
  const modelsDir = trained ? path.join(repoRoot, 'models') : await createTinyModelsDir([style], { ...MAESTRO_SMALL, dropout: 0 });
  const pool = new ComposeThreadPool(1);
  const compose = createPipelineService({ modelsDir, compose: (req) => pool.compose(req) });
  const h = await new BotHarness({ compose, env: { PROGRESS_INTERVAL_MS: '3000', RATE_LIMIT_COUNT: '1000', QUEUE_MAX_PER_USER: '100' } }).start();
  const ode = new Uint8Array(readFileSync(path.join(repoRoot, 'examples/ode-to-joy.mid')));
  const rows: Array<{ total: number; queue: number; sample: number; render: number; upload: number; bytes: number }> = [];
  try {
    console.log(`bench bot: /compose style:${style} seconds:30 with ode-to-joy.mid, ${runs} runs, ${trained ? 'trained model' : 'random-init model of the small preset (no trained model found)'}`);
    // Run 0 is the cold start (render thread, SoundFont, model load): reported, not counted.
    for (let r = 0; r <= runs; r++) {
      const att = h.fake.addAttachment('ode-to-joy.mid', ode);
      const t0 = performance.now();
      const i = h.fake.invokeCommand('compose', {
        options: [
          { name: 'style', type: ApplicationCommandOptionType.String, value: style },
          { name: 'seconds', type: ApplicationCommandOptionType.Integer, value: 30 },
          { name: 'seed', type: ApplicationCommandOptionType.Integer, value: r + 1 },
          { name: 'midi', type: ApplicationCommandOptionType.Attachment, value: att.id },
        ],
        attachments: [att],
      });
      await h.fake.waitFor(() => h.finalReply(i.id), 600_000, 'the composed reply');
      const total = performance.now() - t0;
      const jobId = `i-${i.id}`;
      const delivered = await h.fake.waitFor(() => h.delivered.find((d) => d.jobId === jobId), 10_000, 'delivery record');
      const manifest = await h.manifest(jobId);
      const row = { total, queue: manifest.timings.queueMs, sample: manifest.timings.sampleMs, render: manifest.timings.renderMs, upload: delivered.uploadMs, bytes: delivered.bytes };
      if (r > 0) rows.push(row);
      console.log(`  ${r === 0 ? 'cold' : `run ${r}`}: total ${total.toFixed(0)} ms (queue ${manifest.timings.queueMs}, sampling ${manifest.timings.sampleMs}, rendering ${manifest.timings.renderMs}, upload ${delivered.uploadMs} ms, ${(delivered.bytes / 1024).toFixed(0)} KB)`);
    }
  } finally {
    await h.cleanup();
    await pool.close();
  }
  const col = (k: keyof (typeof rows)[number]) => rows.map((x) => x[k]);
  for (const k of ['total', 'queue', 'sample', 'render', 'upload'] as const) {
    console.log(`  ${k.padEnd(7)} p50 ${pct(col(k), 50).toFixed(0).padStart(7)} ms   p95 ${pct(col(k), 95).toFixed(0).padStart(7)} ms`);
  }
  const overhead = rows.map((x) => x.total - x.sample - x.render - x.upload);
  console.log(`  bot/queue/Discord overhead (total − sampling − rendering − upload): p50 ${pct(overhead, 50).toFixed(0)} ms, p95 ${pct(overhead, 95).toFixed(0)} ms`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchBot(process.argv[2] ? Number(process.argv[2]) : undefined);
  process.exit(0);
}
