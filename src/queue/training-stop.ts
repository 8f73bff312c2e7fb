// An operator's request to stop a running fine-tune (/admin stop). Open-source BullMQ cannot cancel an active job,
// and the training worker may be on another machine: the bot leaves a key in Redis, and the worker running the job
// polls for it and stops the trainer the way Ctrl-C does (it finishes its step, checkpoints and saves the model so far).
import type { Redis } from 'ioredis';

/** How long a request waits for a worker to see it (a job stopped or finished meanwhile leaves nothing behind). */
const REQUEST_TTL_SEC = 24 * 3600;

function stopKey(prefix: string, jobId: string): string {
  return `${prefix}:stop-training:${jobId}`;
}

export async function requestTrainingStop(redis: Redis, prefix: string, jobId: string): Promise<void> {
  await redis.set(stopKey(prefix, jobId), '1', 'EX', REQUEST_TTL_SEC);
}

export async function trainingStopRequested(redis: Redis, prefix: string, jobId: string): Promise<boolean> {
  return (await redis.exists(stopKey(prefix, jobId))) === 1;
}

export async function clearTrainingStop(redis: Redis, prefix: string, jobId: string): Promise<void> {
  await redis.del(stopKey(prefix, jobId));
}
