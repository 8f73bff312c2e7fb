import { describe, it, expect } from 'vitest';
import { mkdtempSync, existsSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { FileStore } from '../src/queue/file-store.js';
import { RedisStore } from '../src/queue/redis-store.js';
import { MissingResultError } from '../src/queue/result-store.js';
import { REDIS_URL } from './support/bot-harness.js';

describe('FileStore', () => {
  it('round-trips bytes and JSON under safe keys and refuses keys that could escape its root', async () => {
    const store = new FileStore(mkdtempSync(path.join(tmpdir(), 'maestro-store-')));
    await store.put('results/i-1/candidate-1.mid', new Uint8Array([1, 2, 3]));
    expect([...(await store.get('results/i-1/candidate-1.mid'))]).toEqual([1, 2, 3]);
    await store.putJson('results/i-1/manifest.json', { a: 1 });
    expect(await store.getJson('results/i-1/manifest.json')).toEqual({ a: 1 });
    await expect(store.get('results/i-2/manifest.json')).rejects.toBeInstanceOf(MissingResultError);
    for (const bad of ['../etc/passwd', '/abs', 'results/../../x', 'a//b', '']) {
      await expect(store.put(bad, new Uint8Array())).rejects.toThrow(/Invalid result-store key/);
    }
  });

  it('sweeps results and prompts older than the cutoff, keeping newer ones', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'maestro-store-'));
    const store = new FileStore(root);
    await store.put('results/i-old/candidate-1.ogg', new Uint8Array([1]));
    await store.put('prompts/i-old.mid', new Uint8Array([1]));
    await store.put('results/i-new/candidate-1.ogg', new Uint8Array([1]));
    const old = new Date(Date.now() - 10 * 86_400_000);
    utimesSync(path.join(root, 'results/i-old'), old, old);
    utimesSync(path.join(root, 'prompts/i-old.mid'), old, old);
    expect(await store.sweep(Date.now() - 7 * 86_400_000)).toBe(2);
    expect(existsSync(path.join(root, 'results/i-old'))).toBe(false);
    expect(existsSync(path.join(root, 'prompts/i-old.mid'))).toBe(false);
    expect(existsSync(path.join(root, 'results/i-new/candidate-1.ogg'))).toBe(true);
  });
});

describe('RedisStore', () => {
  it('round-trips bytes and JSON, each entry expiring after the retention period, and names missing keys', async () => {
    const redis = new Redis(REDIS_URL);
    const prefix = `test-${randomBytes(5).toString('hex')}`;
    try {
      const store = new RedisStore(redis, prefix, 3 * 86_400_000);
      const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) & 255);
      await store.put('results/i-1/candidate-1.ogg', bytes.subarray(1000));
      expect(Buffer.from(await store.get('results/i-1/candidate-1.ogg')).equals(Buffer.from(bytes.subarray(1000)))).toBe(true);
      await store.putJson('results/i-1/manifest.json', { jobId: 'i-1' });
      expect(await store.getJson('results/i-1/manifest.json')).toEqual({ jobId: 'i-1' });
      const ttl = await redis.pttl(`${prefix}:results-store:results/i-1/manifest.json`);
      expect(ttl).toBeGreaterThan(3 * 86_400_000 - 60_000);
      expect(ttl).toBeLessThanOrEqual(3 * 86_400_000);
      await expect(store.get('results/i-9/manifest.json')).rejects.toThrow(/No stored result under "results\/i-9\/manifest.json"/);
      await expect(store.put('../x', new Uint8Array())).rejects.toThrow(/Invalid result-store key/);
      // Short retention really expires (Redis does it; nothing to sweep).
      const brief = new RedisStore(redis, prefix, 50);
      await brief.put('prompts/i-2.mid', new Uint8Array([1]));
      await new Promise((r) => setTimeout(r, 120));
      await expect(brief.get('prompts/i-2.mid')).rejects.toBeInstanceOf(MissingResultError);
      expect(await brief.sweep()).toBe(0);
    } finally {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
