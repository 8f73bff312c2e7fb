// /compose — continue an uploaded melody (or improvise) in a style; the answer arrives as audio, MIDI and a piano roll.
import { SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import { checkRange, startCompose } from '../src/bot/compose-flow.js';
import { UserFacingError } from '../src/bot/errors.js';
import { defaultStylesFile, loadStyles } from '../src/bot/styles.js';
import { DEFAULT_KEY_STRENGTH, DEFAULT_SAMPLING, defaultKeyStrength, NAMED_KEY_STRENGTH } from '../src/model/sampling-defaults.js';
import { KEY_NAMES } from '../src/music/key.js';
import { ABC_EXAMPLE, MAX_ABC_CHARS } from '../src/music/abc.js';

export const scope = 'global';

export const LIMITS = {
  seconds: { min: 10, max: 120, default: 30 },
  // The served defaults, as the CLI and the music report use them.
  temperature: { min: 0.1, max: 2, default: DEFAULT_SAMPLING.temperature },
  topP: { min: 0.1, max: 1, default: DEFAULT_SAMPLING.topP },
  keyStrength: { min: 0, max: 5, default: DEFAULT_KEY_STRENGTH },
  candidates: { min: 1, max: 4, default: 1 },
  seedMax: 2_147_483_647,
} as const;

const styles = loadStyles(defaultStylesFile(), (m) => console.warn(`[commands] ${m}`));

export const data = new SlashCommandBuilder()
  .setName('compose')
  .setDescription('Continue your melody (or improvise) in a classical style')
  .addStringOption((o) =>
    o
      .setName('style')
      .setDescription('Whose style to compose in')
      .setRequired(true)
      .addChoices(...styles.map((s) => ({ name: s.label.slice(0, 100), value: s.name }))),
  )
  .addAttachmentOption((o) => o.setName('midi').setDescription('A MIDI file to continue (leave empty to improvise)'))
  .addStringOption((o) => o.setName('melody').setDescription(`Or type a melody to continue in ABC notation, e.g. ${ABC_EXAMPLE}`).setMaxLength(MAX_ABC_CHARS))
  .addIntegerOption((o) => o.setName('seconds').setDescription('Length of the continuation in seconds (up to a quarter more, to end on the key\'s tonic)').setMinValue(LIMITS.seconds.min).setMaxValue(LIMITS.seconds.max))
  .addNumberOption((o) => o.setName('temperature').setDescription(`Higher = a more adventurous melody (default ${DEFAULT_SAMPLING.temperature})`).setMinValue(LIMITS.temperature.min).setMaxValue(LIMITS.temperature.max))
  .addNumberOption((o) => o.setName('top_p').setDescription(`Nucleus sampling threshold for the melody (default ${DEFAULT_SAMPLING.topP})`).setMinValue(LIMITS.topP.min).setMaxValue(LIMITS.topP.max))
  .addIntegerOption((o) => o.setName('seed').setDescription('Random seed, to reproduce a result').setMinValue(0).setMaxValue(LIMITS.seedMax))
  .addIntegerOption((o) => o.setName('candidates').setDescription('How many versions to compose (1–4)').setMinValue(LIMITS.candidates.min).setMaxValue(LIMITS.candidates.max))
  .addNumberOption((o) => o.setName('key_strength').setDescription(`How firmly to stay in the key: 0 = free (default ${DEFAULT_KEY_STRENGTH}; ${NAMED_KEY_STRENGTH} when you name the key)`).setMinValue(LIMITS.keyStrength.min).setMaxValue(LIMITS.keyStrength.max))
  // 24 choices: Discord allows 25.
  .addStringOption((o) => o.setName('key').setDescription("Compose in this key instead of your melody's").addChoices(...KEY_NAMES.map((k) => ({ name: k, value: k }))))
  .addBooleanOption((o) => o.setName('memory').setDescription('Follow real performances of the style where they match (default on; off: nearer your key)'))
  .addBooleanOption((o) => o.setName('pedal').setDescription("Sustain pedal under the continuation, as the style's pianists use it (default on)"));

/** A key from the choices (Discord enforces them; a stale client or a hand-made request may not). */
function keyOption(value: string | null): { key?: string } {
  if (value === null) return {};
  if (!KEY_NAMES.includes(value)) throw new UserFacingError(`"${value}" is not one of the keys I know; pick one from the list, e.g. D minor.`);
  return { key: value };
}

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const style = interaction.options.getString('style', true);
  if (!ctx.styles.some((s) => s.name === style)) {
    throw new UserFacingError(`I don't know the style "${style}". Try one of: ${ctx.styles.map((s) => s.name).join(', ')}.`);
  }
  const num = (name: string, l: { min: number; max: number; default: number }, integer: boolean) => {
    const v = integer ? interaction.options.getInteger(name) : interaction.options.getNumber(name);
    return v === null ? l.default : checkRange(name, v, l.min, l.max, integer);
  };
  const seedOpt = interaction.options.getInteger('seed');
  const key = keyOption(interaction.options.getString('key'));
  const settings = {
    style,
    seconds: num('seconds', LIMITS.seconds, true),
    temperature: num('temperature', LIMITS.temperature, false),
    topP: num('top_p', LIMITS.topP, false),
    seed: seedOpt === null ? ctx.randomSeed() : checkRange('seed', seedOpt, 0, LIMITS.seedMax, true),
    candidates: num('candidates', LIMITS.candidates, true),
    keyStrength: num('key_strength', { ...LIMITS.keyStrength, default: defaultKeyStrength(key.key !== undefined) }, false),
    ...key,
    ...(interaction.options.getBoolean('memory') === false ? { memory: false } : {}),
    ...(interaction.options.getBoolean('pedal') === false ? { pedal: false } : {}),
  };
  const att = interaction.options.getAttachment('midi');
  const melody = interaction.options.getString('melody');
  if (att && melody !== null) throw new UserFacingError('Give me a MIDI file or a melody to continue, not both.');
  await startCompose(interaction, ctx, {
    settings,
    attachment: att ? { url: att.url, size: att.size, name: att.name } : null,
    melody,
    promptKey: null,
    promptName: null,
    origin: 'command',
  });
}
