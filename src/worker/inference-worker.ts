// The compose consumer: prompt key in, files + manifest out, then a delivery job for the bot.
// Any number of these (in any number of processes, on any machine that reaches Redis) can serve one
// queue; BullMQ's locks make sure each job runs in one place at a time.
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RedisConfig } from '../config.js';
import type { ResultStore } from '../queue/result-store.js';
import { reportQueueErrors, withoutRepeats } from '../queue/connection.js';
import {
  ComposeInputError,
  QUEUE_NAMES,
  deliveryIdFor,
  type ComposeJobData,
  type ComposeManifest,
  type ComposeResult,
  type ComposeService,
  type DeliveryJobData,
  type JobProgress,
} from '../queue/jobs.js';

export interface InferenceWorkerOptions {
  connection: Redis;
  redis: RedisConfig;
  store: ResultStore;
  compose: ComposeService;
  concurrency: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Minimum gap between two progress reports of one job (the bot throttles again on its side). */
  progressIntervalMs?: number;
  log?: (msg: string) => void;
}

export const DELIVERY_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000 },
  // Kept for a day so a retried compose job finds its delivery id taken and does not post twice.
  removeOnComplete: { age: 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;

export function resultKeys(jobId: string, index: number) {
  const base = `results/${jobId}/candidate-${index + 1}`;
  return { oggKey: `${base}.ogg`, midiKey: `${base}.mid`, pngKey: `${base}.png` };
}

export function createInferenceWorker(opts: InferenceWorkerOptions): { worker: Worker; close(): Promise<void> } {
  const deliveries = new Queue<DeliveryJobData>(QUEUE_NAMES.deliveries, { connection: opts.connection, prefix: opts.redis.prefix });
  const log = opts.log ?? (() => {});
  reportQueueErrors(deliveries, log);

  const processor = async (job: Job<ComposeJobData, ComposeResult>): Promise<ComposeResult> => {
    const jobId = job.id!;
    const started = Date.now();
    const queueMs = Math.max(0, (job.processedOn ?? started) - job.timestamp);
    try {
      const prompt = job.data.promptKey ? await opts.store.get(job.data.promptKey) : null;
      const report = throttledProgress(job, opts.progressIntervalMs ?? 1_000);
      const declared = job.data.promptDeclaredKey;
      const out = await opts.compose({ promptMidi: prompt, ...(declared ? { promptDeclaredKey: declared } : {}), settings: job.data.settings, maxFileBytes: job.data.target.attachmentSizeLimit }, report);
      const candidates = [];
      for (const [index, c] of out.candidates.entries()) {
        const keys = resultKeys(jobId, index);
        await opts.store.put(keys.oggKey, c.ogg);
        await opts.store.put(keys.midiKey, c.midi);
        await opts.store.put(keys.pngKey, c.png);
        candidates.push({ index, seed: c.seed, ...keys, continuationSec: c.continuationSec, noteCount: c.noteCount });
      }
      const manifest: ComposeManifest = {
        jobId,
        settings: job.data.settings,
        promptKey: job.data.promptKey,
        promptName: job.data.promptName,
        ...(declared ? { promptDeclaredKey: declared } : {}),
        ...(job.data.promptText ? { promptText: job.data.promptText } : {}),
        candidates,
        ...(out.key ? { key: out.key } : {}),
        timings: { queueMs, ...out.timings },
        finishedAt: Date.now(),
      };
      const manifestKey = await opts.store.putJson(`results/${jobId}/manifest.json`, manifest);
      await deliveries.add('compose-result', { kind: 'compose-result', jobId, target: job.data.target, manifestKey }, { ...DELIVERY_JOB_OPTIONS, jobId: deliveryIdFor(jobId) });
      log(`compose ${jobId}: ${candidates.length} candidate(s) in ${Date.now() - started} ms`);
      return { manifestKey };
    } catch (err) {
      const permanent = err instanceof ComposeInputError || err instanceof UnrecoverableError;
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log(`compose ${jobId} failed (attempt ${job.attemptsMade + 1}${permanent ? ', permanent' : ''}): ${(err as Error).message}`);
      if (permanent || lastAttempt) {
        const message = permanent ? (err as Error).message : 'Something went wrong while composing, and retrying did not help. Please try again later.';
        await deliveries.add('failed', { kind: 'failed', jobId, target: job.data.target, message }, { ...DELIVERY_JOB_OPTIONS, jobId: deliveryIdFor(jobId) });
      }
      if (permanent) throw new UnrecoverableError((err as Error).message);
      throw err;
    }
  };

  const worker = new Worker<ComposeJobData, ComposeResult>(QUEUE_NAMES.compose, processor, {
    connection: opts.connection,
    prefix: opts.redis.prefix,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: opts.stalledIntervalMs ?? 30_000,
    maxStalledCount: 2,
  });
  const logError = withoutRepeats(log); // while Redis is down the same error comes at every reconnection attempt
  worker.on('error', (err) => logError(`worker error: ${err.message}`));
  // Failures that never reach the processor's catch (a job that stalled too often because its workers
  // kept dying) still owe the user an answer. The delivery id makes this a no-op when one was queued.
  worker.on('failed', (job) => {
    if (!job?.id) return;
    void (async () => {
      if ((await job.getState()) !== 'failed') return; // a retry is coming
      const message = 'Something went wrong while composing (the worker stopped), and retrying did not help. Please try again later.';
      await deliveries.add('failed', { kind: 'failed', jobId: job.id!, target: job.data.target, message }, { ...DELIVERY_JOB_OPTIONS, jobId: deliveryIdFor(job.id!) });
    })().catch((err: Error) => log(`could not queue the failure notice for ${job.id}: ${err.message}`));
  });

  return {
    worker,
    async close() {
      // Waits for active jobs to finish: SIGTERM never abandons a half-composed piece.
      await worker.close();
      await deliveries.close();
    },
  };
}

/** Forwards progress to BullMQ at most once per interval, always letting a new stage through. */
function throttledProgress(job: Job, intervalMs: number): (p: JobProgress) => void {
  let lastAt = 0;
  let lastStage = '';
  return (p) => {
    const now = Date.now();
    if (p.stage === lastStage && now - lastAt < intervalMs) return;
    lastAt = now;
    lastStage = p.stage;
    job.updateProgress(p as unknown as object).catch(() => {});
  };
}
