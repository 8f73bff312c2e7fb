// A local stand-in for Discord: one HTTP + WebSocket server speaking enough of API v10 for the real
// discord.js client (REST + gateway) to log in, receive interactions and answer them.
// It enforces the rules the real service enforces (3 s to acknowledge, 15 min token life, no double
// acknowledgement, attachment size/count limits, command permissions, sharding once a session would hold
// too many guilds) and records everything for assertions.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ComponentType,
  GatewayDispatchEvents,
  GatewayOpcodes,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
  PermissionFlagsBits,
  type APIApplicationCommandInteractionDataOption,
  type APIAttachment,
  type APIInteraction,
  type APIMessage,
  type APIUser,
  type RESTPutAPIApplicationCommandsJSONBody,
} from 'discord-api-types/v10';

export const ACK_DEADLINE_MS = 3_000;
export const TOKEN_LIFETIME_MS = 15 * 60_000;
export const MAX_ATTACHMENTS = 10;

const DISCORD_EPOCH = 1_420_070_400_000n;

export interface UploadedFile {
  name: string;
  contentType: string;
  bytes: Uint8Array;
}

/** A message as the fake stores it: the wire fields plus the uploaded bytes of each attachment. */
export interface FakeMessage {
  id: string;
  channelId: string;
  content: string;
  flags: number;
  embeds: unknown[];
  components: Array<{ type: number; components: Array<{ type: number; custom_id?: string; label?: string; style?: number }> }>;
  files: UploadedFile[];
  /** How the message was created. */
  via: 'interaction' | 'followup' | 'channel';
  interactionId?: string;
  editCount: number;
  deleted: boolean;
}

export interface FakeInteraction {
  id: string;
  token: string;
  type: InteractionType;
  userId: string;
  channelId: string;
  createdAt: number;
  /** Callback types in the order they were accepted. */
  callbacks: InteractionResponseType[];
  originalMessageId?: string;
  followupIds: string[];
  commandName?: string;
}

export interface FakeEvent {
  at: number;
  kind: string;
  detail: Record<string, unknown>;
}

export interface CommandOption {
  name: string;
  type: ApplicationCommandOptionType;
  value: string | number | boolean;
}

export interface InvokeOptions {
  user?: Partial<APIUser> & { id: string };
  /** Member permission bits (string of a bigint), default: none beyond sending messages. */
  permissions?: bigint;
  options?: CommandOption[];
  attachments?: APIAttachment[];
  channelId?: string;
  /** Re-send an existing interaction (Discord may deliver twice). */
  reuse?: { id: string; token: string };
  /** The guild it happens in (one of `guildIds`); default: the first guild. */
  guildId?: string;
  /** Subcommand (and optional group) for commands like /admin. */
  subcommand?: string;
}

interface StoredCommand {
  id: string;
  name: string;
  default_member_permissions?: string | null;
  body: Record<string, unknown>;
  guildId: string | null;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly code: number, message: string) {
    super(message);
  }
}

export class FakeDiscord {
  readonly token = 'ZmFrZS1ib3Q.ZmFrZQ.ZmFrZS1zZWNyZXQtdG9rZW4';
  readonly applicationId = '100000000000000001';
  readonly botUser: APIUser = { id: '100000000000000001', username: 'maestro', discriminator: '0', global_name: null, avatar: null, bot: true };
  readonly guildId = '200000000000000001';
  readonly channelId = '300000000000000001';
  /** Upload limit per file that interactions advertise (attachment_size_limit). */
  attachmentSizeLimit = 10 * 1024 * 1024;

  readonly events: FakeEvent[] = [];
  readonly interactions = new Map<string, FakeInteraction>();
  readonly messages = new Map<string, FakeMessage>();
  readonly commands = new Map<string, StoredCommand>();
  readonly cdnFetches: string[] = [];
  identifies: Array<{ intents: number; token: string; shard: [number, number] }> = [];
  /**
   * Discord closes a session that would hold more guilds than this with 4011 "Sharding required"
   * (2,500 in production); `/gateway/bot` recommends enough shards to stay under it.
   */
  maxGuildsPerShard = 2_500;
  /** How many shards may identify at once (session_start_limit.max_concurrency). */
  maxConcurrency = 1;

  private clockOffset = 0;
  private seq = 0;
  private snowflakeCounter = 0n;
  private readonly server = http.createServer((req, res) => void this.handleHttp(req, res));
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sockets = new Set<WebSocket>();
  /** The shard each identified connection is, as [shard_id, num_shards]. */
  private readonly shardOf = new Map<WebSocket, [number, number]>();
  private readonly guilds = new Map<string, { channelId: string }>([[this.guildId, { channelId: this.channelId }]]);
  private readonly cdnFiles = new Map<string, Uint8Array>();
  private readonly waiters = new Set<() => void>();
  port = 0;

  /** The fake's clock: tests advance it to simulate the passage of minutes. */
  now(): number {
    return Date.now() + this.clockOffset;
  }

  advanceClock(ms: number): void {
    this.clockOffset += ms;
  }

  get apiBase(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  /** Host (with port) that serves attachments, for the bot's CDN allowlist. */
  get cdnHost(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/gateway')) return socket.destroy();
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onGatewayConnection(ws));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  snowflake(): string {
    this.snowflakeCounter += 1n;
    return (((BigInt(this.now()) - DISCORD_EPOCH) << 22n) + (this.snowflakeCounter & 0x3fffffn)).toString();
  }

  private record(kind: string, detail: Record<string, unknown>): void {
    this.events.push({ at: this.now(), kind, detail });
    for (const w of [...this.waiters]) w();
  }

  /** Resolves when `predicate` holds (checked after every recorded event), or rejects after `timeoutMs`. */
  waitFor<T>(predicate: () => T | undefined | false | null, timeoutMs = 30_000, what = 'condition'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        let v: T | undefined | false | null;
        try {
          v = predicate();
        } catch (e) {
          cleanup();
          reject(e);
          return;
        }
        if (v) {
          cleanup();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake-discord: timed out waiting for ${what}; last events: ${JSON.stringify(this.events.slice(-8).map((e) => [e.kind, e.detail]))}`));
      }, timeoutMs);
      const poll = setInterval(check, 100);
      const cleanup = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  // ---------- attachments (CDN) ----------

  /** Registers a file on the fake CDN and returns the attachment object Discord would put in an interaction. */
  addAttachment(filename: string, bytes: Uint8Array, opts: { host?: string; declaredSize?: number } = {}): APIAttachment {
    const id = this.snowflake();
    const pathPart = `/attachments/${this.channelId}/${id}/${encodeURIComponent(filename)}`;
    this.cdnFiles.set(pathPart, bytes);
    const url = `http://${opts.host ?? this.cdnHost}${pathPart}?ex=1&is=2&hm=3`;
    return { id, filename, size: opts.declaredSize ?? bytes.length, url, proxy_url: url, content_type: filename.endsWith('.mid') ? 'audio/midi' : 'application/octet-stream' };
  }

  // ---------- gateway ----------

  private send(ws: WebSocket, payload: unknown): void {
    ws.send(JSON.stringify(payload));
  }

  private dispatch(ws: WebSocket, t: string, d: unknown): void {
    this.seq += 1;
    this.send(ws, { op: GatewayOpcodes.Dispatch, t, s: this.seq, d });
  }

  private onGatewayConnection(ws: WebSocket): void {
    this.sockets.add(ws);
    this.record('gateway.connect', {});
    ws.on('close', () => {
      this.sockets.delete(ws);
      this.shardOf.delete(ws);
      this.record('gateway.close', {});
    });
    ws.on('message', (raw) => {
      let msg: { op: number; d: unknown };
      try {
        msg = JSON.parse(String(raw));
      } catch {
        return ws.close(4002, 'Decode error');
      }
      if (msg.op === GatewayOpcodes.Heartbeat) return this.send(ws, { op: GatewayOpcodes.HeartbeatAck });
      if (msg.op === GatewayOpcodes.Identify) {
        const d = msg.d as { token: string; intents: number; shard?: [number, number] };
        if (d.token !== this.token && d.token !== `Bot ${this.token}`) return ws.close(4004, 'Authentication failed');
        const shard = d.shard ?? [0, 1];
        const [shardId, numShards] = shard;
        if (!Number.isInteger(numShards) || numShards < 1 || !Number.isInteger(shardId) || shardId < 0 || shardId >= numShards) {
          return ws.close(4010, 'Invalid shard');
        }
        const guildIds = this.guildIdsOnShard(shardId, numShards);
        this.identifies.push({ intents: d.intents, token: '[redacted]', shard });
        this.record('gateway.identify', { intents: d.intents, shard });
        if (guildIds.length > this.maxGuildsPerShard) return ws.close(4011, 'Sharding required');
        this.shardOf.set(ws, shard);
        this.dispatch(ws, GatewayDispatchEvents.Ready, {
          v: 10,
          user: this.botUser,
          guilds: guildIds.map((id) => ({ id, unavailable: true })),
          session_id: `session-${this.seq}`,
          resume_gateway_url: `ws://127.0.0.1:${this.port}/gateway`,
          application: { id: this.applicationId, flags: 0 },
          shard,
        });
        for (const id of guildIds) this.dispatch(ws, GatewayDispatchEvents.GuildCreate, this.guildPayload(id));
        return;
      }
      if (msg.op === GatewayOpcodes.Resume) return ws.close(4009, 'Session timed out');
    });
    this.send(ws, { op: GatewayOpcodes.Hello, d: { heartbeat_interval: 41_250 } });
  }

  // ---------- guilds and shards ----------

  /** Adds a guild the bot is in, optionally one that Discord routes to `shard` of `numShards`; returns its id. */
  addGuild(onShard?: { shard: number; numShards: number }): string {
    let id = BigInt(this.snowflake());
    if (onShard) {
      // Discord's routing: shard_id = (guild_id >> 22) % num_shards. Move the timestamp part until it lands there.
      while (Number((id >> 22n) % BigInt(onShard.numShards)) !== onShard.shard) id += 1n << 22n;
    }
    const guildId = id.toString();
    this.guilds.set(guildId, { channelId: this.snowflake() });
    return guildId;
  }

  get guildIds(): string[] {
    return [...this.guilds.keys()];
  }

  /** The text channel interactions in `guildId` come from by default. */
  channelOf(guildId: string): string {
    const g = this.guilds.get(guildId);
    if (!g) throw new Error(`fake-discord: the bot is not in guild ${guildId}`);
    return g.channelId;
  }

  static shardFor(guildId: string, numShards: number): number {
    return Number((BigInt(guildId) >> 22n) % BigInt(numShards));
  }

  private guildIdsOnShard(shardId: number, numShards: number): string[] {
    return this.guildIds.filter((id) => FakeDiscord.shardFor(id, numShards) === shardId);
  }

  /** Shard connections that are identified, as [shard_id, num_shards]. */
  get shards(): Array<[number, number]> {
    return [...this.shardOf.values()];
  }

  private guildPayload(guildId: string) {
    const channelId = this.channelOf(guildId);
    return {
      id: guildId,
      name: 'Fake Guild',
      icon: null,
      owner_id: '900000000000000001',
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      roles: [{ id: guildId, name: '@everyone', permissions: String(PermissionFlagsBits.SendMessages | PermissionFlagsBits.ViewChannel), position: 0, color: 0, hoist: false, managed: false, mentionable: false, flags: 0 }],
      emojis: [],
      features: [],
      mfa_level: 0,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      joined_at: new Date().toISOString(),
      large: false,
      unavailable: false,
      member_count: 2,
      members: [],
      channels: [{ id: channelId, type: 0, name: 'music', position: 0, permission_overwrites: [], guild_id: guildId }],
      threads: [],
      presences: [],
      voice_states: [],
      stage_instances: [],
      guild_scheduled_events: [],
      stickers: [],
      premium_tier: 0,
      preferred_locale: 'en-US',
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
    };
  }

  get connected(): boolean {
    return this.sockets.size > 0;
  }

  /** The connection Discord sends `guildId`'s events on: the newest session of the shard that owns it. */
  private socketFor(guildId: string): WebSocket {
    const ws = [...this.shardOf].filter(([, [id, n]]) => FakeDiscord.shardFor(guildId, n) === id).at(-1)?.[0];
    if (!ws) throw new Error(`fake-discord: no bot session holds guild ${guildId} (connected shards: ${JSON.stringify(this.shards)})`);
    return ws;
  }

  // ---------- interactions ----------

  /**
   * Delivers a slash command as a user would run it. Throws if Discord would not deliver it:
   * the command is not registered where it is used, or the member lacks its default permissions.
   */
  invokeCommand(name: string, opts: InvokeOptions = {}): FakeInteraction {
    const guildId = opts.guildId ?? this.guildId;
    const cmd = [...this.commands.values()].find((c) => c.name === name && (c.guildId === null || c.guildId === guildId));
    if (!cmd) throw new Error(`fake-discord: /${name} is not registered for guild ${guildId}`);
    const permissions = opts.permissions ?? (PermissionFlagsBits.SendMessages | PermissionFlagsBits.ViewChannel | PermissionFlagsBits.UseApplicationCommands);
    const required = cmd.default_member_permissions != null ? BigInt(cmd.default_member_permissions) : 0n;
    if ((permissions & PermissionFlagsBits.Administrator) === 0n && (permissions & required) !== required) {
      this.record('interaction.hidden', { name, userId: opts.user?.id });
      throw new PermissionHiddenError(name);
    }
    let options: APIApplicationCommandInteractionDataOption[] = (opts.options ?? []) as APIApplicationCommandInteractionDataOption[];
    if (opts.subcommand) {
      options = [{ type: ApplicationCommandOptionType.Subcommand, name: opts.subcommand, options: options as never }];
    }
    const resolvedAttachments = Object.fromEntries((opts.attachments ?? []).map((a) => [a.id, a]));
    return this.deliver(
      InteractionType.ApplicationCommand,
      opts,
      permissions,
      {
        id: cmd.id,
        name,
        type: ApplicationCommandType.ChatInput,
        options,
        ...(opts.attachments?.length ? { resolved: { attachments: resolvedAttachments } } : {}),
      },
      undefined,
      name,
    );
  }

  /** Clicks a button on a message the bot sent. */
  clickButton(messageId: string, customId: string, opts: InvokeOptions = {}): FakeInteraction {
    const msg = this.messages.get(messageId);
    if (!msg) throw new Error(`fake-discord: no message ${messageId}`);
    const exists = msg.components.some((row) => row.components.some((c) => c.custom_id === customId));
    if (!exists) throw new Error(`fake-discord: message has no button ${customId}`);
    const guildId = opts.guildId ?? this.guildIds.find((id) => this.channelOf(id) === msg.channelId) ?? this.guildId;
    return this.deliver(InteractionType.MessageComponent, { ...opts, guildId }, undefined, { custom_id: customId, component_type: ComponentType.Button }, this.messageJson(msg));
  }

  private deliver(
    type: InteractionType,
    opts: InvokeOptions,
    permissions: bigint | undefined,
    data: unknown,
    message: APIMessage | undefined,
    commandName?: string,
  ): FakeInteraction {
    const guildId = opts.guildId ?? this.guildId;
    const ws = this.socketFor(guildId);
    const user: APIUser = { username: 'someone', discriminator: '0', global_name: null, avatar: null, ...opts.user, id: opts.user?.id ?? '400000000000000001' };
    const existing = opts.reuse ? this.interactions.get(opts.reuse.id) : undefined;
    const interaction: FakeInteraction = existing ?? {
      id: this.snowflake(),
      token: `itok-${this.snowflake()}-${Math.random().toString(36).slice(2)}`,
      type,
      userId: user.id,
      channelId: opts.channelId ?? this.channelOf(guildId),
      createdAt: this.now(),
      callbacks: [],
      followupIds: [],
      commandName,
    };
    this.interactions.set(interaction.id, interaction);
    const perms = String(permissions ?? PermissionFlagsBits.SendMessages | PermissionFlagsBits.ViewChannel);
    const payload = {
      id: interaction.id,
      application_id: this.applicationId,
      type,
      data,
      guild_id: guildId,
      channel_id: interaction.channelId,
      channel: { id: interaction.channelId, type: 0, name: 'music', guild_id: guildId, permissions: perms },
      member: { user, roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, permissions: perms, flags: 0 },
      token: interaction.token,
      version: 1,
      app_permissions: String(PermissionFlagsBits.SendMessages | PermissionFlagsBits.AttachFiles | PermissionFlagsBits.EmbedLinks | PermissionFlagsBits.ViewChannel),
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: {},
      context: 0,
      attachment_size_limit: this.attachmentSizeLimit,
      ...(message ? { message } : {}),
    } as unknown as APIInteraction;
    this.record('interaction.create', { id: interaction.id, type, commandName, userId: user.id, messageId: message?.id });
    this.dispatch(ws, GatewayDispatchEvents.InteractionCreate, payload);
    return interaction;
  }

  // ---------- queries for assertions ----------

  originalMessage(interactionId: string): FakeMessage | undefined {
    const id = this.interactions.get(interactionId)?.originalMessageId;
    return id ? this.messages.get(id) : undefined;
  }

  followups(interactionId: string): FakeMessage[] {
    return (this.interactions.get(interactionId)?.followupIds ?? []).map((id) => this.messages.get(id)!).filter(Boolean);
  }

  channelMessages(channelId = this.channelId): FakeMessage[] {
    return [...this.messages.values()].filter((m) => m.via === 'channel' && m.channelId === channelId);
  }

  errors(): FakeEvent[] {
    return this.events.filter((e) => e.kind === 'http.error');
  }

  // ---------- HTTP ----------

  private async handleHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${this.port}`);
    try {
      if (url.pathname.startsWith('/attachments/')) return this.serveCdn(req, url, res);
      const m = /^\/api\/v10(\/.*)$/.exec(url.pathname);
      if (!m) throw new HttpError(404, 0, '404: Not Found');
      const body = await readBody(req);
      const result = await this.route(req.method ?? 'GET', m[1], req, body);
      if (result === undefined) {
        res.writeHead(204).end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
      }
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, 0, String(err));
      this.record('http.error', { method: req.method, path: url.pathname, status: e.status, code: e.code, message: e.message });
      res.writeHead(e.status, { 'content-type': 'application/json' }).end(JSON.stringify({ code: e.code, message: e.message }));
    }
  }

  private serveCdn(req: http.IncomingMessage, url: URL, res: http.ServerResponse): void {
    this.cdnFetches.push(`${req.headers.host}${url.pathname}`);
    this.record('cdn.get', { host: req.headers.host, path: url.pathname });
    const bytes = this.cdnFiles.get(url.pathname);
    if (!bytes) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(Buffer.from(bytes));
  }

  private requireBotAuth(req: http.IncomingMessage): void {
    if (req.headers.authorization !== `Bot ${this.token}`) throw new HttpError(401, 0, '401: Unauthorized');
  }

  private async route(method: string, p: string, req: http.IncomingMessage, body: Buffer): Promise<unknown> {
    const parts = p.split('/').filter(Boolean).map(decodeURIComponent);
    const key = `${method} /${parts.map((x, i) => (/^\d+$/.test(x) || (parts[0] === 'webhooks' && i === 2) || (parts[0] === 'interactions' && i === 2) ? ':' : x)).join('/')}`;
    switch (key) {
      case 'GET /gateway/bot':
        this.requireBotAuth(req);
        return {
          url: `ws://127.0.0.1:${this.port}/gateway`,
          shards: Math.max(1, Math.ceil(this.guilds.size / this.maxGuildsPerShard)),
          session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: this.maxConcurrency },
        };
      case 'GET /gateway':
        return { url: `ws://127.0.0.1:${this.port}/gateway` };
      case 'PUT /applications/:/commands':
        this.requireBotAuth(req);
        return this.putCommands(null, JSON.parse(body.toString()) as RESTPutAPIApplicationCommandsJSONBody);
      case 'PUT /applications/:/guilds/:/commands':
        this.requireBotAuth(req);
        return this.putCommands(parts[3], JSON.parse(body.toString()) as RESTPutAPIApplicationCommandsJSONBody);
      case 'GET /applications/:/commands':
        this.requireBotAuth(req);
        return [...this.commands.values()].filter((c) => c.guildId === null).map((c) => c.body);
      case 'POST /interactions/:/:/callback':
        return this.interactionCallback(parts[1], parts[2], req, body);
      case 'PATCH /webhooks/:/:/messages/@original':
        return this.editOriginal(parts[2], req, body);
      case 'GET /webhooks/:/:/messages/@original': {
        const i = this.interactionByToken(parts[2]);
        const msg = i.originalMessageId ? this.messages.get(i.originalMessageId) : undefined;
        if (!msg || msg.deleted) throw new HttpError(404, 10008, 'Unknown Message');
        return this.messageJson(msg);
      }
      case 'DELETE /webhooks/:/:/messages/@original': {
        const i = this.interactionByToken(parts[2]);
        const msg = i.originalMessageId ? this.messages.get(i.originalMessageId) : undefined;
        if (!msg) throw new HttpError(404, 10008, 'Unknown Message');
        msg.deleted = true;
        this.record('message.delete', { id: msg.id, interactionId: i.id });
        return undefined;
      }
      case 'POST /webhooks/:/:':
        return this.followup(parts[2], req, body);
      case 'PATCH /webhooks/:/:/messages/:': {
        const i = this.interactionByToken(parts[2]);
        return this.editMessage(parts[4], req, body, `followup of ${i.id}`);
      }
      case 'POST /channels/:/messages':
        this.requireBotAuth(req);
        return this.createChannelMessage(parts[1], req, body);
      case 'PATCH /channels/:/messages/:':
        this.requireBotAuth(req);
        return this.editMessage(parts[3], req, body, 'channel message');
      default:
        throw new HttpError(404, 0, `fake-discord does not implement ${method} ${p}`);
    }
  }

  private putCommands(guildId: string | null, list: RESTPutAPIApplicationCommandsJSONBody) {
    for (const [id, c] of this.commands) if (c.guildId === guildId) this.commands.delete(id);
    const out = list.map((c) => {
      const id = this.snowflake();
      const body = { ...c, id, application_id: this.applicationId, guild_id: guildId ?? undefined, version: id } as Record<string, unknown>;
      this.commands.set(id, { id, name: c.name, default_member_permissions: (c as { default_member_permissions?: string | null }).default_member_permissions, body, guildId });
      return body;
    });
    this.record('commands.put', { guildId, names: list.map((c) => c.name) });
    return out;
  }

  private interactionByToken(token: string): FakeInteraction {
    const i = [...this.interactions.values()].find((x) => x.token === token);
    if (!i) throw new HttpError(401, 50027, 'Invalid Webhook Token');
    if (this.now() - i.createdAt > TOKEN_LIFETIME_MS) throw new HttpError(401, 50027, 'Invalid Webhook Token');
    if (i.callbacks.length === 0) throw new HttpError(404, 10015, 'Unknown Webhook');
    return i;
  }

  private async interactionCallback(id: string, token: string, req: http.IncomingMessage, body: Buffer): Promise<unknown> {
    const i = this.interactions.get(id);
    if (!i || i.token !== token) throw new HttpError(404, 10062, 'Unknown interaction');
    if (this.now() - i.createdAt > ACK_DEADLINE_MS) throw new HttpError(404, 10062, 'Unknown interaction');
    if (i.callbacks.length > 0) throw new HttpError(400, 40060, 'Interaction has already been acknowledged.');
    const { payload, files } = await parsePayload(req, body);
    const type = payload.type as InteractionResponseType;
    const data = (payload.data ?? {}) as Record<string, unknown>;
    this.checkFiles(files, i);
    i.callbacks.push(type);
    this.record('interaction.callback', { id, type, flags: data.flags ?? 0 });
    if (type === InteractionResponseType.ChannelMessageWithSource || type === InteractionResponseType.DeferredChannelMessageWithSource) {
      const msg = this.newMessage(i.channelId, 'interaction', data, files, i.id);
      i.originalMessageId = msg.id;
    } else if (type === InteractionResponseType.UpdateMessage || type === InteractionResponseType.DeferredMessageUpdate) {
      // Component interactions edit the message the component is on; it becomes this interaction's @original.
      const source = this.findSourceMessageFor(i);
      if (source) {
        i.originalMessageId = source.id;
        if (type === InteractionResponseType.UpdateMessage) this.applyEdit(source, data, files);
      }
    }
    return undefined;
  }

  private findSourceMessageFor(i: FakeInteraction): FakeMessage | undefined {
    const ev = [...this.events].reverse().find((e) => e.kind === 'interaction.create' && e.detail.id === i.id);
    const mid = ev?.detail.messageId as string | undefined;
    return mid ? this.messages.get(mid) : undefined;
  }

  private checkFiles(files: UploadedFile[], i?: FakeInteraction): void {
    if (files.length > MAX_ATTACHMENTS) throw new HttpError(400, 50035, `Invalid Form Body: at most ${MAX_ATTACHMENTS} attachments`);
    const limit = i ? this.attachmentSizeLimit : 10 * 1024 * 1024;
    for (const f of files) {
      if (f.bytes.length > limit) throw new HttpError(413, 40005, 'Request entity too large');
    }
  }

  private async editOriginal(token: string, req: http.IncomingMessage, body: Buffer): Promise<unknown> {
    const i = this.interactionByToken(token);
    const msg = i.originalMessageId ? this.messages.get(i.originalMessageId) : undefined;
    if (!msg || msg.deleted) throw new HttpError(404, 10008, 'Unknown Message');
    const { payload, files } = await parsePayload(req, body);
    this.checkFiles(files, i);
    this.applyEdit(msg, payload, files);
    this.record('message.edit', { id: msg.id, interactionId: i.id, content: msg.content, files: msg.files.map((f) => f.name) });
    return this.messageJson(msg);
  }

  private async followup(token: string, req: http.IncomingMessage, body: Buffer): Promise<unknown> {
    const i = this.interactionByToken(token);
    const { payload, files } = await parsePayload(req, body);
    this.checkFiles(files, i);
    const msg = this.newMessage(i.channelId, 'followup', payload, files, i.id);
    i.followupIds.push(msg.id);
    return this.messageJson(msg);
  }

  private async createChannelMessage(channelId: string, req: http.IncomingMessage, body: Buffer): Promise<unknown> {
    if (channelId !== this.channelId) throw new HttpError(404, 10003, 'Unknown Channel');
    const { payload, files } = await parsePayload(req, body);
    this.checkFiles(files);
    const msg = this.newMessage(channelId, 'channel', payload, files);
    return this.messageJson(msg);
  }

  private async editMessage(id: string, req: http.IncomingMessage, body: Buffer, what: string): Promise<unknown> {
    const msg = this.messages.get(id);
    if (!msg || msg.deleted) throw new HttpError(404, 10008, `Unknown Message (${what})`);
    const { payload, files } = await parsePayload(req, body);
    this.checkFiles(files);
    this.applyEdit(msg, payload, files);
    this.record('message.edit', { id: msg.id, content: msg.content, files: msg.files.map((f) => f.name) });
    return this.messageJson(msg);
  }

  /** Discord's limits on a message's text and embeds. */
  private checkContent(data: Record<string, unknown>): void {
    const length = String(data.content ?? '').length;
    if (length > 2000) throw new HttpError(400, 50035, `Invalid Form Body: content: Must be 2000 or fewer in length (${length}).`);
    type Embed = { title?: string; description?: string; footer?: { text?: string }; fields?: Array<{ name: string; value: string }> };
    for (const e of (data.embeds as Embed[] | undefined) ?? []) {
      const fields = e.fields ?? [];
      if (fields.length > 25) throw new HttpError(400, 50035, 'Invalid Form Body: embeds.fields: Must be 25 or fewer in length.');
      for (const f of fields) if (f.value.length > 1024 || f.name.length > 256) throw new HttpError(400, 50035, 'Invalid Form Body: embeds.fields: a field name or value is too long.');
      const total = (e.title ?? '').length + (e.description ?? '').length + (e.footer?.text ?? '').length + fields.reduce((n, f) => n + f.name.length + f.value.length, 0);
      if (total > 6000) throw new HttpError(400, 50035, `Invalid Form Body: embeds: Embed size exceeds maximum size of 6000 (${total}).`);
    }
  }

  private newMessage(channelId: string, via: FakeMessage['via'], data: Record<string, unknown>, files: UploadedFile[], interactionId?: string): FakeMessage {
    this.checkContent(data);
    const msg: FakeMessage = {
      id: this.snowflake(),
      channelId,
      content: String(data.content ?? ''),
      flags: Number(data.flags ?? 0),
      embeds: (data.embeds as unknown[]) ?? [],
      components: (data.components as FakeMessage['components']) ?? [],
      files,
      via,
      interactionId,
      editCount: 0,
      deleted: false,
    };
    this.messages.set(msg.id, msg);
    this.record('message.create', { id: msg.id, via, interactionId, content: msg.content, ephemeral: (msg.flags & MessageFlags.Ephemeral) !== 0, files: files.map((f) => f.name) });
    return msg;
  }

  private applyEdit(msg: FakeMessage, data: Record<string, unknown>, files: UploadedFile[]): void {
    this.checkContent(data);
    if ('content' in data) msg.content = String(data.content ?? '');
    if ('embeds' in data) msg.embeds = (data.embeds as unknown[]) ?? [];
    if ('components' in data) msg.components = (data.components as FakeMessage['components']) ?? [];
    if ('attachments' in data || files.length) {
      // Discord keeps the existing attachments listed by their ids, drops the others, and adds the uploads
      // (listed by upload index). Without an attachments list, existing files stay and uploads are added.
      const listed = data.attachments as Array<{ id: string | number }> | undefined;
      const existing = listed
        ? listed.map((a) => msg.files.find((_f, idx) => this.attachmentId(msg, idx) === String(a.id))).filter((f): f is UploadedFile => Boolean(f))
        : msg.files;
      msg.files = [...existing, ...files];
    }
    msg.editCount += 1;
  }

  /** Snowflake-like ids for stored attachments, distinct from the small upload indices of new files. */
  private attachmentId(msg: FakeMessage, idx: number): string {
    return (BigInt(msg.id) + BigInt(idx + 1)).toString();
  }

  private messageJson(msg: FakeMessage): APIMessage {
    return {
      id: msg.id,
      channel_id: msg.channelId,
      author: this.botUser,
      content: msg.content,
      timestamp: new Date(this.now()).toISOString(),
      edited_timestamp: msg.editCount ? new Date(this.now()).toISOString() : null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: msg.files.map((f, idx) => ({ id: this.attachmentId(msg, idx), filename: f.name, size: f.bytes.length, url: `http://127.0.0.1:${this.port}/attachments/out/${msg.id}/${idx}/${f.name}`, proxy_url: '' })),
      embeds: msg.embeds as APIMessage['embeds'],
      pinned: false,
      type: 0,
      flags: msg.flags,
      components: msg.components as unknown as APIMessage['components'],
      ...(msg.via !== 'channel' ? { webhook_id: this.applicationId } : {}),
    } as APIMessage;
  }
}

export class PermissionHiddenError extends Error {
  constructor(command: string) {
    super(`fake-discord: /${command} is not available to this member (default_member_permissions)`);
    this.name = 'PermissionHiddenError';
  }
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** JSON body or multipart form-data (payload_json + files[n]), as discord.js sends them. */
async function parsePayload(req: http.IncomingMessage, body: Buffer): Promise<{ payload: Record<string, unknown>; files: UploadedFile[] }> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('multipart/form-data')) {
    return { payload: body.length ? (JSON.parse(body.toString()) as Record<string, unknown>) : {}, files: [] };
  }
  const form = await new Response(new Uint8Array(body), { headers: { 'content-type': type } }).formData();
  const payload = JSON.parse(String(form.get('payload_json') ?? '{}')) as Record<string, unknown>;
  const files: UploadedFile[] = [];
  for (const [name, value] of form.entries()) {
    if (!/^files\[\d+\]$/.test(name) || typeof value === 'string') continue;
    files.push({ name: value.name, contentType: value.type, bytes: new Uint8Array(await value.arrayBuffer()) });
  }
  return { payload, files };
}
