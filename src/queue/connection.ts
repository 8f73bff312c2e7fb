// Redis connections and queue construction shared by the bot and the workers.
import { Redis } from 'ioredis';
import { Queue, type QueueOptions } from 'bullmq';
import type { RedisConfig } from '../config.js';
import { QUEUE_NAMES } from './jobs.js';

/** BullMQ workers block on Redis, so commands must wait for reconnection instead of failing after N retries. */
export function createRedis(cfg: RedisConfig): Redis {
  return new Redis(cfg.url, { maxRetriesPerRequest: null, lazyConnect: false });
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
