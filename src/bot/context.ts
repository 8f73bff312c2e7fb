// What command handlers get: configuration, queues and the helpers that talk to Discord.
import type { ChatInputCommandInteraction, SlashCommandBuilder, SlashCommandOptionsOnlyBuilder, SlashCommandSubcommandsOnlyBuilder } from 'discord.js';
import type { Redis } from 'ioredis';
import type { BotConfig } from '../config.js';
import type { Admission } from '../queue/admission.js';
import type { Queues } from '../queue/connection.js';
import type { ResultStore } from '../queue/result-store.js';
import type { DiscordOut } from './discord-out.js';
import type { ProgressReporter } from './progress.js';
import type { StyleInfo } from './styles.js';

export interface BotContext {
  config: BotConfig;
  /** Waits out Redis outages (deliveries, progress bookkeeping). */
  redis: Redis;
  /** Fails fast (admission, enqueueing): a user on a 3-second deadline gets "try again" instead of a hang. */
  commandRedis: Redis;
  queues: Queues;
  admission: Admission;
  store: ResultStore;
  out: DiscordOut;
  progress: ProgressReporter;
  styles: StyleInfo[];
  now: () => number;
  log: (msg: string) => void;
  /** Random seed source, injectable for reproducible tests. */
  randomSeed: () => number;
}

export interface BotCommand {
  data: SlashCommandBuilder | SlashCommandOptionsOnlyBuilder | SlashCommandSubcommandsOnlyBuilder;
  /** 'global' commands are registered everywhere; 'operator' ones only in the operator's guild. */
  scope: 'global' | 'operator';
  execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void>;
}
