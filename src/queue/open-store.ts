import type { Redis } from 'ioredis';
import type { ResultsConfig } from '../config.js';
import { FileStore } from './file-store.js';
import { RedisStore } from './redis-store.js';
import type { ResultStore } from './result-store.js';

/** The result store the configuration asks for; `redis` is the connection a Redis store uses. */
export function openResultStore(results: ResultsConfig, prefix: string, redis: Redis): ResultStore {
  return results.store === 'dir' ? new FileStore(results.dir) : new RedisStore(redis, prefix, results.retentionMs);
}
