// The fake Discord itself: it must refuse what Discord refuses, or the bot tests prove nothing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Client, DiscordAPIError, Events, GatewayIntentBits, MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import { FakeDiscord, ACK_DEADLINE_MS, TOKEN_LIFETIME_MS } from './support/fake-discord.js';

const fake = new FakeDiscord();
let client: Client;
const received: ChatInputCommandInteraction[] = [];

beforeAll(async () => {
  await fake.start();
  fake.commands.set('1', { id: '1', name: 'ping', body: {}, guildId: null });
  client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiBase } });
  client.on(Events.InteractionCreate, (i) => {
    if (i.isChatInputCommand()) received.push(i);
  });
  await new Promise<void>((resolve) => {
    client.once(Events.ClientReady, () => resolve());
    void client.login(fake.token);
  });
});

afterAll(async () => {
  await client.destroy();
  await fake.stop();
});

async function nextInteraction(): Promise<ChatInputCommandInteraction> {
  const before = received.length;
  fake.invokeCommand('ping');
  return fake.waitFor(() => received[before], 5_000, 'the interaction to reach the client');
}

async function apiError(p: Promise<unknown>): Promise<DiscordAPIError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(DiscordAPIError);
  return err as DiscordAPIError;
}

describe('fake Discord enforces Discord’s rules', () => {
  it('serves a real discord.js client: gateway login, guild, interaction round trip with a file', async () => {
    expect(client.guilds.cache.has(fake.guildId)).toBe(true);
    const i = await nextInteraction();
    await i.deferReply();
    await i.editReply({ content: 'done', files: [{ attachment: Buffer.from('abc'), name: 'a.txt' }] });
    const m = fake.originalMessage(i.id)!;
    expect(m.content).toBe('done');
    expect(m.files.map((f) => [f.name, Buffer.from(f.bytes).toString()])).toEqual([['a.txt', 'abc']]);
  });

  it('refuses an acknowledgement after 3 seconds', async () => {
    const i = await nextInteraction();
    fake.advanceClock(ACK_DEADLINE_MS + 1);
    expect((await apiError(i.deferReply())).code).toBe(10062);
  });

  it('refuses a second acknowledgement', async () => {
    const i = await nextInteraction();
    await i.reply({ content: 'one' });
    const again = await apiError(client.rest.post(`/interactions/${i.id}/${i.token}/callback`, { body: { type: 4, data: { content: 'two' } }, auth: false }));
    expect(again.code).toBe(40060);
  });

  it('expires the interaction token after 15 minutes', async () => {
    const i = await nextInteraction();
    await i.deferReply();
    fake.advanceClock(TOKEN_LIFETIME_MS + 1);
    expect((await apiError(i.editReply('late'))).code).toBe(50027);
  });

  it('refuses uploads over the interaction’s attachment size limit', async () => {
    const i = await nextInteraction();
    await i.deferReply({ flags: MessageFlags.Ephemeral });
    const big = Buffer.alloc(fake.attachmentSizeLimit + 1);
    expect((await apiError(i.editReply({ files: [{ attachment: big, name: 'big.ogg' }] }))).status).toBe(413);
  });

  it('records the Guilds-only identify and never the token', () => {
    expect(fake.identifies[0]).toEqual({ intents: GatewayIntentBits.Guilds, token: '[redacted]', shard: [0, 1] });
  });
});

describe('fake Discord message edits follow Discord’s attachment semantics', () => {
  it('keeps listed attachments, drops unlisted ones and adds uploads', async () => {
    const i = await nextInteraction();
    await i.deferReply();
    const first = await i.editReply({ files: [{ attachment: Buffer.from('1'), name: 'one.txt' }, { attachment: Buffer.from('2'), name: 'two.txt' }] });
    const msg = fake.originalMessage(i.id)!;
    expect(msg.files.map((f) => f.name)).toEqual(['one.txt', 'two.txt']);
    await i.editReply({ content: 'text only' });
    expect(msg.files.map((f) => f.name)).toEqual(['one.txt', 'two.txt']);
    const keep = first.attachments.find((a) => a.name === 'two.txt')!;
    await i.editReply({ attachments: [keep], files: [{ attachment: Buffer.from('3'), name: 'three.txt' }] });
    expect(msg.files.map((f) => f.name)).toEqual(['two.txt', 'three.txt']);
    await i.editReply({ attachments: [] });
    expect(msg.files).toEqual([]);
  });
});

describe('fake Discord requires sharding as Discord does', () => {
  // Two guilds at most one per session: Discord routes each guild to shard (guild_id >> 22) % num_shards.
  async function twoGuildFake(): Promise<{ fake: FakeDiscord; second: string }> {
    const f = new FakeDiscord();
    f.maxGuildsPerShard = 1;
    f.maxConcurrency = 2;
    const second = f.addGuild({ shard: 1, numShards: 2 });
    await f.start();
    return { fake: f, second };
  }

  it('refuses an unsharded login with "Sharding required" once a session would hold too many guilds', async () => {
    const { fake: f } = await twoGuildFake();
    const c = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: f.apiBase } });
    c.on(Events.ShardError, () => {});
    try {
      await expect(c.login(f.token)).rejects.toThrow(/Sharding is required/);
      expect(f.shards).toEqual([]);
    } finally {
      await c.destroy();
      await f.stop();
    }
  });

  it('recommends enough shards, gives each shard its own guilds and routes interactions by guild', async () => {
    const { fake: f, second } = await twoGuildFake();
    const c = new Client({ intents: [GatewayIntentBits.Guilds], shards: 'auto', rest: { api: f.apiBase } });
    const seen: Array<[string | null, number]> = [];
    c.on(Events.InteractionCreate, (i) => void seen.push([i.guildId, c.ws.shards.findKey((s) => s === i.guild?.shard) ?? -1]));
    f.commands.set('1', { id: '1', name: 'ping', body: {}, guildId: null });
    try {
      await new Promise<void>((resolve) => {
        c.once(Events.ClientReady, () => resolve());
        void c.login(f.token);
      });
      expect(f.identifies.map((x) => x.shard)).toEqual([[0, 2], [1, 2]]);
      expect([...c.guilds.cache.keys()].sort()).toEqual([f.guildId, second].sort());
      expect(c.guilds.cache.get(second)!.shardId).toBe(1);
      expect(c.guilds.cache.get(f.guildId)!.shardId).toBe(0);
      f.invokeCommand('ping', { guildId: second });
      f.invokeCommand('ping');
      await f.waitFor(() => seen.length === 2, 5_000, 'both interactions');
      expect(seen).toEqual([[second, 1], [f.guildId, 0]]);
    } finally {
      await c.destroy();
      await f.stop();
    }
  });
});
