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
export function createRedis(cfg: RedisConfig, opts: { failFast?: boolean } = {}): Redis {
  if (opts.failFast) return new Redis(cfg.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000, commandTimeout: 2_000 });
  return new Redis(cfg.url, { maxRetriesPerRequest: null });
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

export function createQueues(connection: Redis, cfg: RedisConfig): Queues {
  const opts = queueOptions(connection, cfg);
  const compose = new Queue(QUEUE_NAMES.compose, opts);
  const training = new Queue(QUEUE_NAMES.training, opts);
  const deliveries = new Queue(QUEUE_NAMES.deliveries, opts);
  return {
    compose,
    training,
    deliveries,
    async close() {
      await Promise.all([compose.close(), training.close(), deliveries.close()]);
    },
  };
}
