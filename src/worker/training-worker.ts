// The training consumer: dataset rebuilds, fine-tunes, promote/rollback. Long jobs (hours) keep their
// BullMQ lock renewed because the trainer yields to the event loop between steps.
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RedisConfig } from '../config.js';
import { QUEUE_NAMES, deliveryIdFor, type DeliveryJobData, type JobProgress, type TrainingJobData, type TrainingService } from '../queue/jobs.js';
import { DELIVERY_JOB_OPTIONS } from './inference-worker.js';
import { reportQueueErrors, withoutRepeats } from '../queue/connection.js';
import { clearTrainingStop, trainingStopRequested } from '../queue/training-stop.js';

export interface TrainingWorkerOptions {
  connection: Redis;
  redis: RedisConfig;
  /** null when this installation has no trainer: jobs then fail with a clear "not available" message. */
  training: TrainingService | null;
  unavailableReason?: string;
  lockDurationMs?: number;
  /** How often a running fine-tune looks for an operator's stop request (default 2 s). */
  stopPollMs?: number;
  log?: (msg: string) => void;
}

export function createTrainingWorker(opts: TrainingWorkerOptions): { worker: Worker; close(): Promise<void> } {
  const deliveries = new Queue<DeliveryJobData>(QUEUE_NAMES.deliveries, { connection: opts.connection, prefix: opts.redis.prefix });
  const log = opts.log ?? (() => {});
  reportQueueErrors(deliveries, log);

  const run = async (job: Job<TrainingJobData>): Promise<string> => {
    const t = opts.training;
    if (!t) throw new UnrecoverableError(`Training is not available on this worker: ${opts.unavailableReason ?? 'no trainer is installed'}.`);
    const { action, style, steps } = job.data;
    let lastAt = 0;
    const progress = (p: JobProgress) => {
      if (Date.now() - lastAt < 1_000) return;
      lastAt = Date.now();
      job.updateProgress(p as unknown as object).catch(() => {});
    };
    const needStyle = () => {
      if (!style) throw new UnrecoverableError(`/${action} needs a style.`);
      return style;
    };
    switch (action) {
      case 'dataset-rebuild':
        return (await t.rebuildDataset(style, progress)).summary;
      case 'train':
        return (await stoppable(job.id!, (stop) => t.train(needStyle(), steps, progress, stop))).summary;
      case 'promote':
        return (await t.promote(needStyle())).summary;
      case 'rollback':
        return (await t.rollback(needStyle())).summary;
    }
  };

  /** Runs `work` with a signal that aborts when /admin stop asks for this job to stop. */
  const stoppable = async <T>(jobId: string, work: (stop: AbortSignal) => Promise<T>): Promise<T> => {
    const stop = new AbortController();
    const poll = setInterval(() => {
      trainingStopRequested(opts.connection, opts.redis.prefix, jobId)
        .then((asked) => asked && stop.abort())
        .catch(() => {}); // Redis away: asked again at the next poll
    }, opts.stopPollMs ?? 2_000);
    try {
      return await work(stop.signal);
    } finally {
      clearInterval(poll);
      await clearTrainingStop(opts.connection, opts.redis.prefix, jobId).catch(() => {});
    }
  };

  const processor = async (job: Job<TrainingJobData>): Promise<string> => {
    const jobId = job.id!;
    try {
      const summary = await run(job);
      await deliveries.add('training-result', { kind: 'training-result', jobId, target: job.data.target, action: job.data.action, summary }, { ...DELIVERY_JOB_OPTIONS, jobId: deliveryIdFor(jobId) });
      return summary;
    } catch (err) {
      const permanent = err instanceof UnrecoverableError;
      log(`training ${jobId} (${job.data.action}) failed: ${(err as Error).message}`);
      if (permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
        await deliveries.add('failed', { kind: 'failed', jobId, target: job.data.target, message: `${job.data.action} failed: ${(err as Error).message}` }, { ...DELIVERY_JOB_OPTIONS, jobId: deliveryIdFor(jobId) });
      }
      throw err;
    }
  };

  const worker = new Worker<TrainingJobData>(QUEUE_NAMES.training, processor, {
    connection: opts.connection,
    prefix: opts.redis.prefix,
    concurrency: 1,
    lockDuration: opts.lockDurationMs ?? 60_000,
  });
  const logError = withoutRepeats(log); // while Redis is down the same error comes at every reconnection attempt
  worker.on('error', (err) => logError(`training worker error: ${err.message}`));
  return {
    worker,
    async close() {
      // A fine-tune can run for hours: stop it at the next step (it checkpoints) rather than wait.
      opts.training?.shutdown?.();
      await worker.close();
      await deliveries.close();
    },
  };
}
