// The text and components of the bot's replies, kept apart from the plumbing so they read as a whole.
import { ActionRowBuilder, ButtonBuilder, ButtonStyle } from 'discord.js';
import type { AdmissionDecision } from '../queue/admission.js';
import type { ComposeManifest, ComposeSettings } from '../queue/jobs.js';
import type { StyleInfo } from './styles.js';

export function styleLabel(styles: StyleInfo[], name: string): string {
  const s = styles.find((x) => x.name === name);
  // Labels already name the composer ("Baroque (Bach)").
  return s ? s.label : name;
}

/** A typed melody longer than this is left out of the reproduce line (a reply holds 2,000 characters). */
export const MAX_REPRODUCED_MELODY = 400;

/** The /compose line that gives the same piece again; a typed `melody` is part of it (an uploaded file is attached anew). */
export function reproduceCommand(s: ComposeSettings, seed: number, melody?: string): string {
  // Candidates are sampled as one batch from one seed, so reproducing #2 needs the same candidate count.
  const batch = s.candidates > 1 ? ` candidates:${s.candidates}` : '';
  const memory = s.memory === false ? ' memory:False' : '';
  const pedal = s.pedal === false ? ' pedal:False' : '';
  const strength = s.keyStrength === undefined ? '' : ` key_strength:${s.keyStrength}`;
  const key = s.key === undefined ? '' : ` key:${s.key}`;
  // A backtick would end the reply's code span early.
  const typed = melody !== undefined && melody.length <= MAX_REPRODUCED_MELODY && !melody.includes('`') ? ` melody:${melody}` : '';
  return `/compose style:${s.style} seconds:${s.seconds} temperature:${s.temperature} top_p:${s.topP} seed:${seed}${batch}${memory}${pedal}${strength}${key}${typed}`;
}

/** The settings a reply states; `kept` is the key the continuation kept to, when it did (ComposeManifest.key). */
export function settingsLine(s: ComposeSettings, styles: StyleInfo[], kept?: string): string {
  const key = kept ? (s.key ? ` · in ${kept}` : ` · in your key, ${kept}`) : '';
  return `Style **${styleLabel(styles, s.style)}** · ${s.seconds} s · temperature ${s.temperature} · top-p ${s.topP}${key}${s.memory === false ? ' · without the style\'s memory' : ''}${s.pedal === false ? ' · without pedal' : ''}`;
}

export function queuedText(position: number | null, what = 'Your piece'): string {
  return position && position > 1 ? `⏳ ${what} is queued — position ${position}.` : `⏳ ${what} is queued — starting soon.`;
}

export function refusalText(decision: Exclude<AdmissionDecision, 'ok' | 'duplicate'>, limits: { maxPerUser: number; rateWindowMs: number }): string {
  switch (decision) {
    case 'rate':
      return `You're composing faster than I can keep up with — please wait a little (about ${Math.ceil(limits.rateWindowMs / 1000)} s) and try again.`;
    case 'user-full':
      return `You already have ${limits.maxPerUser} piece${limits.maxPerUser === 1 ? '' : 's'} in progress; please wait for one to finish.`;
    case 'full':
      return "I'm fully booked right now — the queue is full. Please try again in a few minutes.";
  }
}

export const BUTTON_PREFIX = 'mc';
export type ButtonAction = 'pick' | 'regen' | 'more';

export function buttonId(action: ButtonAction, jobId: string, index: number): string {
  return `${BUTTON_PREFIX}:${action}:${jobId}:${index}`;
}

export function parseButtonId(customId: string): { action: ButtonAction; jobId: string; index: number } | null {
  const m = /^mc:(pick|regen|more):([\w-]{1,80}):(\d)$/.exec(customId);
  return m ? { action: m[1] as ButtonAction, jobId: m[2], index: Number(m[3]) } : null;
}

export function pickButtons(manifest: ComposeManifest) {
  const row = new ActionRowBuilder<ButtonBuilder>();
  for (const c of manifest.candidates) {
    row.addComponents(new ButtonBuilder().setCustomId(buttonId('pick', manifest.jobId, c.index)).setLabel(`Keep #${c.index + 1}`).setStyle(ButtonStyle.Primary));
  }
  return [row.toJSON()];
}

export function followButtons(jobId: string, index: number) {
  const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(buttonId('regen', jobId, index)).setLabel('Regenerate').setEmoji('🔁').setStyle(ButtonStyle.Secondary),
    new ButtonBuilder().setCustomId(buttonId('more', jobId, index)).setLabel('Continue further').setEmoji('➡️').setStyle(ButtonStyle.Secondary),
  );
  return [row.toJSON()];
}

export function resultText(manifest: ComposeManifest, styles: StyleInfo[], chosen: number | null): string {
  const s = manifest.settings;
  const lines = [`🎶 ${manifest.promptName ? `Continuation of **${manifest.promptName}**` : 'An improvisation'} — ${settingsLine(s, styles, manifest.key)}`];
  const shown = chosen === null ? manifest.candidates : manifest.candidates.filter((c) => c.index === chosen);
  for (const c of shown) {
    const prefix = manifest.candidates.length > 1 ? `#${c.index + 1}: ` : '';
    lines.push(`${prefix}seed ${c.seed}, ${c.noteCount} notes, ${c.continuationSec.toFixed(1)} s — reproduce: \`${reproduceCommand(s, c.seed, manifest.promptText)}\``);
  }
  if (chosen === null && manifest.candidates.length > 1) lines.push('Listen, then keep the one you like to get its MIDI and more options.');
  return lines.join('\n');
}
