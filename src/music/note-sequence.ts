/**
 * The one music type of the whole program. Every arrow of the pipeline converts to or from it:
 * MIDI bytes → NoteSequence → tokens → model → tokens → NoteSequence → MIDI → PCM → Opus.
 * Times are seconds of performance time (tempo already applied).
 */

export interface Note {
  /** MIDI pitch 0..127 (piano range 21..108). */
  pitch: number;
  /** MIDI velocity 1..127. */
  velocity: number;
  startSec: number;
  endSec: number;
}

/** A span during which the sustain pedal (CC 64 ≥ 64) is held. */
export interface PedalSpan {
  startSec: number;
  endSec: number;
}

export interface TempoChange {
  timeSec: number;
  bpm: number;
}

export interface SourceInfo {
  /** File name or description of where the music came from. */
  name?: string;
  /** Pulses per quarter note of the original file, if it came from MIDI. */
  ppq?: number;
}

export interface NoteSequence {
  /** Sorted by startSec, then by pitch descending (the tokenizer's order). */
  notes: Note[];
  pedals: PedalSpan[];
  tempos: TempoChange[];
  source: SourceInfo;
}

/** Total length in seconds: the last note's (or pedal's) end. */
export function durationSec(seq: NoteSequence): number {
  let end = 0;
  for (const n of seq.notes) end = Math.max(end, n.endSec);
  for (const p of seq.pedals) end = Math.max(end, p.endSec);
  return end;
}

/** Onset order used everywhere: by start time, then pitch descending (chords top-down, as TMIDIX). */
export function compareNotes(a: Note, b: Note): number {
  return a.startSec - b.startSec || b.pitch - a.pitch;
}

export function emptySequence(source: SourceInfo = {}): NoteSequence {
  return { notes: [], pedals: [], tempos: [{ timeSec: 0, bpm: 120 }], source };
}

/**
 * A continuation on its own clock (0 = the prompt's last onset, as compose() decodes it) placed after its prompt:
 * `added` is the continuation moved onto the prompt's timeline, `full` the prompt followed by it. Without a prompt
 * both are the continuation as it is.
 */
export function placeAfterPrompt(prompt: NoteSequence | null | undefined, continuation: NoteSequence): { full: NoteSequence; added: NoteSequence } {
  if (!prompt || prompt.notes.length === 0) return { full: continuation, added: continuation };
  const shift = Math.max(...prompt.notes.map((n) => n.startSec));
  const moved = <T extends { startSec: number; endSec: number }>(x: T): T => ({ ...x, startSec: x.startSec + shift, endSec: x.endSec + shift });
  const added: NoteSequence = { ...continuation, notes: continuation.notes.map(moved), pedals: continuation.pedals.map(moved) };
  const full: NoteSequence = {
    notes: [...prompt.notes, ...added.notes].sort(compareNotes),
    pedals: [...prompt.pedals, ...added.pedals].sort((a, b) => a.startSec - b.startSec),
    tempos: prompt.tempos,
    source: { ...prompt.source, name: `${prompt.source.name ?? 'prompt'} + maestro` },
  };
  return { full, added };
}
