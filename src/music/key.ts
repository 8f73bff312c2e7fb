/**
 * Krumhansl–Schmuckler key finding: the duration-weighted pitch-class profile of a passage is correlated
 * (Pearson) with the 24 rotations of the Krumhansl–Kessler major/minor probe-tone profiles; the best one is the key.
 */
import type { Note } from './note-sequence.js';

/** Krumhansl & Kessler (1982) probe-tone ratings, tonic first. */
const KK_MAJOR = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88];
const KK_MINOR = [6.33, 2.68, 3.52, 5.38, 2.6, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17];

/** Tonic names as keys are usually spelt: D♭ major rather than C♯ major, but G♯ minor rather than A♭ minor. */
const TONIC_NAMES: Record<'major' | 'minor', readonly string[]> = {
  major: ['C', 'Db', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'Ab', 'A', 'Bb', 'B'],
  minor: ['C', 'C#', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'G#', 'A', 'Bb', 'B'],
};

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
  return `${TONIC_NAMES[mode][tonic]} ${mode}`;
}

/** All 24 keys by name, C major … B minor. */
export const KEY_NAMES: readonly string[] = (['major', 'minor'] as const).flatMap((mode) => TONIC_NAMES[mode].map((_, tonic) => keyName(tonic, mode)));

const LETTER_PC: Record<string, number> = { c: 0, d: 2, e: 4, f: 5, g: 7, a: 9, b: 11 };

/** "D minor", "f# major", "B♭ minor", "Db major" → the key; undefined when the text names none. */
export function parseKey(text: string): NamedKey | undefined {
  const m = /^\s*([a-g])\s*(#|♯|b|♭)?\s+(major|minor)\s*$/i.exec(text);
  if (!m) return undefined;
  const shift = m[2] === undefined ? 0 : m[2] === '#' || m[2] === '♯' ? 1 : -1;
  const tonic = (LETTER_PC[m[1].toLowerCase()] + shift + 12) % 12;
  const mode = m[3].toLowerCase() as Mode;
  return { tonic, mode, name: keyName(tonic, mode) };
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

function scalePitchClasses(key: { tonic: number; mode: Mode }): Set<number> {
  return new Set(SCALE[key.mode].map((step) => (key.tonic + step) % 12));
}

/**
 * How a continuation keeps to a key: the nats to add to each pitch class's logit — 0 for the notes of the key's
 * scale, −strength for the others. Within the scale the model's own choices stand (the style's way of using the scale
 * is the style); outside it a note becomes e^strength times less likely, so a modulation or a chromatic passing note
 * stays possible.
 */
export function scaleBias(key: { tonic: number; mode: Mode }, strength: number): number[] {
  const inScale = scalePitchClasses(key);
  return Array.from({ length: 12 }, (_, pc) => (inScale.has(pc) ? 0 : -strength));
}

/** The key a continuation keeps to and its pitch-class bias (`scaleBias`). */
export interface KeyGuide {
  /** e.g. "A minor". */
  name: string;
  /** Pitch class of its tonic, 0 = C: where the continuation ends (sampler `endOn`). */
  tonic: number;
  bias: number[];
}

/**
 * Keeping to the `named` key (`parseKey`), else to the prompt's own (the one its notation `declared`, when the notes fit it): undefined at strength 0, and when no key is named
 * and the prompt has none that is clear (no notes, a chromatic line).
 */
export function keyGuide(notes: readonly Note[], strength: number, named?: NamedKey, declared?: NamedKey): KeyGuide | undefined {
  if (!(strength > 0)) return undefined;
  const key = named ?? clearKey(notes, declared);
  return key && { name: key.name, tonic: key.tonic, bias: scaleBias(key, strength) };
}

/** Fewer pitch classes leave the key open: a lone C correlates 0.68 with C major, C and G 0.81, yet both are as much C minor. */
const CLEAR_KEY_PITCH_CLASSES = 3;

/** A key by name, as `parseKey` reads one. */
export type NamedKey = Pick<KeyEstimate, 'tonic' | 'mode' | 'name'>;

/**
 * How much of a prompt's sounding time must lie in a declared key's scale for that key to be the prompt's. A tune that
 * leaves out a degree of its scale fits a neighbouring key as well as its own: The Kesh, in G major without a C,
 * correlates 0.805 with D major and 0.797 with G, and the four notes F# F# G A of "K:D FFGA" read as F# minor. Seven
 * well-known tunes written out in ABC have all their sounding time in their K: key's scale; declared as E-flat or E
 * major, at most 81 % (Frère Jacques as E-flat major).
 */
export const DECLARED_KEY_IN_SCALE = 0.9;

/** The share of the notes' sounding time that lies in the key's scale (`SCALE`: minor with its leading tone). */
export function inScaleShare(notes: readonly Note[], key: { tonic: number; mode: Mode }): number {
  const inScale = scalePitchClasses(key);
  let inside = 0;
  let total = 0;
  for (const n of notes) {
    const d = Math.max(0, n.endSec - n.startSec);
    total += d;
    if (inScale.has(n.pitch % 12)) inside += d;
  }
  return total > 0 ? inside / total : 0;
}

/**
 * The passage's key when it has a clear one (≥ 3 pitch classes, correlation ≥ CLEAR_KEY_CORRELATION), else undefined.
 * A key its notation declares (a typed melody's K: field) is the key whenever DECLARED_KEY_IN_SCALE of the notes'
 * sounding time lies in its scale, however few the notes. MIDI files' key signatures are not used: of 320
 * piano-midi.de files with one, 42 % name the key their opening is in (that site marks every piece major).
 */
export function clearKey(notes: readonly Note[], declared?: NamedKey): KeyEstimate | undefined {
  if (declared && notes.length > 0 && inScaleShare(notes, declared) >= DECLARED_KEY_IN_SCALE) {
    return { tonic: declared.tonic, mode: declared.mode, name: declared.name, correlation: correlationWithKey(notes, declared) };
  }
  if (new Set(notes.map((n) => n.pitch % 12)).size < CLEAR_KEY_PITCH_CLASSES) return undefined;
  const key = estimateKey(notes);
  return key.correlation >= CLEAR_KEY_CORRELATION ? key : undefined;
}

/**
 * The key's tonic chord, `seconds` long: the root near middle C with its third and fifth above and the root an
 * octave below. An improvisation in a named key starts from it (unplayed) so that the model hears the key's tonic:
 * the scale alone leaves the tonic open (D minor's notes are F major's), and a model that has settled in another
 * key holds to it against a soft bias.
 */
export function tonicChord(key: { tonic: number; mode: Mode }, seconds = 1): Note[] {
  const root = 54 + ((key.tonic + 6) % 12); // F#3 … F4
  const pitches = [root + 7, root + (key.mode === 'major' ? 4 : 3), root, root - 12];
  return pitches.map((pitch) => ({ pitch, velocity: 70, startSec: 0, endSec: seconds }));
}
