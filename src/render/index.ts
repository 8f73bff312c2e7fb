/**
 * The audio side of Maestro: NoteSequence → PCM (FluidSynth) → Ogg Opus, plus a piano-roll PNG.
 * `renderOutputs` is what the compose CLI and the inference worker call for each candidate.
 */
import { placeAfterPrompt } from '../music/note-sequence.js';
import type { Note, NoteSequence } from '../music/note-sequence.js';
import { renderOggOpusOffThread } from './off-thread.js';
import type { OpusOptions } from './opus.js';
import { renderPianoRoll } from './piano-roll.js';

export { RenderError } from './errors.js';
export { renderToPcm, normalizePeak } from './render-pcm.js';
export type { Pcm, RenderOptions } from './render-pcm.js';
export { encodeOggOpus, encodeOggOpusWithInfo } from './opus.js';
export type { OpusOptions } from './opus.js';
export { renderToPcmOffThread, renderOggOpusOffThread, closeRenderWorker } from './off-thread.js';
export { renderPianoRoll } from './piano-roll.js';

export interface RenderOutputsOptions {
  /** SoundFont file (default soundfonts/piano.sf3). */
  soundFont?: string;
  /** Attachment limit for the .ogg (default 10 MiB). */
  maxBytes?: number;
  /** What the audio contains: the prompt followed by the continuation (default) or the continuation alone. */
  audio?: 'full' | 'continuation';
  /** How much of the prompt leads into the continuation, in the audio and the picture (default LEAD_IN_SEC). */
  leadInSec?: number;
}

/**
 * The audio and the piano roll begin at most this long before the prompt's last note: someone who uploads a whole
 * piece wants to hear where Maestro takes it, not the piece again first (the MIDI keeps all of it).
 */
export const LEAD_IN_SEC = 30;

/**
 * The placed prompt and continuation from `leadInSec` before the prompt's last onset on, moved to start at 0: prompt
 * notes that start earlier are left out, pedal spans clipped. `fromSec` is where the excerpt starts on the prompt's
 * timeline (0: the whole prompt).
 */
export function fromLeadIn(prompt: NoteSequence | null | undefined, full: NoteSequence, added: NoteSequence, leadInSec: number): { prompt: NoteSequence | null; full: NoteSequence; added: NoteSequence; fromSec: number } {
  if (!prompt || prompt.notes.length === 0) return { prompt: null, full, added, fromSec: 0 };
  const onsets = prompt.notes.map((n) => n.startSec);
  const cut = Math.max(...onsets) - leadInSec;
  if (!(cut > Math.min(...onsets))) return { prompt, full, added, fromSec: 0 };
  const moveNotes = (notes: readonly Note[]) => notes.filter((n) => n.startSec >= cut).map((n) => ({ ...n, startSec: n.startSec - cut, endSec: n.endSec - cut }));
  const movePedals = (seq: NoteSequence) => seq.pedals.filter((p) => p.endSec > cut).map((p) => ({ startSec: Math.max(0, p.startSec - cut), endSec: p.endSec - cut }));
  const move = (seq: NoteSequence): NoteSequence => ({ ...seq, notes: moveNotes(seq.notes), pedals: movePedals(seq) });
  return { prompt: move(prompt), full: move(full), added: move(added), fromSec: cut };
}

const noteKey = (n: Note) => `${n.pitch}@${Math.round(n.startSec * 1000)}`;

/**
 * Puts prompt and continuation on one timeline. `continuation` may be either the continuation on its
 * own clock (0 = the prompt's last onset, as compose() decodes it) or already the whole piece
 * (prompt + continuation, ComposeCandidate.full); the latter is recognised by containing every prompt note.
 */
export function placeContinuation(prompt: NoteSequence | null | undefined, continuation: NoteSequence): { full: NoteSequence; added: NoteSequence } {
  if (!prompt || prompt.notes.length === 0) return { full: continuation, added: continuation };
  const promptKeys = new Set(prompt.notes.map(noteKey));
  const contKeys = new Set(continuation.notes.map(noteKey));
  if ([...promptKeys].every((k) => contKeys.has(k))) {
    const added = continuation.notes.filter((n) => !promptKeys.has(noteKey(n)));
    return { full: continuation, added: { ...continuation, notes: added, pedals: [] } };
  }
  return placeAfterPrompt(prompt, continuation);
}

/**
 * The two attachments for one candidate: an Ogg Opus recording (rendered and encoded on the render
 * worker thread) and a piano-roll PNG with the prompt and Maestro's notes in different colours.
 */
export async function renderOutputs(
  prompt: NoteSequence | null | undefined,
  continuation: NoteSequence,
  caption: string,
  opts: RenderOutputsOptions = {},
): Promise<{ ogg: Uint8Array; png: Uint8Array }> {
  const placed = placeContinuation(prompt, continuation);
  const { prompt: leadIn, full, added, fromSec } = fromLeadIn(prompt, placed.full, placed.added, opts.leadInSec ?? LEAD_IN_SEC);
  const audioSeq = opts.audio === 'continuation' ? added : full;
  const opus: OpusOptions = { ...(opts.maxBytes ? { maxBytes: opts.maxBytes } : {}), tags: { TITLE: caption, ENCODER: 'maestro' } };
  const [audio, png] = await Promise.all([
    renderOggOpusOffThread(audioSeq, opts.soundFont ? { soundFont: opts.soundFont } : {}, opus),
    renderPianoRoll({ prompt: leadIn, continuation: added, caption, ...(fromSec > 0 ? { promptFromSec: fromSec } : {}) }),
  ]);
  return { ogg: audio.bytes, png };
}
