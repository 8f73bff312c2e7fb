// deploy-commands against the fake Discord: what is registered where, with which permissions.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { FakeDiscord } from './support/fake-discord.js';
import { deployCommands } from '../src/bot/deploy-commands.js';
import { ConfigError } from '../src/config.js';

const fake = new FakeDiscord();
beforeAll(() => fake.start());
afterAll(() => fake.stop());

const base = () => ({ token: fake.token, applicationId: fake.applicationId, apiBase: fake.apiBase, operatorGuildId: fake.guildId });
const registered = () => [...fake.commands.values()].map((c) => ({ name: c.name, guild: c.guildId, perms: c.default_member_permissions ?? null })).sort((a, b) => a.name.localeCompare(b.name));

describe('deploy-commands', () => {
  it('registers /compose, /styles and /help globally and /admin only in the operator guild, for Administrators', async () => {
    await deployCommands(base());
    expect(registered()).toEqual([
      { name: 'admin', guild: fake.guildId, perms: '8' },
      { name: 'compose', guild: null, perms: null },
      { name: 'help', guild: null, perms: null },
      { name: 'styles', guild: null, perms: null },
    ]);
    const compose = [...fake.commands.values()].find((c) => c.name === 'compose')!.body as { options: Array<{ name: string; required?: boolean; choices?: Array<{ value: string }>; min_value?: number; max_value?: number }> };
    const style = compose.options.find((o) => o.name === 'style')!;
    expect(style.required).toBe(true);
    expect(style.choices!.map((c) => c.value)).toEqual(['baroque', 'romantic', 'vanguard']);
    expect(compose.options.find((o) => o.name === 'seconds')).toMatchObject({ min_value: 10, max_value: 120 });
    expect(compose.options.find((o) => o.name === 'candidates')).toMatchObject({ min_value: 1, max_value: 4 });
  });

  it('--guild puts everything in the operator guild (instant, for development) and leaves global commands alone', async () => {
    fake.commands.clear();
    await deployCommands({ ...base(), guildOnly: true });
    expect(registered().map((c) => [c.name, c.guild])).toEqual([
      ['admin', fake.guildId],
      ['compose', fake.guildId],
      ['help', fake.guildId],
      ['styles', fake.guildId],
    ]);
  });

  it('refuses to register /admin without an operator guild', async () => {
    await expect(deployCommands({ ...base(), operatorGuildId: null })).rejects.toBeInstanceOf(ConfigError);
  });
});
