// Assembles the bot process: discord.js client (Guilds intent only), queues, progress from queue
// events, and the delivery consumer. `startBot` is what main.ts runs and what the tests drive.
import { Client, Events, GatewayIntentBits } from 'discord.js';
import { Job, QueueEvents, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BotConfig } from '../config.js';
import { createQueues, createRedis, withoutRepeats } from '../queue/connection.js';
import { Admission } from '../queue/admission.js';
import { openResultStore } from '../queue/open-store.js';
import { QUEUE_NAMES, type ComposeJobData, type JobProgress, type TrainingJobData } from '../queue/jobs.js';
import { commands as allCommands } from '../../commands/index.js';
import type { BotCommand, BotContext } from './context.js';
import { DiscordOut } from './discord-out.js';
import { ProgressReporter, describeProgress } from './progress.js';
import { createDeliveryWorker, type DeliveryInfo } from './delivery.js';
import { InteractionRouter } from './router.js';
import { queuedText } from './messages.js';
import { loadStyles } from './styles.js';
import { randomInt } from 'node:crypto';

export interface BotDeps {
  config: BotConfig;
  now?: () => number;
  log?: (msg: string) => void;
  randomSeed?: () => number;
  onDelivered?: (info: DeliveryInfo) => void;
  commands?: BotCommand[];
}

export interface RunningBot {
  client: Client;
  ctx: BotContext;
  stop(): Promise<void>;
}

export function defaultLog(msg: string): void {
  console.error(`${new Date().toISOString()} [bot] ${msg}`);
}

/** A fail-fast connection refuses commands until connected; start-up waits for it (or fails clearly). */
async function waitReady(r: Redis): Promise<void> {
  if (r.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Redis is not reachable (REDIS_URL); the bot needs it to queue jobs')), 10_000);
    r.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function startBot(deps: BotDeps): Promise<RunningBot> {
  const { config } = deps;
  const log = deps.log ?? defaultLog;
  const now = deps.now ?? Date.now;
  // `shards: 'auto'` runs as many gateway shards, in this process, as Discord recommends: a bot in more than
  // 2,500 guilds must shard or its login is refused. One process holds them all, because the bot only
  // answers and posts; the heavy work is on the workers, which scale on their own.
  const client = new Client({ intents: [GatewayIntentBits.Guilds], shards: 'auto', rest: { api: config.apiBase } });
  // Deliveries (a BullMQ worker) wait out Redis outages; commands fail fast with a polite message.
  const redis = createRedis(config.redis, { log });
  const commandRedis = createRedis(config.redis, { failFast: true, log });
  await waitReady(commandRedis);
  const queues = createQueues(commandRedis, config.redis, log);
  const out = new DiscordOut(client.rest, redis, config.redis.prefix, config.tokenSafeMs, now);
  const ctx: BotContext = {
    config,
    redis,
    commandRedis,
    queues,
    admission: new Admission(commandRedis, config.redis.prefix, config.limits, now),
    store: openResultStore(config.results, config.redis.prefix, redis),
    out,
    progress: new ProgressReporter(out, config.progressIntervalMs, log),
    styles: loadStyles(config.stylesFile, log),
    now,
    log,
    randomSeed: deps.randomSeed ?? (() => randomInt(0, 2_147_483_647)),
  };
  const commands = new Map((deps.commands ?? allCommands).map((c) => [c.data.name, c]));
  const router = new InteractionRouter(commands, ctx);

  client.on(Events.InteractionCreate, (i) => router.handle(i));
  client.on(Events.Error, (err) => log(`discord client error: ${err.message}`));
  client.on(Events.ShardError, (err) => log(`gateway error: ${err.message}`));

  // Progress: queue events for jobs this bot (or a previous run of it) queued.
  // QueueEvents block on Redis streams, so each gets its own connection.
  const eventConnections = [createRedis(config.redis, { log }), createRedis(config.redis, { log })];
  const events = [
    new QueueEvents(QUEUE_NAMES.compose, { connection: eventConnections[0], prefix: config.redis.prefix }),
    new QueueEvents(QUEUE_NAMES.training, { connection: eventConnections[1], prefix: config.redis.prefix }),
  ];
  const [composeEvents, trainingEvents] = events;
  // What progress messages call a job; jobs queued before a restart are looked up once in Redis.
  const labels = new Map<string, string>();
  const ensureTracked = async (kind: 'compose' | 'training', jobId: string): Promise<string | null> => {
    const known = labels.get(jobId);
    if (known && ctx.progress.isTracked(jobId)) return known;
    const job = await Job.fromId<ComposeJobData | TrainingJobData>(kind === 'compose' ? queues.compose : queues.training, jobId);
    if (!job) return null;
    ctx.progress.track(jobId, job.data.target);
    const t = job.data as TrainingJobData;
    const label = kind === 'compose' ? 'Your piece' : `\`${t.action}${t.style ? ` ${t.style}` : ''}\``;
    labels.set(jobId, label);
    return label;
  };
  const logEventsError = withoutRepeats(log);
  for (const [kind, qe] of [['compose', composeEvents], ['training', trainingEvents]] as const) {
    qe.on('error', (err) => logEventsError(`queue events error: ${err.message}`));
    qe.on('active', ({ jobId }) => {
      void ensureTracked(kind, jobId).then((label) => label && ctx.progress.update(jobId, kind === 'compose' ? `🎼 ${label}: composing… 0%` : `🏁 ${label}: started…`)).catch(() => {});
    });
    qe.on('progress', ({ jobId, data }) => {
      void ensureTracked(kind, jobId).then((label) => label && ctx.progress.update(jobId, describeProgress(data as unknown as JobProgress, label))).catch(() => {});
    });
    qe.on('retries-exhausted', ({ jobId }) => log(`${kind} job ${jobId} exhausted its retries`));
    qe.on('completed', ({ jobId }) => labels.delete(jobId));
    qe.on('failed', ({ jobId }) => labels.delete(jobId));
  }

  // Queue positions move as other jobs finish; refresh them for the jobs still waiting.
  const positionTimer = setInterval(() => {
    void (async () => {
      const tracked = new Set(ctx.progress.trackedIds());
      if (tracked.size === 0) return;
      const waiting = await queues.compose.getWaiting(0, -1);
      waiting.forEach((job, idx) => {
        if (job.id && tracked.has(job.id)) ctx.progress.update(job.id, queuedText(waiting.length - idx));
      });
    })().catch((err: Error) => log(`queue position refresh failed: ${err.message}`));
  }, Math.max(config.progressIntervalMs, 1_000));
  positionTimer.unref();

  // Old results go, so a RESULTS_DIR store does not grow forever (their buttons then answer "no longer
  // available"). Redis-stored results expire on their own.
  const sweep = () => {
    ctx.store.sweep(now() - config.results.retentionMs).then(
      (n) => n && log(`removed ${n} result folder(s) older than the retention period`),
      (err: Error) => log(`results sweep failed: ${err.message}`),
    );
  };
  sweep();
  const sweepTimer = setInterval(sweep, 3_600_000);
  sweepTimer.unref();

  await new Promise<void>((resolve, reject) => {
    client.once(Events.ClientReady, () => resolve());
    client.login(config.token).catch(reject);
  });
  // Deliveries start once we can talk to Discord; anything that finished while the bot was down goes out now.
  const deliveryWorker: Worker = createDeliveryWorker(ctx, redis, deps.onDelivered);
  const shards = client.ws.shards.size;
  log(`ready as ${client.user?.tag ?? 'bot'}; ${commands.size} commands; ${shards} gateway shard${shards === 1 ? '' : 's'}`);

  let stopped = false;
  return {
    client,
    ctx,
    async stop() {
      if (stopped) return;
      stopped = true;
      log('shutting down: no new commands, finishing deliveries…');
      await router.drain();
      clearInterval(positionTimer);
      clearInterval(sweepTimer);
      await deliveryWorker.close();
      await ctx.progress.close();
      await Promise.all(events.map((qe) => qe.close()));
      for (const c of eventConnections) c.disconnect();
      await queues.close();
      await redis.quit().catch(() => {});
      await commandRedis.quit().catch(() => {});
      await client.destroy();
      log('stopped');
    },
  };
}
