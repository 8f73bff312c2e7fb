// /help — how to use Maestro, privately: what to send, what comes back, the options and this server's limits.
import { EmbedBuilder, MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import { ABC_EXAMPLE } from '../src/music/abc.js';
import { fileSize } from '../src/bot/attachments.js';
import { LIMITS } from './compose.js';

export const scope = 'global';

export const data = new SlashCommandBuilder().setName('help').setDescription('How to use Maestro: what to send, what comes back, the options');

/** The help text for this bot's styles and limits (the embed fields; each stays under Discord's 1,024 characters). */
export function helpFields(ctx: Pick<BotContext, 'styles' | 'config'>): { name: string; value: string }[] {
  const styles = ctx.styles.map((s) => `\`${s.name}\``).join(', ');
  const { maxPerUser, rateLimitCount, rateWindowMs } = ctx.config.limits;
  const minutes = rateWindowMs / 60_000;
  const window = Number.isInteger(minutes) ? (minutes === 1 ? 'minute' : `${minutes} minutes`) : `${Math.round(rateWindowMs / 1000)} seconds`;
  return [
    {
      name: 'Continue your melody',
      value: [
        `\`/compose style:baroque midi:<file.mid>\` — attach a MIDI file (up to ${fileSize(ctx.config.maxMidiBytes)}); I continue it in the style and answer with the audio, the MIDI (your file with the continuation added as a track of its own) and a piano roll.`,
        `\`/compose style:romantic melody:${ABC_EXAMPLE}\` — or type the melody in ABC notation (a tune pasted from a folk-tune site works too).`,
        '`/compose style:vanguard` — or send nothing and I improvise; add `key:` to choose its key.',
        `Styles: ${styles}. \`/styles\` says who they are and how their models were trained.`,
      ].join('\n'),
    },
    {
      name: 'Options',
      value: [
        `\`seconds:\` ${LIMITS.seconds.min}–${LIMITS.seconds.max} (default ${LIMITS.seconds.default}; up to a quarter more, to end on the key's tonic)`,
        `\`candidates:\` 1–${LIMITS.candidates.max} versions to choose from, with buttons; the kept one can be regenerated or continued further`,
        `\`temperature:\` (default ${LIMITS.temperature.default}) higher is more adventurous; \`top_p:\` (default ${LIMITS.topP.default}) how much of the unlikely to allow`,
        `\`key_strength:\` 0–${LIMITS.keyStrength.max} how firmly to stay in your melody's key (0 = free); \`key:\` a key of your choice`,
        "`memory:False` the style's network alone, without its memory of real performances; `pedal:False` no sustain pedal",
        '`seed:` the same seed and settings give the same piece; every answer says the line that reproduces it',
      ].join('\n'),
    },
    {
      name: 'Limits',
      value: `${maxPerUser} piece${maxPerUser === 1 ? '' : 's'} in progress per person, ${rateLimitCount} commands per ${window}. The style models learnt from MAESTRO and ASAP performances (CC BY-NC-SA 4.0): for non-commercial use.`,
    },
  ];
}

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const embed = new EmbedBuilder()
    .setTitle('Maestro')
    .setDescription('I continue your melody in the style of a classical composer.')
    .addFields(helpFields(ctx));
  await interaction.reply({ embeds: [embed], flags: MessageFlags.Ephemeral });
}
