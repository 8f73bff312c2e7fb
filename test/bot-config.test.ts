import { describe, it, expect } from 'vitest';
import { ConfigError, loadBotConfig, loadWorkerConfig } from '../src/config.js';

const TOKEN = 'MTAwMDAwMDAwMDAwMDAwMDAx.GhIjKl.c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0';
const GOOD = { DISCORD_TOKEN: TOKEN, DISCORD_APPLICATION_ID: '100000000000000001' };

function problems(env: Record<string, string>, load: (env: Record<string, string>) => unknown = loadBotConfig): string[] {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  return [];
}

describe('config', () => {
  it('applies defaults: Discord API, Discord CDN hosts, local Redis', () => {
    const c = loadBotConfig(GOOD, '/srv/maestro');
    expect(c.apiBase).toBe('https://discord.com/api');
    expect(c.cdnHosts).toEqual(['cdn.discordapp.com', 'media.discordapp.net']);
    expect(c.redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: 'maestro' });
    expect(c.results).toEqual({ store: 'redis', dir: '/srv/maestro/out/results', retentionMs: 7 * 86_400_000 });
    expect(c.tokenSafeMs).toBe(14 * 60_000);
  });

  it('reports every problem at once, in words an operator can act on', () => {
    const p = problems({ DISCORD_APPLICATION_ID: 'abc', QUEUE_MAX_PER_USER: '0', REDIS_URL: 'http://x', OWNER_USER_IDS: '1,2' });
    expect(p).toHaveLength(5);
    expect(p.join('\n')).toMatch(/DISCORD_TOKEN is missing: the bot token/);
    expect(p.join('\n')).toMatch(/DISCORD_APPLICATION_ID must be a Discord id/);
    expect(p.join('\n')).toMatch(/QUEUE_MAX_PER_USER must be a whole number from 1 to 100; got "0"/);
    expect(p.join('\n')).toMatch(/REDIS_URL must be a redis: or rediss: URL/);
    expect(p.join('\n')).toMatch(/OWNER_USER_IDS must be a comma-separated list/);
  });

  it('never echoes secrets: neither the token nor a Redis password', () => {
    const p = problems({ ...GOOD, DISCORD_TOKEN: 'not-a-token-hunter2', REDIS_URL: 'ftp://:hunter2@host' }).join('\n');
    expect(p).toMatch(/DISCORD_TOKEN does not look like a bot token/);
    expect(p).not.toContain('hunter2');
  });

  it('the worker needs no Discord settings', () => {
    const w = loadWorkerConfig({ WORKER_CONCURRENCY: '2', QUEUE_PREFIX: 'x' }, '/srv');
    expect(w.concurrency).toBe(2);
    expect(w.redis.prefix).toBe('x');
    expect(problems({ WORKER_CONCURRENCY: 'many' }, loadWorkerConfig)).toEqual(['WORKER_CONCURRENCY must be a whole number from 1 to 64; got "many"']);
  });

  it('results live in Redis unless RESULTS_STORE=dir asks for a directory; workers read the same settings', () => {
    const w = loadWorkerConfig({ RESULTS_STORE: 'DIR', RESULTS_DIR: 'shared/results', RESULTS_RETENTION_DAYS: '2' }, '/srv');
    expect(w.results).toEqual({ store: 'dir', dir: '/srv/shared/results', retentionMs: 2 * 86_400_000 });
    expect(problems({ RESULTS_STORE: 's3' }, loadWorkerConfig)).toEqual(['RESULTS_STORE must be one of redis, dir; got "s3"']);
  });
});
