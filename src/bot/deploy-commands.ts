// Registers the slash commands with Discord. Run once after changing commands (never on every start):
//   npm run deploy-commands            # /compose and /styles globally, /admin in OPERATOR_GUILD_ID
//   npm run deploy-commands -- --guild # everything in OPERATOR_GUILD_ID only (instant, for development)
import { pathToFileURL } from 'node:url';
import { REST, Routes } from 'discord.js';
import { ConfigError, loadDeployConfig, loadDotenv } from '../config.js';
import { commands } from '../../commands/index.js';

export interface DeployOptions {
  token: string;
  applicationId: string;
  apiBase: string;
  operatorGuildId: string | null;
  /** Register the global commands in the operator guild instead of globally. */
  guildOnly?: boolean;
}

export async function deployCommands(opts: DeployOptions): Promise<{ global: string[]; guild: string[] }> {
  const rest = new REST({ api: opts.apiBase }).setToken(opts.token);
  const everywhere = commands.filter((c) => c.scope === 'global').map((c) => c.data.toJSON());
  const operatorOnly = commands.filter((c) => c.scope === 'operator').map((c) => c.data.toJSON());
  if ((opts.guildOnly || operatorOnly.length) && !opts.operatorGuildId) {
    throw new ConfigError(['OPERATOR_GUILD_ID is missing: /admin is registered only in the operator\'s server']);
  }
  const guildSet = opts.guildOnly ? [...everywhere, ...operatorOnly] : operatorOnly;
  const globalSet = opts.guildOnly ? [] : everywhere;
  if (!opts.guildOnly) await rest.put(Routes.applicationCommands(opts.applicationId), { body: globalSet });
  if (opts.operatorGuildId) await rest.put(Routes.applicationGuildCommands(opts.applicationId, opts.operatorGuildId), { body: guildSet });
  return { global: globalSet.map((c) => c.name), guild: guildSet.map((c) => c.name) };
}

async function main(argv: string[]): Promise<number> {
  await loadDotenv();
  try {
    const cfg = loadDeployConfig();
    const r = await deployCommands({ ...cfg, guildOnly: argv.includes('--guild') });
    console.log(`registered globally: ${r.global.join(', ') || '(none)'}; in the operator guild: ${r.guild.join(', ') || '(none)'}`);
    if (r.global.length) console.log('Global commands can take a while to appear in clients.');
    return 0;
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : `deploy failed: ${(err as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
