// Results kept in Redis itself, each with a TTL of the retention period: Redis expires them, so there is
// nothing to sweep. About 1 MB per composed minute of audio (see docs/discord.md for sizing).
import type { Redis } from 'ioredis';
import { MissingResultError, ResultStore } from './result-store.js';

export class RedisStore extends ResultStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {
    super();
  }

  private redisKey(key: string): string {
    return `${this.prefix}:results-store:${this.checkKey(key)}`;
  }

  async put(key: string, bytes: Uint8Array): Promise<string> {
    // One SET with PX: the value and its expiry land together, so a crash cannot leave an immortal entry.
    await this.redis.set(this.redisKey(key), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'PX', this.ttlMs);
    return key;
  }

  async get(key: string): Promise<Uint8Array> {
    const data = await this.redis.getBuffer(this.redisKey(key));
    if (data === null) throw new MissingResultError(key);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }

  async sweep(): Promise<number> {
    return 0; // every entry already carries its expiry
  }
}
