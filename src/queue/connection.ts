// Redis connections and queue construction shared by the bot and the workers.
import { Redis } from 'ioredis';
import { Queue, type QueueOptions } from 'bullmq';
import type { RedisConfig } from '../config.js';
import { QUEUE_NAMES } from './jobs.js';

/**
 * BullMQ workers block on Redis, so their commands wait for reconnection instead of failing after N
 * retries. The bot's command path instead uses `failFast`: a user waiting on a 3-second Discord deadline
 * is better served by "try again in a minute" than by a command that hangs until Redis returns.
 */
export function createRedis(cfg: RedisConfig, opts: { failFast?: boolean; log?: (msg: string) => void } = {}): Redis {
  const redis = opts.failFast
    ? new Redis(cfg.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000, commandTimeout: 2_000 })
    : new Redis(cfg.url, { maxRetriesPerRequest: null });
  if (opts.log) reportErrors(redis, cfg.url, opts.log);
  return redis;
}

/** How often the same connection error is logged again while ioredis keeps reconnecting. */
export const REPEAT_ERROR_MS = 60_000;

/**
 * A log that drops a line equal to the one before it for REPEAT_ERROR_MS: while Redis is down, ioredis and BullMQ
 * report the same error at every reconnection attempt (several a second), which would bury everything else.
 */
export function withoutRepeats(log: (msg: string) => void, now: () => number = Date.now): (msg: string) => void {
  let last = '';
  let at = -Infinity;
  return (msg) => {
    if (msg === last && now() - at < REPEAT_ERROR_MS) return;
    [last, at] = [msg, now()];
    log(msg);
  };
}

/** Logs a queue's errors, one line per distinct error: without a listener BullMQ prints each of them itself. */
export function reportQueueErrors(queue: Queue, log: (msg: string) => void): void {
  const report = withoutRepeats(log);
  queue.on('error', (err) => report(`${queue.name} queue error: ${err.message}`));
}

/**
 * Logs a connection's errors, one line per distinct error (withoutRepeats): a connection without an error listener
 * prints a stack trace at every reconnection attempt. Only the host is named (a Redis URL may hold a password).
 */
export function reportErrors(redis: Redis, url: string, log: (msg: string) => void, now: () => number = Date.now): void {
  let host = 'redis';
  try {
    host = new URL(url).host;
  } catch {
    // config.ts has validated the URL; keep the generic name otherwise
  }
  const report = withoutRepeats(log, now);
  redis.on('error', (err: Error) => report(`redis at ${host}: ${err.message} (reconnecting)`));
}

export function queueOptions(connection: Redis, cfg: RedisConfig): QueueOptions {
  return { connection, prefix: cfg.prefix };
}

export interface Queues {
  compose: Queue;
  training: Queue;
  deliveries: Queue;
  close(): Promise<void>;
}

export function createQueues(connection: Redis, cfg: RedisConfig, log?: (msg: string) => void): Queues {
  const opts = queueOptions(connection, cfg);
  const compose = new Queue(QUEUE_NAMES.compose, opts);
  const training = new Queue(QUEUE_NAMES.training, opts);
  const deliveries = new Queue(QUEUE_NAMES.deliveries, opts);
  if (log) for (const q of [compose, training, deliveries]) reportQueueErrors(q, log);
  return {
    compose,
    training,
    deliveries,
    async close() {
      await Promise.all([compose.close(), training.close(), deliveries.close()]);
    },
  };
}
