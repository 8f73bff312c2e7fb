// Dispatches interactions to commands and buttons. Every failure ends here: a UserFacingError is shown
// to the user ephemerally, anything else is logged and answered with a generic apology — never a crash.
import { DiscordAPIError, MessageFlags, type Interaction, type RepliableInteraction } from 'discord.js';
import type { BotCommand, BotContext } from './context.js';
import { UserFacingError } from './errors.js';
import { handleButton } from './buttons.js';
import { BUTTON_PREFIX } from './messages.js';

const ALREADY_ACKNOWLEDGED = 40060;
const UNKNOWN_INTERACTION = 10062;

export class InteractionRouter {
  private accepting = true;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly commands: Map<string, BotCommand>,
    private readonly ctx: BotContext,
  ) {}

  /** Called by the client listener; never rejects. */
  handle(interaction: Interaction): void {
    const p = this.route(interaction)
      .catch((err) => this.fail(interaction, err))
      .catch((err) => this.ctx.log(`could not report an error to the user: ${(err as Error).message}`))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Stop taking new commands (shutdown), and wait for the ones being handled. */
  async drain(): Promise<void> {
    this.accepting = false;
    await Promise.allSettled([...this.inFlight]);
  }

  private async route(interaction: Interaction): Promise<void> {
    if (interaction.isChatInputCommand()) {
      if (!this.accepting) throw new UserFacingError("I'm restarting — please try again in a minute.");
      const cmd = this.commands.get(interaction.commandName);
      if (!cmd) throw new UserFacingError('I no longer know this command.');
      await cmd.execute(interaction, this.ctx);
    } else if (interaction.isButton() && interaction.customId.startsWith(`${BUTTON_PREFIX}:`)) {
      if (!this.accepting) throw new UserFacingError("I'm restarting — please try again in a minute.");
      await handleButton(interaction, this.ctx);
    }
  }

  private async fail(interaction: Interaction, err: unknown): Promise<void> {
    if (err instanceof DiscordAPIError && (err.code === ALREADY_ACKNOWLEDGED || err.code === UNKNOWN_INTERACTION)) {
      // A duplicate delivery (already acknowledged elsewhere) or one we were too late for: nobody to answer.
      this.ctx.log(`interaction ${interaction.id} could not be acknowledged: ${err.message}`);
      return;
    }
    const userFacing = err instanceof UserFacingError;
    if (!userFacing) this.ctx.log(`interaction ${interaction.id} failed: ${(err as Error)?.stack ?? String(err)}`);
    if (!interaction.isRepliable()) return;
    const content = userFacing ? (err as Error).message : 'Sorry — something went wrong on my side. Please try again.';
    await replyEphemeral(interaction, content);
  }
}

/** An ephemeral answer whatever state the interaction is in (not yet answered, deferred publicly, …). */
export async function replyEphemeral(interaction: RepliableInteraction, content: string): Promise<void> {
  if (!interaction.deferred && !interaction.replied) {
    await interaction.reply({ content, flags: MessageFlags.Ephemeral });
    return;
  }
  if (interaction.deferred && !interaction.ephemeral) {
    // The public "thinking…" placeholder would otherwise stay forever; replace it by a private note.
    await interaction.deleteReply().catch(() => {});
    await interaction.followUp({ content, flags: MessageFlags.Ephemeral });
    return;
  }
  await interaction.editReply({ content });
}
