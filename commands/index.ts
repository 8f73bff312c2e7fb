// Every slash command, one module each (the discord.js guide's layout): `data`, `scope`, `execute`.
import type { BotCommand } from '../src/bot/context.js';
import * as compose from './compose.js';
import * as styles from './styles.js';
import * as admin from './admin.js';
import * as help from './help.js';

export const commands: BotCommand[] = [compose, styles, help, admin].map((m) => ({ data: m.data, scope: m.scope as BotCommand['scope'], execute: m.execute }));
