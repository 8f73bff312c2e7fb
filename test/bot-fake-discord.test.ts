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
    expect(fake.identifies[0]).toEqual({ intents: GatewayIntentBits.Guilds, token: '[redacted]' });
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
