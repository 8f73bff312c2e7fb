// A worker process killed in the middle of a job: BullMQ's lock expires, another worker picks the job
// up, and the user still gets exactly one answer.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationCommandOptionType } from 'discord-api-types/v10';
import { BotHarness } from './support/bot-harness.js';
import { createTinyModelsDir } from './support/tiny-model.js';
import { realComposeService } from './support/pipeline.js';
import { readMidi } from '../src/music/midi.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let harness: BotHarness | null = null;
let child: ChildProcess | null = null;

afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = null;
  await harness?.cleanup();
  harness = null;
});

function spawnWorker(h: BotHarness, modelsDir: string, output: string[]): ChildProcess {
  // The production worker entry point, as its own process, with a short lock so the tests are quick.
  const c = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/worker/main.ts')], {
    cwd: repoRoot,
    env: { ...process.env, ...h.env(), MODELS_DIR: modelsDir, WORKER_LOCK_MS: '1500', WORKER_STALLED_CHECK_MS: '500' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  c.stdout!.on('data', (d) => output.push(String(d)));
  c.stderr!.on('data', (d) => output.push(String(d)));
  return c;
}

function composeLong(h: BotHarness) {
  return h.fake.invokeCommand('compose', {
    options: [
      { name: 'style', type: ApplicationCommandOptionType.String, value: 'baroque' },
      { name: 'seconds', type: ApplicationCommandOptionType.Integer, value: 30 },
    ],
  });
}

/** A production worker process in the middle of a 30 s compose: it has reported sampling progress. */
async function workerMidJob() {
  const modelsDir = await createTinyModelsDir(['baroque']);
  harness = await new BotHarness({ workers: 0 }).start();
  const h = harness;
  const output: string[] = [];
  child = spawnWorker(h, modelsDir, output);
  const i = composeLong(h);
  await h.fake.waitFor(() => h.fake.events.some((e) => e.kind === 'message.edit' && /composing/.test(String(e.detail.content))), 40_000, `sampling progress (worker output: ${output.join('')})`);
  return { h, output, i, modelsDir };
}

describe('worker process lifecycle', () => {
  it('SIGTERM lets the active job finish, then the worker exits cleanly', async () => {
    const { h, output, i } = await workerMidJob();
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    const job = await h.bot!.ctx.queues.compose.getJob(`i-${i.id}`);
    expect(await job!.getState()).toBe('active'); // the signal arrives mid-job
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
    const msg = await h.fake.waitFor(() => h.finalReply(i.id), 20_000, 'the answer from the stopping worker');
    expect(msg.files).toHaveLength(3);
    const done = await h.bot!.ctx.queues.compose.getJob(`i-${i.id}`);
    expect(await done!.getState()).toBe('completed');
    expect(done!.attemptsMade).toBe(1);
    expect(output.join('')).toMatch(/SIGTERM: finishing active jobs/);
  });


  it('a worker killed mid-job: the job is retried by another worker and the user is answered once', async () => {
    const { h, i, modelsDir } = await workerMidJob();
    child!.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    expect(h.finalReply(i.id)).toBeUndefined();

    // A second worker (another process or machine in production) takes over once the lock lapses.
    const connection = await import('../src/queue/connection.js');
    const { createInferenceWorker } = await import('../src/worker/inference-worker.js');
    const { openResultStore } = await import('../src/queue/open-store.js');
    const redis = connection.createRedis(h.config.redis);
    const w = createInferenceWorker({ connection: redis, redis: h.config.redis, store: openResultStore(h.config.results, h.config.redis.prefix, redis), compose: await realComposeService(modelsDir), concurrency: 1, stalledIntervalMs: 500, lockDurationMs: 5_000, log: (m) => h.logs.push(`[worker2] ${m}`) });
    try {
      const msg = await h.fake.waitFor(() => h.finalReply(i.id), 45_000, 'the answer after the crash');
      expect(readMidi(msg.files.find((f) => f.name.endsWith('.mid'))!.bytes).notes.length).toBeGreaterThan(0);
      await h.fake.waitFor(() => h.delivered.length > 0, 10_000, 'delivery record');
      expect(h.delivered).toHaveLength(1);
      expect(h.logs.some((l) => l.startsWith('[worker2] compose'))).toBe(true);
      const job = await h.bot!.ctx.queues.compose.getJob(`i-${i.id}`);
      expect(await job!.getState()).toBe('completed');
    } finally {
      await w.close();
      redis.disconnect();
    }
  });

  it('with Redis unreachable it logs each error once (no stack traces) and SIGTERM exits at once instead of waiting for Redis', async () => {
    const modelsDir = await createTinyModelsDir(['baroque']);
    const output: string[] = [];
    child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/worker/main.ts')], {
      cwd: repoRoot,
      env: { ...process.env, REDIS_URL: 'redis://user:secret@127.0.0.1:1', MODELS_DIR: modelsDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => output.push(String(d)));
    child.stderr!.on('data', (d) => output.push(String(d)));
    const started = Date.now();
    while (!/inference worker ready/.test(output.join(''))) {
      if (Date.now() - started > 30_000) throw new Error(`worker did not start: ${output.join('')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 3_000)); // several reconnection attempts
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running 15 s after SIGTERM'), 15_000))]);
    expect(code).toBe(1);
    const log = output.join('');
    expect(log).toContain('Redis is unreachable, so nothing can be finished or reported: exiting now');
    expect(log.match(/redis at 127\.0\.0\.1:1: connect ECONNREFUSED/g)).toHaveLength(1);
    expect(log.match(/worker error: connect ECONNREFUSED/g)?.length ?? 0).toBeLessThanOrEqual(1);
    expect(log).not.toMatch(/\n\s+at /); // no stack trace
    expect(log).not.toContain('secret');
  }, 60_000);
});
