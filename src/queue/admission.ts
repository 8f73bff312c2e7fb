// Admission control for compose jobs: per-user and global bounds on pending jobs plus a per-user rate
// limit, decided atomically in Redis so a burst of commands (or several bot processes) cannot overshoot.
import type { Redis } from 'ioredis';
import type { QueueLimits } from '../config.js';

export type AdmissionDecision = 'ok' | 'duplicate' | 'rate' | 'user-full' | 'full';

// Pending jobs live in sorted sets scored by admission time; entries older than the stale horizon are
// dropped so a job lost to a crash cannot block its user forever.
const ADMIT = `
local now = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[7]))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[7]))
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 'duplicate' end
local r = redis.call('INCR', KEYS[3])
if r == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[5]) end
if r > tonumber(ARGV[4]) then return 'rate' end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 'user-full' end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 'full' end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return 'ok'
`;

const STALE_MS = 3 * 60 * 60_000;

export class Admission {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limits: QueueLimits,
    private readonly now: () => number = Date.now,
  ) {}

  private keys(userId: string): [string, string, string] {
    const base = `${this.prefix}:maestro`;
    return [`${base}:pending:user:${userId}`, `${base}:pending:all`, `${base}:rate:${userId}`];
  }

  async admit(userId: string, jobId: string): Promise<AdmissionDecision> {
    const l = this.limits;
    const res = await this.redis.eval(ADMIT, 3, ...this.keys(userId), jobId, l.maxPerUser, l.maxTotal, l.rateLimitCount, l.rateWindowMs, this.now(), STALE_MS);
    return res as AdmissionDecision;
  }

  /** Called once the job's outcome was delivered (or the job was never queued). */
  async release(userId: string, jobId: string): Promise<void> {
    const [user, all] = this.keys(userId);
    await this.redis.multi().zrem(user, jobId).zrem(all, jobId).exec();
  }

  async pendingTotal(): Promise<number> {
    return this.redis.zcard(this.keys('-')[1]);
  }
}
