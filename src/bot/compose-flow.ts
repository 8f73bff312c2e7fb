// From an interaction to a queued compose job: admission, acknowledgement, prompt download and
// validation, storage, enqueue. Used by /compose and by the Regenerate / Continue buttons.
import { MessageFlags, type ButtonInteraction, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from './context.js';
import { UserFacingError } from './errors.js';
import { queuedText, refusalText } from './messages.js';
import { downloadAttachment, melodyPrompt, parsePromptMidi, type AttachmentRef } from './attachments.js';
import { jobIdFor, type ComposeJobData, type ComposeSettings, type ReplyTarget } from '../queue/jobs.js';

type Acknowledgeable = ChatInputCommandInteraction | ButtonInteraction;

export interface ComposeRequestInput {
  settings: ComposeSettings;
  attachment: AttachmentRef | null;
  /** A melody typed in ABC notation instead of an attachment. */
  melody: string | null;
  /** An already stored prompt (regenerate / continue). */
  promptKey: string | null;
  promptName: string | null;
  /** As ComposeJobData.promptDeclaredKey, for a stored prompt (a typed melody's comes with it). */
  promptDeclaredKey?: string;
  /** As ComposeJobData.promptText, for a stored prompt that was typed. */
  promptText?: string;
  origin: ComposeJobData['origin'];
}

export function replyTarget(interaction: Acknowledgeable, ctx: BotContext): ReplyTarget {
  return {
    applicationId: interaction.applicationId,
    interactionId: interaction.id,
    token: interaction.token,
    channelId: interaction.channelId!,
    userId: interaction.user.id,
    receivedAt: ctx.now(),
    attachmentSizeLimit: interaction.attachmentSizeLimit ?? 10 * 1024 * 1024,
  };
}

/** Waiting position (1 = next) of a job in the compose queue, or null if it is no longer waiting. */
export async function queuePosition(ctx: BotContext, jobId: string): Promise<number | null> {
  const waiting = await ctx.queues.compose.getWaiting(0, -1);
  // getWaiting lists newest first; workers take from the other end.
  const idx = waiting.findIndex((j) => j.id === jobId);
  return idx < 0 ? null : waiting.length - idx;
}

export async function startCompose(interaction: Acknowledgeable, ctx: BotContext, input: ComposeRequestInput): Promise<void> {
  const target = replyTarget(interaction, ctx);
  const jobId = jobIdFor(interaction.id);

  let decision;
  try {
    decision = await ctx.admission.admit(target.userId, jobId);
  } catch (err) {
    ctx.log(`admission failed (Redis?): ${(err as Error).message}`);
    throw new UserFacingError("I can't reach my job queue right now — please try again in a minute.");
  }
  if (decision === 'duplicate') {
    // Discord delivered this interaction twice; the first delivery owns the job and the reply.
    ctx.log(`duplicate delivery of interaction ${interaction.id} ignored`);
    return;
  }
  if (decision !== 'ok') {
    await interaction.reply({ content: refusalText(decision, ctx.config.limits), flags: MessageFlags.Ephemeral });
    return;
  }

  let queued = false;
  try {
    // Acknowledge first: downloading and validating can take longer than Discord's 3 s deadline.
    await interaction.deferReply();
    let promptKey = input.promptKey;
    let promptName = input.promptName;
    let promptDeclaredKey = input.promptDeclaredKey;
    let promptText = input.promptText;
    if (input.attachment) {
      const bytes = await downloadAttachment(input.attachment, { allowedHosts: ctx.config.cdnHosts, maxBytes: ctx.config.maxMidiBytes });
      parsePromptMidi(bytes, input.attachment.name, ctx.config.maxMidiBytes);
      promptKey = await ctx.store.put(`prompts/${jobId}.mid`, bytes);
      promptName = input.attachment.name;
    } else if (input.melody !== null) {
      const melody = melodyPrompt(input.melody, ctx.config.maxMidiBytes);
      promptKey = await ctx.store.put(`prompts/${jobId}.mid`, melody.bytes);
      promptName = melody.name;
      promptDeclaredKey = melody.key;
      promptText = input.melody;
    }
    const data: ComposeJobData = { target, settings: input.settings, promptKey, promptName, ...(promptDeclaredKey ? { promptDeclaredKey } : {}), ...(promptText ? { promptText } : {}), origin: input.origin };
    await ctx.queues.compose
      .add('compose', data, {
        jobId,
        attempts: ctx.config.limits.attempts,
        backoff: { type: 'exponential', delay: ctx.config.limits.backoffMs },
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      })
      .catch((err: Error) => {
        ctx.log(`enqueue failed (Redis?): ${err.message}`);
        throw new UserFacingError("I can't reach my job queue right now — please try again in a minute.");
      });
    queued = true;
    ctx.progress.track(jobId, target);
    const position = await queuePosition(ctx, jobId);
    await ctx.progress.post(jobId, queuedText(position));
  } catch (err) {
    if (!queued) await ctx.admission.release(target.userId, jobId);
    throw err;
  }
}

/** Validated numeric options; Discord enforces the ranges too, but payloads are input like any other. */
export function checkRange(name: string, value: number, min: number, max: number, integer: boolean): number {
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new UserFacingError(`\`${name}\` must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}.`);
  }
  return value;
}
