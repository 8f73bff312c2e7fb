/**
 * A continuation's dynamics: how loud each note is played.
 *
 * The GIGA vocabulary has no velocity. Decoding simulates it as the reference does — pitch + 10, a chord's notes
 * pitch + 30 — which is a crude voicing (four octaves up is 48 louder) and at the wrong level: a melody played softly
 * was continued at 70–110, a jump in loudness exactly where the music should go on.
 *
 * Two things set a continuation's velocities here:
 * - **Shape** — which notes are louder than their neighbours. A style with a fitted dynamics model (`maestro
 *   performance`, training/performance-fit.ts) voices notes the way its performers do: a ridge regression per style
 *   on what the tokens say about a note — its register, its place in its chord (top, bottom, alone), whether it is the
 *   highest or lowest note around it, how dense and wide the music around it is, its duration and the gaps before
 *   and after it — predicting how far it lies from the loudness of the 32 notes before it. Held out on MAESTRO and
 *   ASAP performances it is 15–27 % nearer the performers' velocities than the simulation, which is itself further
 *   from them than one flat velocity. Without a model, the simulation's shape stays.
 * - **Expression** — the regression explains a fifth of how velocities vary (baroque; a tenth for romantic and
 *   vanguard): its mean alone is flatter than any performer (a spread of 5–5.5 where performers' is 11.5–17.7 within 20 s).
 *   What it leaves is drawn, from the candidate's seed, from an AR(1) process fitted to the performers' own residuals —
 *   slow swells and note-to-note variation in the proportions they have — so a continuation varies as much as a
 *   performance does, in the places the model cannot tell.
 * - **Level** — the whole continuation moves by how far the prompt's last notes, as played, lie from the same shape
 *   given to them: a prompt played 40 below it is continued 40 below. The move depends on the prompt alone, so a
 *   longer continuation of the same prompt keeps its first notes as they were. An improvisation takes the level the
 *   style's performers played at.
 */
import type { Note, NoteSequence } from './note-sequence.js';
import { mulberry32 } from '../util/rng.js';

/** How many of the prompt's last notes set the level: a few bars, so a crescendo's end counts more than its start. */
export const DYNAMICS_PROMPT_NOTES = 32;

/** A style's dynamics: `weights` over `velocityFeatures`, predicting a note's velocity minus the level around it. */
export interface DynamicsModel {
  weights: number[];
  /** The median velocity of the style's performances: an improvisation's level. */
  level: number;
  /**
   * What the regression leaves unexplained, as performers leave it: an AR(1) process over the notes in order,
   * r_i = rho · r_(i−1) + sigma · ε_i. Absent: the regression's mean alone.
   */
  residual?: { rho: number; sigma: number };
}

export const VELOCITY_FEATURE_NAMES: readonly string[] = [
  'bias', 'pitch', 'pitch²', 'in a chord', 'chord size (log)', 'top of its chord', 'bottom of its chord',
  'pitch against the mean ±1 s', 'highest note ±0.25 s', 'lowest note ±0.25 s', 'pitch range ±1 s', 'notes ±1 s (log)',
  'duration (log)', 'gap before (log)', 'gap after (log)',
];

/**
 * One row per note, in `notes`' order (which must be by onset, chords top-down, as decoding gives them): what the
 * tokens say about each note and its surroundings.
 */
export function velocityFeatures(notes: readonly Note[]): number[][] {
  const onsets = notes.map((n) => n.startSec);
  const rows: number[][] = [];
  for (let i = 0; i < notes.length; i++) {
    const n = notes[i]!;
    let first = i;
    let last = i;
    while (first > 0 && onsets[first - 1] === onsets[i]) first--;
    while (last + 1 < notes.length && onsets[last + 1] === onsets[i]) last++;
    const size = last - first + 1;
    const around = (sec: number) => {
      let lo = i;
      let hi = i;
      while (lo > 0 && onsets[lo - 1]! > onsets[i]! - sec) lo--;
      while (hi + 1 < notes.length && onsets[hi + 1]! < onsets[i]! + sec) hi++;
      let sum = 0;
      let max = 0;
      let min = 128;
      for (let k = lo; k <= hi; k++) {
        sum += notes[k]!.pitch;
        max = Math.max(max, notes[k]!.pitch);
        min = Math.min(min, notes[k]!.pitch);
      }
      return { count: hi - lo + 1, mean: sum / (hi - lo + 1), max, min };
    };
    const wide = around(1);
    const near = around(0.25);
    const before = first > 0 ? onsets[i]! - onsets[first - 1]! : 2;
    const after = last + 1 < notes.length ? onsets[last + 1]! - onsets[i]! : 2;
    const p = (n.pitch - 60) / 24;
    rows.push([
      1, p, p * p, size > 1 ? 1 : 0, Math.log(size), i === first ? 1 : 0, i === last && size > 1 ? 1 : 0,
      (n.pitch - wide.mean) / 12, n.pitch === near.max ? 1 : 0, n.pitch === near.min ? 1 : 0, (wide.max - wide.min) / 24, Math.log(wide.count / 2),
      Math.log(0.03 + n.endSec - n.startSec), Math.log(0.02 + Math.min(before, 2)), Math.log(0.02 + Math.min(after, 2)),
    ]);
  }
  return rows;
}

/** The model's shape for `notes` (velocity relative to the level around them). */
export function velocityShape(model: DynamicsModel, notes: readonly Note[]): number[] {
  return velocityFeatures(notes).map((r) => r.reduce((s, v, j) => s + v * model.weights[j]!, 0));
}

/**
 * The continuation voiced and levelled. `played`: the prompt's notes the model was shown, with their own velocities;
 * `simulated`: the same notes as decoding gives them (decode(encode(played)): the tokens' resolution and timeline, the
 * reference's velocities). `model`: the style's dynamics, if it has one. Both prompt lists are taken in onset order.
 */
export function withDynamics(continuation: NoteSequence, played: readonly Note[], simulated: readonly Note[], model: DynamicsModel | null | undefined, seed: number): NoteSequence {
  if (!model) return atPromptDynamics(continuation, played, simulated);
  // The prompt's notes on the continuation's timeline (its last onset at 0), so the first new notes see what came before.
  const lastOnset = simulated.length > 0 ? Math.max(...simulated.map((n) => n.startSec)) : 0;
  const context = simulated.map((n) => ({ ...n, startSec: n.startSec - lastOnset, endSec: n.endSec - lastOnset }));
  const shape = velocityShape(model, [...context, ...continuation.notes]);
  const promptShape = shape.slice(0, context.length);
  const level =
    played.length > 0 && simulated.length > 0
      ? median(lastVelocities(played)) - median(promptShape.slice(-DYNAMICS_PROMPT_NOTES))
      : model.level;
  const expression = model.residual ? arProcess(model.residual, continuation.notes.length, seed) : [];
  const notes = continuation.notes.map((n, i) => ({ ...n, velocity: clampVelocity(shape[context.length + i]! + level + (expression[i] ?? 0)) }));
  return { ...continuation, notes };
}

/** n steps of the stationary AR(1) process r_i = rho · r_(i−1) + sigma · ε_i, ε standard normal, from `seed`. */
export function arProcess({ rho, sigma }: { rho: number; sigma: number }, n: number, seed: number): number[] {
  const uniform = mulberry32(seed);
  // Box–Muller; 1 − u keeps the logarithm finite.
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const out: number[] = [];
  let r = (sigma / Math.sqrt(Math.max(1e-9, 1 - rho * rho))) * normal();
  for (let i = 0; i < n; i++) {
    if (i > 0) r = rho * r + sigma * normal();
    out.push(r);
  }
  return out;
}

/** Without a dynamics model: the simulation's shape, moved to the prompt's level (none without a prompt). */
export function atPromptDynamics(continuation: NoteSequence, played: readonly Note[], simulated: readonly Note[]): NoteSequence {
  if (played.length === 0 || simulated.length === 0) return continuation;
  const shift = median(lastVelocities(played)) - median(lastVelocities(simulated));
  const notes = continuation.notes.map((n) => ({ ...n, velocity: clampVelocity(n.velocity + shift) }));
  return { ...continuation, notes };
}

function lastVelocities(notes: readonly Note[]): number[] {
  return [...notes].sort((a, b) => a.startSec - b.startSec).slice(-DYNAMICS_PROMPT_NOTES).map((n) => n.velocity);
}

const clampVelocity = (v: number) => Math.min(127, Math.max(1, Math.round(v)));

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
