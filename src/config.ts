// Process configuration, read from the environment (.env via dotenv) and validated once at start-up.
// Every problem is collected and reported together, so an operator fixes .env in one pass.
// Secrets (the bot token) are never part of any message produced here.
import path from 'node:path';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration (.env):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface RedisConfig {
  url: string;
  /** BullMQ key prefix; tests use a unique one per test so runs never see each other's jobs. */
  prefix: string;
}

export interface QueueLimits {
  /** Jobs (waiting + active) one user may have at once. */
  maxPerUser: number;
  /** Jobs (waiting + active) in the compose queue overall. */
  maxTotal: number;
  /** Commands one user may issue per `rateWindowMs`. */
  rateLimitCount: number;
  rateWindowMs: number;
  attempts: number;
  backoffMs: number;
}

/** Where results and prompts live between the bot and the workers (src/queue/result-store.ts). */
export interface ResultsConfig {
  /** 'redis' (default): in Redis with a TTL, nothing else to share; 'dir': files under `dir`. */
  store: 'redis' | 'dir';
  dir: string;
  /** Results (and the buttons that need them) are kept this long. */
  retentionMs: number;
}

export interface BotConfig {
  token: string;
  applicationId: string;
  /** Base of the REST API (the gateway URL is asked from it): tests point this at the fake Discord. */
  apiBase: string;
  /** Hosts an attachment may be downloaded from (host or host:port). */
  cdnHosts: string[];
  operatorGuildId: string | null;
  ownerUserIds: string[];
  maxMidiBytes: number;
  /** Interaction tokens live 15 minutes; after this age, results go to a channel message instead. */
  tokenSafeMs: number;
  /** Minimum gap between two progress edits of the same message. */
  progressIntervalMs: number;
  redis: RedisConfig;
  limits: QueueLimits;
  results: ResultsConfig;
  stylesFile: string;
  modelsDir: string;
}

export interface WorkerConfig {
  redis: RedisConfig;
  results: ResultsConfig;
  modelsDir: string;
  stylesFile: string;
  soundfont: string | null;
  concurrency: number;
  /** How long a job lock lasts without renewal; a killed worker's job is retried after this. */
  lockDurationMs: number;
  stalledIntervalMs: number;
}

type Env = Record<string, string | undefined>;

/** Collects problems while reading variables, so all of them are reported at once. */
class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  required(name: string, hint: string): string {
    const v = this.raw(name);
    if (v === undefined) {
      this.problems.push(`${name} is missing: ${hint}`);
      return '';
    }
    return v;
  }

  snowflake(name: string, required: boolean, hint: string): string | null {
    const v = required ? this.required(name, hint) : this.raw(name);
    if (!v) return null;
    if (!/^\d{17,20}$/.test(v)) {
      this.problems.push(`${name} must be a Discord id (17–20 digits); got something else`);
      return null;
    }
    return v;
  }

  snowflakeList(name: string): string[] {
    const v = this.raw(name);
    if (!v) return [];
    const ids = v.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = ids.filter((id) => !/^\d{17,20}$/.test(id));
    if (bad.length) this.problems.push(`${name} must be a comma-separated list of Discord user ids; ${bad.length} entr${bad.length === 1 ? 'y is' : 'ies are'} not`);
    return ids.filter((id) => /^\d{17,20}$/.test(id));
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${name} must be a whole number from ${min} to ${max}; got "${v}"`);
      return fallback;
    }
    return n;
  }

  url(name: string, fallback: string, protocols: string[]): string {
    const v = this.raw(name) ?? fallback;
    try {
      const u = new URL(v);
      if (!protocols.includes(u.protocol)) throw new Error('protocol');
      return v.replace(/\/+$/, '');
    } catch {
      // Only the scheme is echoed: a URL may embed a password (redis://:secret@host).
      this.problems.push(`${name} must be a ${protocols.join(' or ')} URL`);
      return fallback;
    }
  }

  choice<T extends string>(name: string, choices: readonly T[]): T {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return choices[0];
    if (!(choices as readonly string[]).includes(v)) {
      this.problems.push(`${name} must be one of ${choices.join(', ')}; got "${v}"`);
      return choices[0];
    }
    return v as T;
  }

  list(name: string, fallback: string[]): string[] {
    const v = this.raw(name);
    if (!v) return fallback;
    return v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  }
}

function readRedis(r: EnvReader): RedisConfig {
  const prefix = r.raw('QUEUE_PREFIX') ?? 'maestro';
  if (!/^[\w:.-]+$/.test(prefix)) r.problems.push('QUEUE_PREFIX may contain only letters, digits, _ - . :');
  return { url: r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']), prefix };
}

function readPaths(r: EnvReader, cwd: string) {
  const p = (name: string, fallback: string) => path.resolve(cwd, r.raw(name) ?? fallback);
  const results: ResultsConfig = {
    store: r.choice('RESULTS_STORE', ['redis', 'dir'] as const),
    dir: p('RESULTS_DIR', 'out/results'),
    retentionMs: r.int('RESULTS_RETENTION_DAYS', 7, 1, 3650) * 86_400_000,
  };
  return {
    results,
    modelsDir: p('MODELS_DIR', 'models'),
    stylesFile: p('STYLES_FILE', 'training/styles.json'),
  };
}

const TOKEN_HINT = 'the bot token from the Discord developer portal (Bot → Reset Token)';
const APP_HINT = 'the Application ID from the Discord developer portal (General Information)';

export function loadBotConfig(env: Env = process.env, cwd = process.cwd()): BotConfig {
  const r = new EnvReader(env);
  const token = r.required('DISCORD_TOKEN', TOKEN_HINT);
  if (token && !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) {
    r.problems.push('DISCORD_TOKEN does not look like a bot token (three dot-separated parts)');
  }
  const applicationId = r.snowflake('DISCORD_APPLICATION_ID', true, APP_HINT) ?? '';
  const cfg: BotConfig = {
    token,
    applicationId,
    apiBase: r.url('DISCORD_API_BASE', 'https://discord.com/api', ['https:', 'http:']),
    cdnHosts: r.list('DISCORD_CDN_HOSTS', ['cdn.discordapp.com', 'media.discordapp.net']),
    operatorGuildId: r.snowflake('OPERATOR_GUILD_ID', false, ''),
    ownerUserIds: r.snowflakeList('OWNER_USER_IDS'),
    maxMidiBytes: r.int('MAX_MIDI_BYTES', 1_000_000, 1_000, 25_000_000),
    tokenSafeMs: r.int('INTERACTION_TOKEN_SAFE_MS', 14 * 60_000, 1_000, 15 * 60_000),
    progressIntervalMs: r.int('PROGRESS_INTERVAL_MS', 3_000, 50, 60_000),
    redis: readRedis(r),
    limits: {
      maxPerUser: r.int('QUEUE_MAX_PER_USER', 3, 1, 100),
      maxTotal: r.int('QUEUE_MAX_TOTAL', 50, 1, 10_000),
      rateLimitCount: r.int('RATE_LIMIT_COUNT', 6, 1, 1_000),
      rateWindowMs: r.int('RATE_LIMIT_WINDOW_MS', 60_000, 1_000, 86_400_000),
      attempts: r.int('JOB_ATTEMPTS', 3, 1, 10),
      backoffMs: r.int('JOB_BACKOFF_MS', 2_000, 10, 600_000),
    },
    ...readPaths(r, cwd),
  };
  if (r.problems.length) throw new ConfigError(r.problems);
  return cfg;
}

/** deploy-commands needs only the token, application id and API base. */
export function loadDeployConfig(env: Env = process.env): Pick<BotConfig, 'token' | 'applicationId' | 'apiBase' | 'operatorGuildId'> {
  const r = new EnvReader(env);
  const cfg = {
    token: r.required('DISCORD_TOKEN', TOKEN_HINT),
    applicationId: r.snowflake('DISCORD_APPLICATION_ID', true, APP_HINT) ?? '',
    apiBase: r.url('DISCORD_API_BASE', 'https://discord.com/api', ['https:', 'http:']),
    operatorGuildId: r.snowflake('OPERATOR_GUILD_ID', false, ''),
  };
  if (r.problems.length) throw new ConfigError(r.problems);
  return cfg;
}

export function loadWorkerConfig(env: Env = process.env, cwd = process.cwd()): WorkerConfig {
  const r = new EnvReader(env);
  const soundfont = r.raw('SOUNDFONT');
  const cfg: WorkerConfig = {
    redis: readRedis(r),
    ...readPaths(r, cwd),
    soundfont: soundfont ? path.resolve(cwd, soundfont) : null,
    concurrency: r.int('WORKER_CONCURRENCY', 1, 1, 64),
    lockDurationMs: r.int('WORKER_LOCK_MS', 30_000, 500, 600_000),
    stalledIntervalMs: r.int('WORKER_STALLED_CHECK_MS', 30_000, 200, 600_000),
  };
  if (r.problems.length) throw new ConfigError(r.problems);
  return cfg;
}

/** Loads .env (if present) without overriding variables already set by the environment. */
export async function loadDotenv(): Promise<void> {
  const dotenv = await import('dotenv');
  dotenv.config({ quiet: true } as Parameters<typeof dotenv.config>[0]);
}
