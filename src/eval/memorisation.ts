/**
 * Memorisation: how much of a continuation is copied note-for-note from the style's training data.
 *
 * A note is the pair (dt, pitch) exactly as the GIGA tokenizer writes it (dt = onset delta in 16 ms steps,
 * chords top-down with dt 0), so a copy is what a model that memorised its training tokens would reproduce.
 * Every 8-gram of the training stream goes into a hash set; a continuation's copied span is the longest run of
 * consecutive positions whose 8-grams are all in the set (run r covers r + 7 notes).
 *
 * Bars: performance MIDI carries no reliable metre (tempos are expressive, most prompt files just declare
 * 120 bpm), so a bar is a fixed 2 s (a 4/4 bar at 120 bpm). A continuation copying more than 4 bars = 8 s of
 * onsets is flagged.
 */
import { gigaTokenizer, SEP } from '../music/tokenizer.js';
import type { NoteSequence } from '../music/note-sequence.js';

export const NGRAM = 8;
export const BAR_SECONDS = 2;
export const MAX_COPIED_BARS = 4;

export interface NoteKey {
  dt: number;
  pitch: number;
  /** Onset in seconds, for measuring the length of a copied span. */
  onsetSec: number;
}

/**
 * The (dt, pitch) stream of a sequence, read from its GIGA tokens, with every chord (notes sharing a 16 ms onset
 * cell) put top-down. The encoder keeps a rolled chord's played order but decoding sorts chords top-down, so
 * without this a verbatim copy of a rolled chord would not match its source.
 */
export function noteKeys(seq: NoteSequence): NoteKey[] {
  const tokens = gigaTokenizer.encode(seq);
  const out: NoteKey[] = [];
  let onsetSteps = 0;
  for (let i = 0; i + 3 < tokens.length; i += 4) {
    if (tokens[i] !== SEP) break;
    onsetSteps += tokens[i + 1];
    out.push({ dt: tokens[i + 1], pitch: tokens[i + 3], onsetSec: (onsetSteps * 16) / 1000 });
  }
  for (let a = 0; a < out.length; ) {
    let b = a + 1;
    while (b < out.length && out[b].dt === 0) b++;
    if (b - a > 1) {
      const pitches = out
        .slice(a, b)
        .map((k) => k.pitch)
        .sort((x, y) => y - x);
      pitches.forEach((p, j) => (out[a + j] = { ...out[a + j], pitch: p }));
    }
    a = b;
  }
  return out;
}

/** 52-bit hash of the n-gram starting at `i` (two 26-bit FNV variants: collisions are negligible at our sizes). */
function ngramHash(keys: readonly NoteKey[], i: number, n: number): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let k = i; k < i + n; k++) {
    const v = keys[k].dt * 128 + keys[k].pitch;
    a = Math.imul(a ^ v, 0x01000193) >>> 0;
    b = Math.imul(b ^ (v + 0x9e37), 0x5bd1e995) >>> 0;
    b ^= b >>> 15;
  }
  return (a & 0x3ffffff) * 0x4000000 + (b & 0x3ffffff);
}

export class NgramIndex {
  private readonly hashes = new Set<number>();
  constructor(readonly n: number = NGRAM) {}

  add(keys: readonly NoteKey[]): void {
    for (let i = 0; i + this.n <= keys.length; i++) this.hashes.add(ngramHash(keys, i, this.n));
  }

  has(keys: readonly NoteKey[], i: number): boolean {
    return this.hashes.has(ngramHash(keys, i, this.n));
  }

  get size(): number {
    return this.hashes.size;
  }
}

export interface MemorisationResult {
  /** Notes in the longest copied span (0 when no 8-gram is found in the training data). */
  longestCopyNotes: number;
  longestCopySeconds: number;
  longestCopyBars: number;
  /** Share of the continuation's notes inside at least one copied 8-gram. */
  copiedShare: number;
  /** More than MAX_COPIED_BARS bars copied. */
  flagged: boolean;
}

export function measureMemorisation(continuation: NoteSequence, index: NgramIndex, barSeconds = BAR_SECONDS): MemorisationResult {
  const keys = noteKeys(continuation);
  const n = index.n;
  // The first note's dt is relative to the prompt, not to anything in the continuation: never part of a match.
  if (keys.length > 0) keys[0] = { ...keys[0], dt: -1 };
  const covered = new Uint8Array(keys.length);
  let best = { start: -1, runs: 0 };
  let runStart = -1;
  for (let i = 0; i + n <= keys.length; i++) {
    if (index.has(keys, i)) {
      covered.fill(1, i, i + n);
      if (runStart < 0) runStart = i;
      const runs = i - runStart + 1;
      if (runs > best.runs) best = { start: runStart, runs };
    } else runStart = -1;
  }
  const longestCopyNotes = best.runs > 0 ? best.runs + n - 1 : 0;
  const longestCopySeconds = best.runs > 0 ? keys[best.start + longestCopyNotes - 1].onsetSec - keys[best.start].onsetSec : 0;
  const longestCopyBars = longestCopySeconds / barSeconds;
  return {
    longestCopyNotes,
    longestCopySeconds,
    longestCopyBars,
    copiedShare: keys.length ? covered.reduce((a, b) => a + b, 0) / keys.length : 0,
    flagged: longestCopyBars > MAX_COPIED_BARS,
  };
}
