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
  // A style added after the base was pre-trained: the base had heard its validation pieces (maestro train's caveat).
  const seen = rec(data.seenInPretraining);
  if (Array.isArray(seen.files) && seen.files.length && typeof seen.of === 'number') parts.push(`optimistic: its base had heard ${seen.files.length} of its ${seen.of} validation files`);
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

/** Discord's limits on one embed: 1,024 characters a field value, 6,000 in all (and 25 fields: loadStyles keeps ≤ 25 styles). */
const MAX_FIELD_VALUE = 1024;
const EMBED_SIZE = 6000;
const TITLE = 'Styles';
const DESCRIPTION = 'Use one with `/compose style:<name>`.';

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const embed = new EmbedBuilder().setTitle(TITLE).setDescription(DESCRIPTION);
  const names = ctx.styles.map((s) => `${s.label} — \`${s.name}\``);
  // Many styles (an admin may add up to 25) share the embed's size rather than have Discord refuse it.
  const left = EMBED_SIZE - TITLE.length - DESCRIPTION.length - names.reduce((n, name) => n + name.length, 0);
  const perStyle = Math.min(MAX_FIELD_VALUE, Math.floor(left / Math.max(ctx.styles.length, 1)));
  ctx.styles.forEach((s, k) => {
    const card = loadModelCard(ctx.config.modelsDir, s.name);
    const value = `${s.composers.length ? `Composers: ${s.composers.join(', ')}\n` : ''}${describeCard(card, loadMemoryFit(ctx.config.modelsDir, s.name), loadPerformanceFit(ctx.config.modelsDir, s.name))}`;
    embed.addFields({ name: names[k]!, value: value.length > perStyle ? `${value.slice(0, perStyle - 1)}…` : value });
  });
  await interaction.reply({ embeds: [embed] });
}
