// Starts the real bot (discord.js) against the fake Discord, with real Redis under a unique BullMQ
// prefix and a temporary results directory, plus in-process inference workers when asked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { FakeDiscord } from './fake-discord.js';
import { loadBotConfig, type BotConfig } from '../../src/config.js';
import { startBot, type RunningBot } from '../../src/bot/bot.js';
import { deployCommands } from '../../src/bot/deploy-commands.js';
import { createInferenceWorker } from '../../src/worker/inference-worker.js';
import { createTrainingWorker } from '../../src/worker/training-worker.js';
import { createRedis } from '../../src/queue/connection.js';
import { openResultStore } from '../../src/queue/open-store.js';
import type { DeliveryInfo } from '../../src/bot/delivery.js';
import type { ComposeManifest, ComposeService, TrainingService } from '../../src/queue/jobs.js';
import type { BotCommand } from '../../src/bot/context.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const OWNER_ID = '500000000000000001';

export interface HarnessOptions {
  env?: Record<string, string>;
  compose?: ComposeService;
  workers?: number;
  training?: TrainingService | null;
  withTrainingWorker?: boolean;
  /** Replace the real command set (e.g. to add a command that throws). */
  commands?: BotCommand[];
}

export class BotHarness {
  readonly fake = new FakeDiscord();
  readonly prefix = `test-${randomBytes(5).toString('hex')}`;
  readonly resultsDir = mkdtempSync(path.join(tmpdir(), 'maestro-results-'));
  readonly logs: string[] = [];
  readonly delivered: DeliveryInfo[] = [];
  config!: BotConfig;
  bot: RunningBot | null = null;
  private readonly closers: Array<() => Promise<void>> = [];

  constructor(private readonly opts: HarnessOptions = {}) {}

  env(): Record<string, string> {
    return {
      DISCORD_TOKEN: this.fake.token,
      DISCORD_APPLICATION_ID: this.fake.applicationId,
      DISCORD_API_BASE: this.fake.apiBase,
      DISCORD_CDN_HOSTS: this.fake.cdnHost,
      OPERATOR_GUILD_ID: this.fake.guildId,
      OWNER_USER_IDS: OWNER_ID,
      REDIS_URL,
      QUEUE_PREFIX: this.prefix,
      RESULTS_DIR: this.resultsDir,
      PROGRESS_INTERVAL_MS: '200',
      JOB_BACKOFF_MS: '100',
      ...this.opts.env,
    };
  }

  async start(): Promise<this> {
    await this.fake.start();
    this.config = loadBotConfig(this.env());
    await deployCommands({ ...this.config });
    await this.startBot();
    for (let i = 0; i < (this.opts.workers ?? (this.opts.compose ? 1 : 0)); i++) this.startWorker();
    if (this.opts.withTrainingWorker) {
      const connection = createRedis(this.config.redis);
      const tw = createTrainingWorker({ connection, redis: this.config.redis, training: this.opts.training ?? null, unavailableReason: 'no trainer in this test', log: (m) => this.logs.push(`[training] ${m}`) });
      this.closers.push(async () => {
        await tw.close();
        connection.disconnect();
      });
    }
    return this;
  }

  async startBot(): Promise<RunningBot> {
    this.bot = await startBot({
      config: this.config,
      now: () => this.fake.now(),
      log: (m) => this.logs.push(`[bot] ${m}`),
      randomSeed: () => 4242,
      onDelivered: (info) => this.delivered.push(info),
      commands: this.opts.commands,
    });
    return this.bot;
  }

  async stopBot(): Promise<void> {
    await this.bot?.stop();
    this.bot = null;
  }

  /** A finished compose job's manifest, read from the result store the worker wrote it to (Redis by default). */
  async manifest(jobId: string): Promise<ComposeManifest> {
    const connection = createRedis(this.config.redis);
    try {
      return await openResultStore(this.config.results, this.config.redis.prefix, connection).getJson<ComposeManifest>(`results/${jobId}/manifest.json`);
    } finally {
      connection.disconnect();
    }
  }

  startWorker(compose = this.opts.compose!): () => Promise<void> {
    const connection = createRedis(this.config.redis);
    const w = createInferenceWorker({
      connection,
      redis: this.config.redis,
      store: openResultStore(this.config.results, this.config.redis.prefix, connection),
      compose,
      concurrency: 1,
      log: (m) => this.logs.push(`[worker] ${m}`),
    });
    const close = async () => {
      await w.close();
      connection.disconnect();
    };
    this.closers.push(close);
    return close;
  }

  async cleanup(): Promise<void> {
    await this.stopBot().catch(() => {});
    for (const c of this.closers.reverse()) await c().catch(() => {});
    await this.fake.stop();
    const redis = new Redis(REDIS_URL);
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    rmSync(this.resultsDir, { recursive: true, force: true });
  }

  /** The final answer to an interaction: its original reply carrying files, or a channel message mentioning the user. */
  finalReply(interactionId: string) {
    const m = this.fake.originalMessage(interactionId);
    return m && m.files.length > 0 ? m : undefined;
  }
}
