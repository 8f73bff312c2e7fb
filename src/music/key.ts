/**
 * Krumhansl–Schmuckler key finding: the duration-weighted pitch-class profile of a passage is correlated
 * (Pearson) with the 24 rotations of the Krumhansl–Kessler major/minor probe-tone profiles; the best one is the key.
 */
import type { Note } from './note-sequence.js';

/** Krumhansl & Kessler (1982) probe-tone ratings, tonic first. */
const KK_MAJOR = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88];
const KK_MINOR = [6.33, 2.68, 3.52, 5.38, 2.6, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17];

const PITCH_NAMES = ['C', 'C#', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'Ab', 'A', 'Bb', 'B'];

export type Mode = 'major' | 'minor';

export interface KeyEstimate {
  /** Pitch class of the tonic, 0 = C. */
  tonic: number;
  mode: Mode;
  /** Pearson correlation of the profile with the winning key's profile, −1..1 (NaN-free: 0 for silence). */
  correlation: number;
  /** e.g. "A minor". */
  name: string;
}

/** Total sounding seconds per pitch class (a note's duration is its weight, as in Krumhansl's algorithm). */
export function pitchClassDurations(notes: readonly Note[]): number[] {
  const profile = new Array<number>(12).fill(0);
  for (const n of notes) profile[n.pitch % 12] += Math.max(0, n.endSec - n.startSec);
  return profile;
}

export function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    cov += (a[i] - ma) * (b[i] - mb);
    va += (a[i] - ma) ** 2;
    vb += (b[i] - mb) ** 2;
  }
  return va === 0 || vb === 0 ? 0 : cov / Math.sqrt(va * vb);
}

/** Correlations with all 24 keys: index tonic (0..11) for major, 12 + tonic for minor. */
export function keyCorrelations(profile: readonly number[]): number[] {
  const out: number[] = [];
  for (const template of [KK_MAJOR, KK_MINOR]) {
    for (let tonic = 0; tonic < 12; tonic++) {
      const rotated = profile.map((_, pc) => template[(pc - tonic + 12) % 12]);
      out.push(pearson(profile, rotated));
    }
  }
  return out;
}

export function keyName(tonic: number, mode: Mode): string {
  return `${PITCH_NAMES[tonic]} ${mode}`;
}

export function estimateKeyFromProfile(profile: readonly number[]): KeyEstimate {
  const corr = keyCorrelations(profile);
  let best = 0;
  for (let i = 1; i < 24; i++) if (corr[i] > corr[best]) best = i;
  const tonic = best % 12;
  const mode: Mode = best < 12 ? 'major' : 'minor';
  return { tonic, mode, correlation: corr[best], name: keyName(tonic, mode) };
}

export function estimateKey(notes: readonly Note[]): KeyEstimate {
  return estimateKeyFromProfile(pitchClassDurations(notes));
}

/** Correlation of a passage's profile with one given key (used to ask "does the continuation fit the prompt's key?"). */
export function correlationWithKey(notes: readonly Note[], key: Pick<KeyEstimate, 'tonic' | 'mode'>): number {
  const corr = keyCorrelations(pitchClassDurations(notes));
  return corr[(key.mode === 'major' ? 0 : 12) + key.tonic];
}

/**
 * Closely related keys (same key signature ±1): the key itself, its relative, its dominant and subdominant
 * (same mode), and their relatives. A continuation that moves to one of these has modulated, not lost the key.
 */
export function isRelatedKey(a: Pick<KeyEstimate, 'tonic' | 'mode'>, b: Pick<KeyEstimate, 'tonic' | 'mode'>): boolean {
  // Key signature position on the circle of fifths (C major = 0, A minor = 0, G major = 1, E minor = 1, …).
  const fifths = (k: Pick<KeyEstimate, 'tonic' | 'mode'>) => ((((k.mode === 'major' ? k.tonic : (k.tonic + 3) % 12) * 7) % 12) + 12) % 12;
  const d = Math.abs(fifths(a) - fifths(b)) % 12;
  return Math.min(d, 12 - d) <= 1;
}

/**
 * Below this correlation a passage has no clear key (a chromatic line, a lone repeated note): nothing to keep to.
 * A C major scale played once correlates 0.89 with C major; the 18 prompts in ../shared/prompts 0.62–0.94.
 */
export const CLEAR_KEY_CORRELATION = 0.6;

/** Pitch classes of a key's scale above its tonic: major; natural minor with the harmonic minor's leading tone. */
const SCALE: Record<Mode, readonly number[]> = { major: [0, 2, 4, 5, 7, 9, 11], minor: [0, 2, 3, 5, 7, 8, 10, 11] };

/**
 * How a continuation keeps to its prompt's key: the nats to add to each pitch class's logit — 0 for the notes of
 * the key's scale, −strength for the others. Within the scale the model's own choices stand (the style's way of
 * using the scale is the style); outside it a note becomes e^strength times less likely, so a modulation or a
 * chromatic passing note stays possible. Undefined when the passage has no clear key.
 */
export function keyGuide(notes: readonly Note[], strength: number): { key: KeyEstimate; bias: number[] } | undefined {
  if (!(strength > 0) || notes.length === 0) return undefined;
  const key = estimateKey(notes);
  if (key.correlation < CLEAR_KEY_CORRELATION) return undefined;
  const inScale = new Set(SCALE[key.mode].map((step) => (key.tonic + step) % 12));
  return { key, bias: Array.from({ length: 12 }, (_, pc) => (inScale.has(pc) ? 0 : -strength)) };
}
