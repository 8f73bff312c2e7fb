/**
 * Tokenizers: NoteSequence ⇄ token ids, behind one interface so a richer encoding can be added
 * later without touching the model or the sampler.
 *
 * `gigaTokenizer` is exactly the encoding of GIGA-Piano as used by the thesis (vocabulary 128):
 * every note is the quadruple `[127, dt, dur, pitch]` and a sequence ends with a lone `127`.
 *  - notes ordered by exact onset (integer ms), simultaneous notes top-down (pitch descending),
 *    and only then quantised: onset cell `floor(ms / 16)`, `dt` = difference of cells, 0..126;
 *  - `dur` = `floor(durationMs / 32)` clamped to 1..126; `pitch` clamped to 1..126;
 *  - velocity is not encoded; decoding simulates it (see `GigaDecodeOptions`).
 * Unlike the reference decoder, decoding never drops the last note or chord.
 */
import { compareNotes } from './note-sequence.js';
import type { Note, NoteSequence } from './note-sequence.js';

/** The position of a token inside a note quadruple. */
export type TokenField = 'sep' | 'dt' | 'dur' | 'pitch';

/** Inclusive range of token ids. */
export interface TokenRange {
  lo: number;
  hi: number;
}

export interface Tokenizer {
  name: string;
  vocabSize: number;
  encode(seq: NoteSequence): number[];
  decode(tokens: readonly number[]): NoteSequence;
  /**
   * Grammar for constrained sampling, as an inclusive range of legal next tokens given the whole
   * prefix. O(length of prefix) in general; samplers should track the field incrementally with
   * `nextField` + `allowedRange`, which are O(1).
   */
  allowedNext(prefix: readonly number[]): TokenRange;
  /** Field of the token that follows `prevToken` (which sat in `prevField`); `prevField` undefined at the start. */
  nextField(prevToken: number | undefined, prevField: TokenField | undefined): TokenField;
  /** Field of the token at position `prefix.length`. */
  fieldAt(prefix: readonly number[]): TokenField;
  /** Legal token ids for a field when sampling (pitch restricted to the piano range). */
  allowedRange(field: TokenField): TokenRange;
}

export const SEP = 127;
export const ONSET_QUANTUM_MS = 16;
export const DURATION_QUANTUM_MS = 32;
export const MAX_DT = 126;
export const MIN_DUR = 1;
export const MAX_DUR = 126;
export const MIN_PITCH = 1;
export const MAX_PITCH = 126;
/** Pitches the sampler may choose: the 88 keys of a piano. */
export const PIANO_LOW = 21;
export const PIANO_HIGH = 108;

export interface GigaDecodeOptions {
  /**
   * 'simulated' (default, as the reference): pitch+10 for a single note, pitch+30 for every note of a
   * chord (notes sharing an onset), capped at 127. 'constant': `constantVelocity` for all notes.
   */
  velocity?: 'simulated' | 'constant';
  constantVelocity?: number;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** Integer milliseconds of a time in seconds (NoteSequences from MIDI hold integer ms already). */
const toMs = (sec: number) => Math.round(sec * 1000);

const RANGES: Record<TokenField, TokenRange> = {
  sep: { lo: SEP, hi: SEP },
  dt: { lo: 0, hi: MAX_DT },
  dur: { lo: MIN_DUR, hi: MAX_DUR },
  pitch: { lo: PIANO_LOW, hi: PIANO_HIGH },
};

const FOLLOWS: Record<TokenField, TokenField> = { sep: 'dt', dt: 'dur', dur: 'pitch', pitch: 'sep' };

/**
 * A note on the GIGA grid, in quanta: its onset floored to 16 ms (before any dt clamp) and its key duration floored to
 * 32 ms within MIN_DUR..MAX_DUR — what the tokens keep of it.
 */
export function gigaQuanta(n: Note): { onset: number; dur: number } {
  const startMs = toMs(n.startSec);
  return {
    onset: Math.floor(startMs / ONSET_QUANTUM_MS),
    dur: clamp(Math.floor((toMs(n.endSec) - startMs) / DURATION_QUANTUM_MS), MIN_DUR, MAX_DUR),
  };
}

function encodeGiga(seq: NoteSequence): number[] {
  // As the reference: order by exact onset (ms), chords top-down, THEN quantise. Notes of a rolled
  // chord that fall into one 16 ms cell therefore keep their played order (with dt 0 between them).
  // The sort is stable, so exact duplicates keep the reader's order (TMIDIX's, note-off order).
  const notes = [...seq.notes].sort(compareNotes);
  const tokens: number[] = [];
  let previousOnset: number | undefined;
  for (const n of notes) {
    const { onset, dur } = gigaQuanta(n);
    const pitch = clamp(Math.round(n.pitch), MIN_PITCH, MAX_PITCH);
    tokens.push(SEP, clamp(onset - (previousOnset ?? onset), 0, MAX_DT), dur, pitch);
    previousOnset = onset;
  }
  tokens.push(SEP);
  return tokens;
}

function decodeGiga(tokens: readonly number[], opts: GigaDecodeOptions = {}): NoteSequence {
  const notes: Note[] = [];
  let onsetMs = 0;
  // Split on 127 and keep complete, in-range triples; anything else between separators is ignored.
  let group: number[] = [];
  const flush = () => {
    if (group.length === 3) {
      const [dt, dur, pitch] = group as [number, number, number];
      if (dt >= 0 && dt <= MAX_DT && dur >= MIN_DUR && dur <= MAX_DUR && pitch >= MIN_PITCH && pitch <= MAX_PITCH) {
        onsetMs += dt * ONSET_QUANTUM_MS;
        notes.push({ pitch, velocity: 0, startSec: onsetMs / 1000, endSec: (onsetMs + dur * DURATION_QUANTUM_MS) / 1000 });
      }
    }
    group = [];
  };
  for (const t of tokens) {
    if (t === SEP) flush();
    else group.push(t);
  }
  flush();

  const constant = clamp(Math.round(opts.constantVelocity ?? 90), 1, 127);
  for (let i = 0; i < notes.length; ) {
    let j = i + 1;
    while (j < notes.length && notes[j]!.startSec === notes[i]!.startSec) j++;
    const chord = j - i > 1;
    for (let k = i; k < j; k++) {
      const n = notes[k]!;
      n.velocity = opts.velocity === 'constant' ? constant : simulatedVelocity(n.pitch, chord);
    }
    i = j;
  }
  notes.sort(compareNotes);
  return { notes, pedals: [], tempos: [{ timeSec: 0, bpm: 120 }], source: { name: 'tokens' } };
}

function fieldAt(prefix: readonly number[]): TokenField {
  let lastField: TokenField | undefined;
  let last: number | undefined;
  for (const t of prefix) {
    lastField = nextField(last, lastField);
    last = t;
  }
  return nextField(last, lastField);
}

/**
 * The grammar is a fixed cycle sep → dt → dur → pitch → sep, starting with sep. A 127 seen anywhere
 * resynchronises to dt, so the field only ever depends on the previous token and its field.
 */
function nextField(prevToken: number | undefined, prevField: TokenField | undefined): TokenField {
  if (prevToken === undefined) return 'sep';
  if (prevToken === SEP) return 'dt';
  return FOLLOWS[prevField ?? 'pitch'];
}

/** The four fields, in grammar order; `streamFields` returns indices into this list. */
export const TOKEN_FIELDS: readonly TokenField[] = ['sep', 'dt', 'dur', 'pitch'];

/**
 * The field of every token of a stream that may start mid-note (a validation cut): forward by the grammar
 * from the first separator, and by the fixed cycle backwards before it. Indices into TOKEN_FIELDS.
 */
export function streamFields(tokens: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(tokens.length);
  let first = -1;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === SEP) { first = i; break; }
  if (first < 0) first = 0; // no separator at all: read it as starting at one
  const cycle: TokenField[] = ['pitch', 'dur', 'dt', 'sep'];
  for (let i = first - 1, k = 0; i >= 0; i--, k++) out[i] = TOKEN_FIELDS.indexOf(cycle[k % 4]);
  let field: TokenField = 'sep';
  for (let i = first; i < tokens.length; i++) {
    // Every 127 is a separator, including the note after a piece's lone end marker ("… 127 127 dt …"),
    // which the sampling grammar (it never emits 127 where a dt is due) would read as a dt.
    if (i > first) field = tokens[i] === SEP ? 'sep' : nextField(tokens[i - 1], field);
    out[i] = TOKEN_FIELDS.indexOf(field);
  }
  return out;
}

/**
 * `tokens` (a stream, possibly cut mid-note) played `tempo` times as slow (> 1: slower), for time-stretch data
 * augmentation (Music Transformer's, on MAESTRO). A token stands for a time somewhere in its quantum, so each dt and
 * duration is re-quantised from a point drawn uniformly inside it (`uniform()` per token, in [0, 1)): stretching
 * by 5 % moves a token by one only as often as the stretched interval crosses a quantum boundary, with no bias
 * toward rounding up or down. A dt of 0 (a note of the same chord) stays 0: a chord stays a chord.
 */
export function stretchTokens(tokens: Uint8Array, tempo: number, uniform: () => number): Uint8Array {
  const fields = streamFields(tokens);
  const [DT, DUR] = [TOKEN_FIELDS.indexOf('dt'), TOKEN_FIELDS.indexOf('dur')];
  const out = Uint8Array.from(tokens);
  for (let i = 0; i < out.length; i++) {
    if (fields[i] === DT && out[i] > 0) out[i] = clamp(Math.floor((out[i] + uniform()) * tempo), 1, MAX_DT);
    else if (fields[i] === DUR) out[i] = clamp(Math.floor((out[i] + uniform()) * tempo), MIN_DUR, MAX_DUR);
  }
  return out;
}

/**
 * `tokens` (a stream, possibly cut mid-note) with every pitch moved by `semitones`, for pitch-shift data
 * augmentation. The shift is reduced, if needed, so no pitch leaves the piano keyboard (a pitch already off
 * it only limits the shift towards the side it is off). Timing tokens are untouched: the encoding orders
 * chords top-down and quantises by time alone, so a transposed piece encodes to exactly this.
 */
export function transposeTokens(tokens: Uint8Array, semitones: number): Uint8Array {
  const fields = streamFields(tokens);
  const PITCH = TOKEN_FIELDS.indexOf('pitch');
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < tokens.length; i++) {
    if (fields[i] !== PITCH) continue;
    lo = Math.min(lo, tokens[i]);
    hi = Math.max(hi, tokens[i]);
  }
  const out = Uint8Array.from(tokens);
  if (lo === Infinity) return out;
  const shift = clamp(semitones, Math.min(0, PIANO_LOW - lo), Math.max(0, PIANO_HIGH - hi));
  if (shift !== 0) for (let i = 0; i < out.length; i++) if (fields[i] === PITCH) out[i] += shift;
  return out;
}

export function makeGigaTokenizer(decodeOptions: GigaDecodeOptions = {}): Tokenizer {
  return {
    name: 'giga-piano',
    vocabSize: 128,
    encode: encodeGiga,
    decode: (tokens) => decodeGiga(tokens, decodeOptions),
    allowedNext: (prefix) => RANGES[fieldAt(prefix)],
    nextField,
    fieldAt,
    allowedRange: (field) => RANGES[field],
  };
}

/** The thesis tokenizer with the reference's simulated velocities. */
export const gigaTokenizer: Tokenizer = makeGigaTokenizer();

/** The reference decoder's velocity for a note (the GIGA tokens have none): pitch + 10, a chord's notes pitch + 30. */
export function simulatedVelocity(pitch: number, inChord: boolean): number {
  return Math.min(127, pitch + (inChord ? 30 : 10));
}
