// /styles — the available styles, their composers and what we know about each model.
import { EmbedBuilder, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import { loadModelCard, type ModelCard } from '../src/bot/styles.js';

export const scope = 'global';

export const data = new SlashCommandBuilder().setName('styles').setDescription('The styles I can compose in, and how their models were trained');

function describeCard(card: ModelCard | null): string {
  if (!card) return 'No model card yet (model not trained or not installed).';
  const parts: string[] = [];
  if (typeof card.validationLoss === 'number') parts.push(`validation loss ${card.validationLoss.toFixed(3)}`);
  if (typeof card.trainSteps === 'number') parts.push(`${card.trainSteps} training steps`);
  if (typeof card.pieces === 'number') parts.push(`${card.pieces} pieces`);
  if (typeof card.dataset === 'string') parts.push(`data: ${card.dataset.slice(0, 200)}`);
  if (typeof card.trainedAt === 'string') parts.push(`trained ${card.trainedAt.slice(0, 10)}`);
  return parts.length ? parts.join(' · ') : 'Model card present, without details.';
}

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const embed = new EmbedBuilder().setTitle('Styles').setDescription('Use one with `/compose style:<name>`.');
  for (const s of ctx.styles) {
    const card = loadModelCard(ctx.config.modelsDir, s.name);
    embed.addFields({
      name: `${s.label} — \`${s.name}\``,
      value: `${s.composers.length ? `Composers: ${s.composers.join(', ')}\n` : ''}${describeCard(card)}`.slice(0, 1024),
    });
  }
  await interaction.reply({ embeds: [embed] });
}
