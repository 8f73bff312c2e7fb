/**
 * Validity of a generated continuation: did it decode, and is it music rather than a pathology — silence, one
 * note hammered, or a wall of notes no pianist could play. Thresholds are generous on purpose: they catch broken
 * outputs, not unusual music: measured on the classifier's ~2,200 real 30 s clips (tokenizer view), the densest
 * has 28.8 notes/s (99th percentile 14 baroque, 22 romantic, 27 vanguard) and the highest 95th-percentile
 * polyphony is 17; real pieces pause for a bar or two but not for 6 s inside 30 s.
 */
import type { Note } from '../music/note-sequence.js';

export const LIMITS = {
  /** Longest stretch with no sounding note, seconds. */
  maxSilenceSec: 6,
  /** Above this many notes per second of continuation it is a wall of notes (denser than any real clip). */
  maxNotesPerSec: 30,
  /** More simultaneous notes than any real clip sustains (real maximum 17). */
  maxPolyphonyP95: 20,
  /** With at least this many notes, ≤ 2 distinct pitches or one pitch over half the notes is a repeated note. */
  repeatMinNotes: 8,
  repeatMaxShare: 0.5,
} as const;

export type Pathology = 'no-notes' | 'silence' | 'repeated-note' | 'wall-of-notes';

export interface ValidityResult {
  decoded: boolean;
  valid: boolean;
  pathologies: Pathology[];
  notes: number;
  notesPerSec: number;
  pitchRange: number;
  /** Longest gap with no sounding note inside [0, requested seconds]. */
  longestSilenceSec: number;
  /** Share of [0, requested seconds] with no sounding note. */
  silentShare: number;
  distinctPitches: number;
  polyphonyP95: number;
}

/**
 * `notes` are the continuation's, timed from its start; `seconds` is how long it was asked to be. `capped`: its
 * generation was stopped at a note cap before that length, so the time after its last note is not silence.
 */
export function measureValidity(notes: readonly Note[] | undefined, seconds: number, opts: { capped?: boolean } = {}): ValidityResult {
  if (!notes) {
    return { decoded: false, valid: false, pathologies: [], notes: 0, notesPerSec: 0, pitchRange: 0, longestSilenceSec: seconds, silentShare: 1, distinctPitches: 0, polyphonyP95: 0 };
  }
  const span = Math.max(seconds, 1e-3);
  const pathologies: Pathology[] = [];
  if (notes.length === 0) pathologies.push('no-notes');

  const spans = [...notes].map((n) => [Math.max(0, n.startSec), Math.min(span, n.endSec)] as const).filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let cursor = 0;
  let longest = 0;
  let silent = 0;
  for (const [a, b] of spans) {
    if (a > cursor) {
      longest = Math.max(longest, a - cursor);
      silent += a - cursor;
    }
    cursor = Math.max(cursor, b);
  }
  if (!opts.capped && span > cursor) {
    longest = Math.max(longest, span - cursor);
    silent += span - cursor;
  }

  const step = 0.05;
  const bins = Math.ceil(span / step);
  const diff = new Int32Array(bins + 1);
  for (const [a, b] of spans) {
    diff[Math.floor(a / step)]++;
    diff[Math.min(bins, Math.ceil(b / step))]--;
  }
  const poly: number[] = [];
  for (let i = 0, c = 0; i < bins; i++) poly.push((c += diff[i]));
  poly.sort((x, y) => x - y);
  const polyphonyP95 = poly.length ? poly[Math.floor(0.95 * (poly.length - 1))] : 0;

  const counts = new Map<number, number>();
  for (const n of notes) counts.set(n.pitch, (counts.get(n.pitch) ?? 0) + 1);
  const topShare = notes.length ? Math.max(...counts.values()) / notes.length : 0;
  const pitches = notes.map((n) => n.pitch);
  const notesPerSec = notes.length / span;

  if (notes.length > 0 && longest > LIMITS.maxSilenceSec) pathologies.push('silence');
  if (notes.length >= LIMITS.repeatMinNotes && (counts.size <= 2 || topShare > LIMITS.repeatMaxShare)) pathologies.push('repeated-note');
  if (notesPerSec > LIMITS.maxNotesPerSec || polyphonyP95 > LIMITS.maxPolyphonyP95) pathologies.push('wall-of-notes');

  return {
    decoded: true,
    valid: pathologies.length === 0,
    pathologies,
    notes: notes.length,
    notesPerSec,
    pitchRange: pitches.length ? Math.max(...pitches) - Math.min(...pitches) : 0,
    longestSilenceSec: longest,
    silentShare: silent / span,
    distinctPitches: counts.size,
    polyphonyP95,
  };
}
