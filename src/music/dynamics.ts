/**
 * A continuation at the loudness of the melody it continues.
 *
 * The GIGA vocabulary has no velocity: decoding simulates it from the pitch as the reference does (pitch + 10, a
 * chord's notes pitch + 30), so a melody played softly was continued at 70–110 — a jump in loudness exactly where the
 * music should go on. The continuation's velocities are moved by how far the prompt's last notes, as played, lie from
 * the same simulation of them: a prompt played 40 below its simulated loudness is continued 40 below the
 * continuation's. The simulated shape (higher notes and chords louder) stays, and the move depends on the prompt
 * alone, so a longer continuation of the same prompt keeps its first notes as they were.
 */
import type { Note, NoteSequence } from './note-sequence.js';

/** How many of the prompt's last notes set the level: a few bars, so a crescendo's end counts more than its start. */
export const DYNAMICS_PROMPT_NOTES = 32;

/**
 * `played`: the prompt's notes with their own velocities; `simulated`: the same notes as decoding would voice them
 * (decode(encode(prompt))). Both are taken in onset order.
 */
export function atPromptDynamics(continuation: NoteSequence, played: readonly Note[], simulated: readonly Note[]): NoteSequence {
  if (played.length === 0 || simulated.length === 0) return continuation;
  const lastVelocities = (notes: readonly Note[]) => [...notes].sort((a, b) => a.startSec - b.startSec).slice(-DYNAMICS_PROMPT_NOTES).map((n) => n.velocity);
  const shift = median(lastVelocities(played)) - median(lastVelocities(simulated));
  const notes = continuation.notes.map((n) => ({ ...n, velocity: Math.min(127, Math.max(1, Math.round(n.velocity + shift))) }));
  return { ...continuation, notes };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
