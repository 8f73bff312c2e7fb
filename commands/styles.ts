// /styles — the available styles, their composers and what we know about each model.
import { EmbedBuilder, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import { loadMemoryFit, loadModelCard, loadPerformanceFit, type ModelCard } from '../src/bot/styles.js';

export const scope = 'global';

export const data = new SlashCommandBuilder().setName('styles').setDescription('The styles I can compose in, and how their models were trained');

function describeCard(card: ModelCard | null, memory: ReturnType<typeof loadMemoryFit> = null, performance: ReturnType<typeof loadPerformanceFit> = null): string {
  if (!card) return 'No model card yet (model not trained or not installed).';
  // card.json as written by `maestro train` (src/model/store.ts): metrics, data and training sections.
  const rec = (v: unknown) => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});
  const metrics = rec(card.metrics);
  const data = rec(card.data);
  const training = rec(card.training);
  const parts: string[] = [];
  if (typeof metrics.valLoss128 === 'number') parts.push(`validation loss ${metrics.valLoss128.toFixed(3)}`);
  if (typeof metrics.valAccuracy128 === 'number') parts.push(`accuracy ${(metrics.valAccuracy128 * 100).toFixed(1)} %`);
  if (typeof training.steps === 'number') parts.push(`${training.steps} steps`);
  if (Array.isArray(training.soupOf)) {
    // maestro soup, and with --base-weight a share of the base mixed back in
    const share = rec(training.baseMix).weight;
    parts.push(`average of ${training.soupOf.length} fine-tuning runs${typeof share === 'number' ? ` with ${Math.round(share * 100)} % of the base` : ''}`);
  }
  if (memory && typeof memory.notes === 'number') {
    // src/model/memory.ts: the style's training performances, mixed in where the music matches them
    const loss = typeof memory.valLoss === 'number' ? ` (validation loss ${memory.valLoss.toFixed(3)} with it)` : '';
    parts.push(`remembers ${memory.notes.toLocaleString('en-US')} notes of its training performances${loss}`);
  }
  if (performance) {
    // src/music/pedal.ts and dynamics.ts: what the tokens leave out, played as the style's performers play it
    const from = typeof performance.performances === 'number' ? ` of ${performance.performances} performances` : '';
    if (performance.pedal !== null) parts.push(performance.pedal ? `played with its pianists' pedal and dynamics${from}` : `played dry, as its pianists mostly play, with their dynamics${from}`);
  }
  if (typeof data.trainTokens === 'number') parts.push(`${data.trainTokens.toLocaleString('en-US')} training tokens`);
  if (typeof data.corpus === 'string') parts.push(`data: ${data.corpus.split('/').slice(-2).join('/')}`);
  if (typeof card.description === 'string') parts.push(card.description.slice(0, 120));
  return parts.length ? parts.join(' · ') : 'Model card present, without details.';
}

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const embed = new EmbedBuilder().setTitle('Styles').setDescription('Use one with `/compose style:<name>`.');
  for (const s of ctx.styles) {
    const card = loadModelCard(ctx.config.modelsDir, s.name);
    embed.addFields({
      name: `${s.label} — \`${s.name}\``,
      value: `${s.composers.length ? `Composers: ${s.composers.join(', ')}\n` : ''}${describeCard(card, loadMemoryFit(ctx.config.modelsDir, s.name), loadPerformanceFit(ctx.config.modelsDir, s.name))}`.slice(0, 1024),
    });
  }
  await interaction.reply({ embeds: [embed] });
}
