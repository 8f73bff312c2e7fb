// Everything the bot posts after the initial acknowledgement goes through here, addressed by a
// ReplyTarget rather than a live Interaction object, so it works for jobs queued before a restart.
// While the interaction token is fresh we edit the original reply; once it is about to expire
// (tokens live 15 minutes) we fall back to a message in the channel, sent with the bot token.
import { Routes, type REST, type RawFile } from 'discord.js';
import type { Redis } from 'ioredis';
import type { ReplyTarget } from '../queue/jobs.js';

export interface OutFile {
  name: string;
  data: Uint8Array;
  contentType?: string;
}

export interface OutMessage {
  content: string;
  components?: unknown[];
  files?: OutFile[];
}

/** Discord error codes meaning "this interaction token can no longer be used". */
const DEAD_TOKEN_CODES = new Set([50027, 10015, 10062, 10008]);

function isDeadToken(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' && DEAD_TOKEN_CODES.has(code);
}

/** Discord refuses a message whose content is longer than this (400, "Invalid Form Body"). */
export const MAX_CONTENT_LENGTH = 2000;

/**
 * `text` cut to what Discord accepts, ending in "…" when cut: a long summary (a dataset rebuild lists every corpus, an
 * error quotes its cause) must still be delivered rather than refused on every retry.
 */
export function fitContent(text: string): string {
  if (text.length <= MAX_CONTENT_LENGTH) return text;
  let end = MAX_CONTENT_LENGTH - 1;
  if (/[\uD800-\uDBFF]/.test(text[end - 1]!)) end--; // never split a character made of a surrogate pair
  return `${text.slice(0, end)}…`;
}

function toRest(msg: OutMessage): { body: Record<string, unknown>; files?: RawFile[] } {
  const files = msg.files ?? [];
  return {
    body: {
      content: fitContent(msg.content),
      ...(msg.components ? { components: msg.components } : {}),
      // Listing exactly the uploaded files replaces whatever the message had attached before.
      attachments: files.map((f, i) => ({ id: i, filename: f.name })),
      allowed_mentions: { parse: [] as string[], users: [] as string[] },
    },
    files: files.length ? files.map((f) => ({ name: f.name, data: Buffer.from(f.data), contentType: f.contentType })) : undefined,
  };
}

export class DiscordOut {
  constructor(
    private readonly rest: REST,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly tokenSafeMs: number,
    private readonly now: () => number,
  ) {}

  tokenUsable(target: ReplyTarget): boolean {
    return this.now() - target.receivedAt < this.tokenSafeMs;
  }

  private progressKey(): string {
    return `${this.prefix}:maestro:progress-message`;
  }

  /** Progress: edit the original reply, or (late) create/edit one bot-owned channel message per job. */
  async progress(jobId: string, target: ReplyTarget, line: string): Promise<void> {
    const content = fitContent(line);
    if (this.tokenUsable(target)) {
      try {
        await this.rest.patch(Routes.webhookMessage(target.applicationId, target.token, '@original'), { body: { content }, auth: false });
        return;
      } catch (err) {
        if (!isDeadToken(err)) throw err;
      }
    }
    const existing = await this.redis.hget(this.progressKey(), jobId);
    const text = fitContent(`<@${target.userId}> ${line}`);
    if (existing) {
      await this.rest.patch(Routes.channelMessage(target.channelId, existing), { body: { content: text, allowed_mentions: { parse: [] } } });
      return;
    }
    const msg = (await this.rest.post(Routes.channelMessages(target.channelId), { body: { content: text, allowed_mentions: { parse: [] } } })) as { id: string };
    await this.redis.hset(this.progressKey(), jobId, msg.id);
  }

  /** The final answer. Returns where it went. */
  async final(jobId: string, target: ReplyTarget, msg: OutMessage): Promise<'interaction' | 'channel'> {
    if (this.tokenUsable(target)) {
      try {
        const { body, files } = toRest(msg);
        await this.rest.patch(Routes.webhookMessage(target.applicationId, target.token, '@original'), { body, files, auth: false });
        await this.redis.hdel(this.progressKey(), jobId);
        return 'interaction';
      } catch (err) {
        if (!isDeadToken(err)) throw err;
      }
    }
    const { body, files } = toRest({ ...msg, content: `<@${target.userId}> ${msg.content}` });
    // Mention only the person who asked; never @everyone or roles.
    body.allowed_mentions = { parse: [], users: [target.userId] };
    await this.rest.post(Routes.channelMessages(target.channelId), { body, files });
    const progressId = await this.redis.hget(this.progressKey(), jobId);
    if (progressId) {
      await this.rest.patch(Routes.channelMessage(target.channelId, progressId), { body: { content: `<@${target.userId}> finished — see below.`, allowed_mentions: { parse: [] } } }).catch(() => {});
      await this.redis.hdel(this.progressKey(), jobId);
    }
    return 'channel';
  }
}
