// /admin — dataset rebuilds, fine-tunes (and stopping one), status and model promotion, for the operator only.
// Registered only in the operator's guild with Administrator as default permission, and checked
// here again against the owner allowlist (server admins are not necessarily the bot's operators).
import { MessageFlags, PermissionFlagsBits, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import { UserFacingError } from '../src/bot/errors.js';
import { replyTarget } from '../src/bot/compose-flow.js';
import { defaultStylesFile, loadStyles } from '../src/bot/styles.js';
import { jobIdFor, type JobProgress, type TrainingAction, type TrainingJobData } from '../src/queue/jobs.js';
import { describeProgress } from '../src/bot/progress.js';
import { requestTrainingStop } from '../src/queue/training-stop.js';

export const scope = 'operator';

const styles = loadStyles(defaultStylesFile());
const styleChoices = styles.map((s) => ({ name: s.label.slice(0, 100), value: s.name }));

export const data = new SlashCommandBuilder()
  .setName('admin')
  .setDescription('Operator tools: datasets, training, models')
  .setDefaultMemberPermissions(PermissionFlagsBits.Administrator)
  .addSubcommand((s) =>
    s
      .setName('dataset-rebuild')
      .setDescription('Rebuild the training dataset(s)')
      .addStringOption((o) => o.setName('style').setDescription('Only this style').addChoices(...styleChoices)),
  )
  .addSubcommand((s) =>
    s
      .setName('train')
      .setDescription('Fine-tune a style model')
      .addStringOption((o) => o.setName('style').setDescription('Style to train').setRequired(true).addChoices(...styleChoices))
      .addIntegerOption((o) => o.setName('steps').setDescription('Training steps').setMinValue(1).setMaxValue(1_000_000)),
  )
  .addSubcommand((s) => s.setName('status').setDescription('Queues, workers and running jobs'))
  .addSubcommand((s) => s.setName('stop').setDescription('Stop the running fine-tune: it checkpoints and keeps the model so far'))
  .addSubcommand((s) => s.setName('promote').setDescription('Make the latest trained model the live one').addStringOption((o) => o.setName('style').setDescription('Style').setRequired(true).addChoices(...styleChoices)))
  .addSubcommand((s) => s.setName('rollback').setDescription('Go back to the previous live model').addStringOption((o) => o.setName('style').setDescription('Style').setRequired(true).addChoices(...styleChoices)));

export function isOperator(interaction: ChatInputCommandInteraction, ctx: BotContext): boolean {
  return interaction.guildId !== null && interaction.guildId === ctx.config.operatorGuildId && ctx.config.ownerUserIds.includes(interaction.user.id);
}

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  if (!isOperator(interaction, ctx)) {
    ctx.log(`refused /admin from user ${interaction.user.id}`);
    throw new UserFacingError('Only the bot operator can use /admin.');
  }
  const sub = interaction.options.getSubcommand(true);
  if (sub === 'status') return status(interaction, ctx);
  if (sub === 'stop') return stopTraining(interaction, ctx);
  const style = interaction.options.getString('style');
  if (style !== null && !ctx.styles.some((s) => s.name === style)) throw new UserFacingError(`Unknown style "${style}".`);
  const data: TrainingJobData = {
    action: sub as TrainingAction,
    style,
    steps: interaction.options.getInteger('steps'),
    target: replyTarget(interaction, ctx),
  };
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  const jobId = jobIdFor(interaction.id);
  // Training is expensive and not idempotent mid-run: no automatic retries; the admin decides.
  await ctx.queues.training.add(sub, data, { jobId, attempts: 1, removeOnComplete: { age: 7 * 24 * 3600 }, removeOnFail: { age: 30 * 24 * 3600 } });
  ctx.progress.track(jobId, data.target);
  const waiting = await ctx.queues.training.getWaitingCount();
  await ctx.progress.post(jobId, `⏳ \`${sub}${style ? ` ${style}` : ''}\` queued (${waiting} waiting in the training queue). Progress will appear here; runs longer than 14 minutes report in this channel.`);
}

/**
 * Asks the running fine-tune(s) to stop (src/queue/training-stop.ts): each finishes its step, checkpoints, saves the
 * model so far and reports in its own progress message, where /admin train was given.
 */
async function stopTraining(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const running = (await ctx.queues.training.getActive()).filter((j) => j.name === 'train' && j.id);
  if (running.length === 0) {
    await interaction.reply({ content: 'Nothing is training right now.', flags: MessageFlags.Ephemeral });
    return;
  }
  await Promise.all(running.map((j) => requestTrainingStop(ctx.commandRedis, ctx.config.redis.prefix, j.id!)));
  const runs = running.map((j) => `\`train ${(j.data as TrainingJobData).style}\``).join(', ');
  await interaction.reply({ content: `Asked ${runs} to stop: it finishes its step, saves a checkpoint and the model so far, and says so where it was started.`, flags: MessageFlags.Ephemeral });
}

async function status(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const [c, t, cw, tw, active] = await Promise.all([
    ctx.queues.compose.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed'),
    ctx.queues.training.getJobCounts('waiting', 'active', 'failed', 'completed'),
    ctx.queues.compose.getWorkers(),
    ctx.queues.training.getWorkers(),
    ctx.queues.training.getActive(0, 5),
  ]);
  const fmt = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ');
  const lines = [
    `**Compose queue**: ${fmt(c)} — ${cw.length} worker connection(s)`,
    `**Training queue**: ${fmt(t)} — ${tw.length} worker connection(s)`,
    ...active.map((j) => {
      const d = j.data as TrainingJobData;
      const label = `\`${j.name}${d.style ? ` ${d.style}` : ''}\``;
      const p = j.progress as Partial<JobProgress> | number;
      return `• ${typeof p === 'object' && p.stage ? describeProgress(p as JobProgress, label) : `${label}: started`}`;
    }),
  ];
  await interaction.reply({ content: lines.join('\n'), flags: MessageFlags.Ephemeral });
}
