// Buttons under a result: keep one of several candidates, regenerate it, or continue it further.
import { MessageFlags, type ButtonInteraction } from 'discord.js';
import type { BotContext } from './context.js';
import { UserFacingError } from './errors.js';
import { parseButtonId } from './messages.js';
import { composeMessage } from './delivery.js';
import { startCompose } from './compose-flow.js';
import type { ComposeManifest } from '../queue/jobs.js';

async function loadManifest(ctx: BotContext, jobId: string): Promise<ComposeManifest> {
  try {
    return await ctx.store.getJson<ComposeManifest>(`results/${jobId}/manifest.json`);
  } catch {
    throw new UserFacingError('That result is no longer available — please run /compose again.');
  }
}

export async function handleButton(interaction: ButtonInteraction, ctx: BotContext): Promise<void> {
  const parsed = parseButtonId(interaction.customId);
  if (!parsed) throw new UserFacingError('That button is not mine or is out of date.');
  const manifest = await loadManifest(ctx, parsed.jobId);
  const candidate = manifest.candidates.find((c) => c.index === parsed.index);
  if (!candidate) throw new UserFacingError('That version no longer exists.');

  switch (parsed.action) {
    case 'pick': {
      // Acknowledge first: the files are uploaded with the edit, which may take longer than 3 s on a slow link.
      await interaction.deferUpdate();
      try {
        const msg = await composeMessage(ctx, manifest, candidate.index, interaction.attachmentSizeLimit ?? 10 * 1024 * 1024);
        await interaction.editReply({
          content: msg.content,
          components: msg.components as never,
          files: (msg.files ?? []).map((f) => ({ attachment: Buffer.from(f.data), name: f.name })),
          attachments: [],
        });
      } catch (err) {
        // After deferUpdate the "reply" is the result message itself: answer privately, never delete it.
        ctx.log(`keeping candidate ${candidate.index} of ${manifest.jobId} failed: ${(err as Error).message}`);
        await interaction.followUp({ content: 'Sorry — I could not switch to that version. Please try again.', flags: MessageFlags.Ephemeral });
      }
      return;
    }
    case 'regen':
      return startCompose(interaction, ctx, {
        settings: { ...manifest.settings, seed: ctx.randomSeed(), candidates: 1 },
        attachment: null,
        melody: null,
        promptKey: manifest.promptKey,
        promptName: manifest.promptName,
        ...(manifest.promptDeclaredKey ? { promptDeclaredKey: manifest.promptDeclaredKey } : {}),
        ...(manifest.promptText ? { promptText: manifest.promptText } : {}),
        origin: 'regenerate',
      });
    case 'more':
      return startCompose(interaction, ctx, {
        settings: { ...manifest.settings, seed: ctx.randomSeed(), candidates: 1 },
        attachment: null,
        melody: null,
        promptKey: candidate.midiKey,
        promptName: `${manifest.promptName ?? 'improvisation'} (continued)`,
        ...(manifest.promptDeclaredKey ? { promptDeclaredKey: manifest.promptDeclaredKey } : {}),
        origin: 'continue',
      });
  }
}
