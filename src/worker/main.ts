// Worker process: `npm run worker` (compose jobs) or `npm run worker -- --training` (training jobs).
// Start as many as you like, on as many machines as you like, all pointing at the same Redis (results
// travel through it too): BullMQ hands each job to exactly one of them. See docs/discord.md.
import { ConfigError, loadDotenv, loadWorkerConfig } from '../config.js';
import { createRedis } from '../queue/connection.js';
import { openResultStore } from '../queue/open-store.js';
import { createInferenceWorker } from './inference-worker.js';
import { createTrainingWorker } from './training-worker.js';
import { createPipelineService } from './compose-service.js';
import { ComposeThreadPool } from './compose-threads.js';
import { renderOutputs } from '../render/index.js';
import { loadTrainingService } from './training-service.js';

function log(msg: string): void {
  console.error(`${new Date().toISOString()} [worker ${process.pid}] ${msg}`);
}

await loadDotenv();
let config;
try {
  config = loadWorkerConfig();
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : String(err));
  process.exit(1);
}
process.on('unhandledRejection', (reason) => log(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`));

const training = process.argv.includes('--training');
const connection = createRedis(config.redis, { log });
let close: () => Promise<void>;
if (training) {
  const { service, reason } = await loadTrainingService(config, {}, (line) => log(`[maestro] ${line}`));
  const w = createTrainingWorker({ connection, redis: config.redis, training: service, unavailableReason: reason, log });
  close = w.close;
  log(service ? 'training worker ready' : `training worker ready, but training is not available: ${reason}`);
} else {
  const pool = new ComposeThreadPool(config.concurrency);
  const compose = createPipelineService({ modelsDir: config.modelsDir, soundFont: config.soundfont, compose: (req) => pool.compose(req) });
  // Load the SoundFont into the render thread before taking jobs, so the first user does not pay for it.
  const t0 = Date.now();
  await renderOutputs(null, { notes: [{ pitch: 60, velocity: 64, startSec: 0, endSec: 0.1 }], pedals: [], tempos: [], source: {} }, 'warm-up', { soundFont: config.soundfont ?? undefined }).then(
    () => log(`renderer ready in ${Date.now() - t0} ms`),
    (err: Error) => log(`renderer warm-up failed (jobs will report it): ${err.message}`),
  );
  const w = createInferenceWorker({
    connection,
    redis: config.redis,
    store: openResultStore(config.results, config.redis.prefix, connection),
    compose,
    concurrency: config.concurrency,
    lockDurationMs: config.lockDurationMs,
    stalledIntervalMs: config.stalledIntervalMs,
    log,
  });
  close = async () => {
    await w.close();
    await pool.close();
  };
  log(`inference worker ready (concurrency ${config.concurrency}, models in ${config.modelsDir})`);
}

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) {
      log(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    if (connection.status !== 'ready') {
      // A graceful close waits on Redis (BullMQ's close, quit()), which would hang here until Redis returns.
      log(`${signal}: Redis is unreachable, so nothing can be finished or reported: exiting now (a job in progress is retried once its lock lapses)`);
      process.exit(1);
    }
    log(`${signal}: finishing active jobs, then exiting (send it again to exit at once)`);
    close()
      .then(() => connection.quit())
      .then(
        () => process.exit(0),
        (err: Error) => {
          log(`shutdown failed: ${err.message}`);
          process.exit(1);
        },
      );
  });
}
