/**
 * MIDI bytes ⇄ NoteSequence.
 *
 * Reading is defensive: user uploads arrive from Discord, so every file is checked structurally
 * (size, `MThd` magic, chunk headers, track count) before any parser sees it, and every rejection
 * is a `MidiInputError` with a `code` and a message a Discord user understands.
 *
 * Timing reproduces the reference encoder (TMIDIX `midi2ms_score`, used by GIGA-Piano and the
 * thesis) so that tokens match it exactly: each track is walked on its own, every event's tick
 * delta is converted to milliseconds with the tempo map gathered from *all* tracks, and the
 * per-event millisecond delta is rounded half-to-even (Python's `round`). Absolute times are the
 * sums of those rounded deltas, so notes land on integer milliseconds. Two deliberate departures
 * from TMIDIX, both only visible on files with tempo changes after tick 0 or with no tempo at all:
 * a file without a tempo event plays at the MIDI default 120 bpm (TMIDIX assumes 150), and a
 * delta that spans several tempo changes is split correctly (TMIDIX handles one change per event
 * and counts the part before it twice).
 *
 * We parse with `midi-file` (the parser inside @tonejs/midi) because exact rounding needs every
 * raw event of a track, including meta events, which @tonejs/midi's `Midi` object does not keep.
 */
import { parseMidi } from 'midi-file';
import type { MidiData, MidiEvent } from 'midi-file';
import { compareNotes } from './note-sequence.js';
import { encodeSmf } from './smf-writer.js';
import type { Note, NoteSequence, PedalSpan, TempoChange } from './note-sequence.js';

/**
 * How event times are read. 'reference': as TMIDIX (the reference encoder) does, each event's delta rounded to whole
 * milliseconds and the rounded deltas summed per track — the thesis' exact tokens need it, but the sum drifts from the
 * file's clock (by the end of a long performance with dense pedal data, seconds), and differently in each track, so
 * that notes struck together in two tracks are read tens of milliseconds apart (median piano-midi.de file: up to 23 ms,
 * one in ten over 77 ms). 'exact': each event at its exact time, rounded once — what users' uploads are read with.
 */
export type MidiTiming = 'reference' | 'exact';

export interface MidiLimits {
  /** Largest accepted file in bytes. */
  maxBytes: number;
  /** Most MTrk chunks accepted. */
  maxTracks: number;
  /** Most MIDI events (all kinds, all tracks) accepted. */
  maxEvents: number;
  /** Most (non-drum) notes accepted. */
  maxNotes: number;
  /** Longest accepted piece, in seconds of performance time. */
  maxSeconds: number;
  /** Tempo events outside [minBpm, maxBpm] reject the file. */
  minBpm: number;
  maxBpm: number;
}

export const DEFAULT_MIDI_LIMITS: Readonly<MidiLimits> = Object.freeze({
  maxBytes: 1024 * 1024,
  maxTracks: 64,
  maxEvents: 500_000,
  maxNotes: 20_000,
  maxSeconds: 600,
  minBpm: 10,
  maxBpm: 1000,
});

export type MidiInputErrorCode =
  | 'too-large'
  | 'not-midi'
  | 'truncated'
  | 'corrupt'
  | 'no-notes'
  | 'drums-only'
  | 'too-many-tracks'
  | 'too-many-events'
  | 'too-many-notes'
  | 'too-long'
  | 'bad-tempo';

/** A MIDI file we refuse to use. `message` is written for the person who uploaded it. */
export class MidiInputError extends Error {
  readonly code: MidiInputErrorCode;
  constructor(code: MidiInputErrorCode, message: string) {
    super(message);
    this.name = 'MidiInputError';
    this.code = code;
  }
}

export const DRUM_CHANNEL = 9; // "channel 10" in musicians' numbering
const SUSTAIN_CC = 64;
const DEFAULT_MICROSECONDS_PER_BEAT = 500_000; // 120 bpm, the MIDI default
/** Ticks per quarter note of the files we write: 500 ticks at 120 bpm make one tick one millisecond. */
const WRITE_PPQ = 500;

/** Python 3 `round()`: nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function formatLimitSeconds(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} minutes` : `${seconds} seconds`;
}

function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) >>> 0) + (bytes[at + 1]! << 16) + (bytes[at + 2]! << 8) + bytes[at + 3]!;
}

function chunkId(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
}

/**
 * Cheap structural check, run before any parser: magic, header, and every chunk header's length
 * against the file size. Walking chunk headers is O(number of chunks), so a file claiming
 * thousands of tracks is refused without parsing a single event.
 * Returns the bytes the parser should see (trailing junk shorter than a chunk header dropped).
 */
function checkStructure(bytes: Uint8Array, limits: MidiLimits): Uint8Array {
  if (bytes.length > limits.maxBytes) {
    throw new MidiInputError(
      'too-large',
      `That file is too big (${Math.ceil(bytes.length / 1024)} KB); the limit is ${Math.floor(limits.maxBytes / 1024)} KB.`,
    );
  }
  if (bytes.length < 4 || chunkId(bytes, 0) !== 'MThd') {
    throw new MidiInputError('not-midi', "That isn't a MIDI file (it should be a .mid file).");
  }
  if (bytes.length < 14) {
    throw new MidiInputError('truncated', 'That MIDI file is cut off (incomplete); please upload it again.');
  }
  const headerLength = readU32(bytes, 4);
  if (headerLength < 6 || 8 + headerLength > bytes.length) {
    throw new MidiInputError('truncated', 'That MIDI file is cut off (incomplete); please upload it again.');
  }
  let at = 8 + headerLength;
  let trackChunks = 0;
  while (at + 8 <= bytes.length) {
    const id = chunkId(bytes, at);
    const length = readU32(bytes, at + 4);
    if (at + 8 + length > bytes.length) {
      throw new MidiInputError('truncated', 'That MIDI file is cut off (incomplete); please upload it again.');
    }
    if (id === 'MTrk') {
      trackChunks += 1;
      if (trackChunks > limits.maxTracks) {
        throw new MidiInputError(
          'too-many-tracks',
          `That MIDI file has too many tracks (more than ${limits.maxTracks}); please send a simpler piano file.`,
        );
      }
    } else if (!/^[\x20-\x7e]{4}$/.test(id)) {
      // Not a chunk header at all: the file is damaged from here on.
      throw new MidiInputError('corrupt', 'That MIDI file is damaged and cannot be read.');
    }
    at += 8 + length;
  }
  if (trackChunks === 0) throw new MidiInputError('no-notes', 'That file has no notes.');
  return at === bytes.length ? bytes : bytes.subarray(0, at);
}

/** midi-file keeps only MTrk chunks and stops at any other chunk id; rebuild the file without them. */
function withoutForeignChunks(bytes: Uint8Array): Uint8Array {
  const headerLength = readU32(bytes, 4);
  const parts: Uint8Array[] = [bytes.subarray(0, 8 + headerLength)];
  let at = 8 + headerLength;
  let changed = false;
  let tracks = 0;
  while (at + 8 <= bytes.length) {
    const length = readU32(bytes, at + 4);
    if (chunkId(bytes, at) === 'MTrk') {
      parts.push(bytes.subarray(at, at + 8 + length));
      tracks += 1;
    } else changed = true;
    at += 8 + length;
  }
  // midi-file reads only as many tracks as the header declares; declare what is really there.
  const declared = (bytes[10]! << 8) | bytes[11]!;
  if (!changed && declared === tracks) return bytes;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  out[10] = (tracks >> 8) & 0xff;
  out[11] = tracks & 0xff;
  return out;
}

function parse(bytes: Uint8Array): MidiData {
  try {
    return parseMidi(bytes);
  } catch {
    throw new MidiInputError('corrupt', 'That MIDI file is damaged and cannot be read.');
  }
}

interface TempoPoint {
  tick: number;
  microsecondsPerBeat: number;
}

/** Tempo changes from all tracks by absolute tick; a later track wins at the same tick (as TMIDIX's dict). */
function collectTempoMap(midi: MidiData, limits: MidiLimits): TempoPoint[] {
  const byTick = new Map<number, number>();
  for (const track of midi.tracks) {
    let tick = 0;
    for (const e of track) {
      tick += e.deltaTime;
      if (e.type === 'setTempo') {
        const bpm = 60_000_000 / e.microsecondsPerBeat;
        if (!(bpm >= limits.minBpm && bpm <= limits.maxBpm)) {
          throw new MidiInputError(
            'bad-tempo',
            `That MIDI file has an impossible tempo (${Number.isFinite(bpm) ? Math.round(bpm) : '∞'} bpm); ` +
              `tempos must be between ${limits.minBpm} and ${limits.maxBpm} bpm.`,
          );
        }
        byTick.set(tick, e.microsecondsPerBeat);
      }
    }
  }
  return [...byTick.entries()].sort((a, b) => a[0] - b[0]).map(([tick, microsecondsPerBeat]) => ({ tick, microsecondsPerBeat }));
}

/** A file's exact (unrounded) clock: ticks ↔ milliseconds, piecewise linear through its tempo map. */
interface FileClock {
  /** Tempo events by tick (validated; SMPTE timing ignores them). */
  tempoMap: TempoPoint[];
  /** SMPTE time division: ticks are fixed fractions of a second. */
  smpte: boolean;
  msAtTick(tick: number): number;
  /** The inverse of msAtTick (fractional ticks). */
  tickAtMs(ms: number): number;
  /** The tempo in effect at a tick, in microseconds per quarter (120 bpm before the first tempo event). */
  microsecondsPerBeatAt(tick: number): number;
}

/** The clock of a parsed file; throws MidiInputError for a damaged time division or an impossible tempo. */
function fileClock(midi: MidiData, limits: MidiLimits): FileClock {
  const { ticksPerBeat, framesPerSecond, ticksPerFrame } = midi.header;
  let ppq: number | undefined;
  let msPerTick: number;
  if (ticksPerBeat !== undefined) {
    if (!(ticksPerBeat > 0)) throw new MidiInputError('corrupt', 'That MIDI file is damaged and cannot be read.');
    ppq = ticksPerBeat;
    msPerTick = DEFAULT_MICROSECONDS_PER_BEAT / (1000 * ppq);
  } else {
    if (!(framesPerSecond && ticksPerFrame)) throw new MidiInputError('corrupt', 'That MIDI file is damaged and cannot be read.');
    msPerTick = 1000 / (framesPerSecond * ticksPerFrame);
  }
  const tempoMap = collectTempoMap(midi, limits);
  // One segment per tempo (a single one for SMPTE timing). A tempo change at a tick only affects later ticks; the
  // clock is continuous, so the tick itself reads the same on either side.
  const segments: { tick: number; ms: number; msPerTick: number; microsecondsPerBeat: number }[] = [
    { tick: 0, ms: 0, msPerTick, microsecondsPerBeat: DEFAULT_MICROSECONDS_PER_BEAT },
  ];
  if (ppq !== undefined) {
    for (const t of tempoMap) {
      const last = segments[segments.length - 1]!;
      const segment = { tick: t.tick, ms: last.ms + (t.tick - last.tick) * last.msPerTick, msPerTick: t.microsecondsPerBeat / (1000 * ppq), microsecondsPerBeat: t.microsecondsPerBeat };
      if (t.tick === last.tick) segments[segments.length - 1] = segment;
      else segments.push(segment);
    }
  }
  // The last segment starting at or before `at` (by tick or by ms: both increase together).
  const segmentAt = (at: number, key: 'tick' | 'ms') => {
    let lo = 0;
    let hi = segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (segments[mid]![key] <= at) lo = mid;
      else hi = mid - 1;
    }
    return segments[lo]!;
  };
  return {
    tempoMap,
    smpte: ppq === undefined,
    msAtTick: (tick) => {
      const seg = segmentAt(tick, 'tick');
      return seg.ms + (tick - seg.tick) * seg.msPerTick;
    },
    tickAtMs: (ms) => {
      const seg = segmentAt(ms, 'ms');
      return seg.tick + (ms - seg.ms) / seg.msPerTick;
    },
    microsecondsPerBeatAt: (tick) => segmentAt(tick, 'tick').microsecondsPerBeat,
  };
}

interface TrackResult {
  notes: Note[];
  pedals: PedalSpan[];
  drumNotes: number;
  endMs: number;
}

function isByte(x: unknown): x is number {
  return typeof x === 'number' && x >= 0 && x <= 127;
}

function truncatedError(): MidiInputError {
  return new MidiInputError('truncated', 'That MIDI file is cut off (incomplete); please upload it again.');
}

/**
 * One track → notes in integer milliseconds (as TMIDIX: note-ons paired first-in-first-out per
 * channel and pitch; a note never released ends at the end of its track).
 */
function readTrack(track: MidiEvent[], clock: FileClock, limits: MidiLimits, noteBudget: { left: number }, timing: MidiTiming): TrackResult {
  const notes: Note[] = [];
  const pedals: PedalSpan[] = [];
  const open = new Map<number, { startMs: number; velocity: number }[]>();
  const pedalDownAt = new Map<number, number>();
  let drumNotes = 0;
  let tick = 0;
  let exactMs = 0;
  let previousExactMs = 0;
  let ms = 0;
  const maxMs = limits.maxSeconds * 1000;
  const tooLong = () =>
    new MidiInputError('too-long', `That piece is longer than ${formatLimitSeconds(limits.maxSeconds)}; please send a shorter one.`);

  for (const e of track) {
    if (!(Number.isInteger(e.deltaTime) && e.deltaTime >= 0)) throw truncatedError();
    tick += e.deltaTime;
    exactMs = clock.msAtTick(tick);
    // Tempo events are not "real" events for TMIDIX: they do not close a rounding step.
    if (e.type === 'setTempo') continue;
    if (timing === 'exact') ms = roundHalfEven(exactMs);
    else {
      ms += roundHalfEven(exactMs - previousExactMs);
      previousExactMs = exactMs;
    }
    if (ms > maxMs && (e.type === 'noteOn' || e.type === 'noteOff')) throw tooLong();

    if (e.type === 'noteOn' || e.type === 'noteOff') {
      if (!isByte(e.noteNumber) || !isByte(e.velocity) || !isByte(e.channel)) throw truncatedError();
      if (e.channel === DRUM_CHANNEL) {
        if (e.type === 'noteOn') drumNotes += 1;
        continue;
      }
      const key = e.channel * 128 + e.noteNumber;
      if (e.type === 'noteOn') {
        if (--noteBudget.left < 0) {
          throw new MidiInputError(
            'too-many-notes',
            `That MIDI file has too many notes (more than ${limits.maxNotes.toLocaleString('en')}); please send a shorter piece.`,
          );
        }
        const pending = open.get(key);
        const on = { startMs: ms, velocity: e.velocity };
        if (pending) pending.push(on);
        else open.set(key, [on]);
      } else {
        const on = open.get(key)?.shift();
        if (on) notes.push({ pitch: e.noteNumber, velocity: on.velocity, startSec: on.startMs / 1000, endSec: ms / 1000 });
      }
    } else if (e.type === 'controller') {
      if (!isByte(e.controllerType) || !isByte(e.value) || !isByte(e.channel)) throw truncatedError();
      if (e.controllerType !== SUSTAIN_CC || e.channel === DRUM_CHANNEL) continue;
      const down = pedalDownAt.get(e.channel);
      if (e.value >= 64 && down === undefined) pedalDownAt.set(e.channel, ms);
      else if (e.value < 64 && down !== undefined) {
        if (ms > down) pedals.push({ startSec: down / 1000, endSec: ms / 1000 });
        pedalDownAt.delete(e.channel);
      }
    }
  }
  for (const [key, pending] of open) {
    for (const on of pending) {
      notes.push({ pitch: key % 128, velocity: on.velocity, startSec: on.startMs / 1000, endSec: ms / 1000 });
    }
  }
  for (const down of pedalDownAt.values()) {
    if (ms > down) pedals.push({ startSec: down / 1000, endSec: ms / 1000 });
  }
  return { notes, pedals, drumNotes, endMs: ms };
}

/** Union of possibly overlapping spans (pedals of several tracks/channels), sorted. */
function mergeSpans(spans: PedalSpan[]): PedalSpan[] {
  const sorted = [...spans].sort((a, b) => a.startSec - b.startSec || a.endSec - b.endSec);
  const out: PedalSpan[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s.startSec <= last.endSec) last.endSec = Math.max(last.endSec, s.endSec);
    else out.push({ ...s });
  }
  return out;
}

/**
 * Parse and validate MIDI bytes. All non-drum tracks and channels are merged into one piano part. Times are read as the
 * reference encoder reads them unless `timing: 'exact'` (see MidiTiming).
 * Throws `MidiInputError` for anything unusable; never anything else.
 */
export function readMidi(bytes: Uint8Array, opts: Partial<MidiLimits> & { name?: string; timing?: MidiTiming } = {}): NoteSequence {
  const limits: MidiLimits = { ...DEFAULT_MIDI_LIMITS, ...opts };
  const { midi, clock } = openChecked(bytes, limits);

  const notes: Note[] = [];
  const pedals: PedalSpan[] = [];
  let drumNotes = 0;
  const noteBudget = { left: limits.maxNotes };
  for (const track of midi.tracks) {
    const r = readTrack(track, clock, limits, noteBudget, opts.timing ?? 'reference');
    notes.push(...r.notes);
    pedals.push(...r.pedals);
    drumNotes += r.drumNotes;
  }
  if (notes.length === 0) {
    if (drumNotes > 0) throw new MidiInputError('drums-only', 'That file only has drums; please send a melody (piano or any pitched instrument).');
    throw new MidiInputError('no-notes', 'That file has no notes.');
  }
  notes.sort(compareNotes);
  for (const n of notes) {
    if (n.endSec > limits.maxSeconds) {
      throw new MidiInputError('too-long', `That piece is longer than ${formatLimitSeconds(limits.maxSeconds)}; please send a shorter one.`);
    }
  }

  const tempos: TempoChange[] =
    !clock.smpte && clock.tempoMap.length > 0
      ? clock.tempoMap.map((t) => ({ timeSec: Math.round(clock.msAtTick(t.tick) * 1000) / 1e6, bpm: 60_000_000 / t.microsecondsPerBeat }))
      : [{ timeSec: 0, bpm: 120 }];
  if (tempos[0]!.timeSec > 0) tempos.unshift({ timeSec: 0, bpm: 120 });

  return {
    notes,
    pedals: mergeSpans(pedals),
    tempos,
    source: { ...(opts.name !== undefined ? { name: opts.name } : {}), ppq: midi.header.ticksPerBeat ?? midi.header.ticksPerFrame },
  };
}

/**
 * What readMidi and openMidiFile both start from: the structure checked, foreign chunks dropped, the file parsed,
 * its event count and its clock validated. Throws MidiInputError for anything unusable.
 */
function openChecked(bytes: Uint8Array, limits: MidiLimits): { checked: Uint8Array; midi: MidiData; clock: FileClock } {
  const checked = withoutForeignChunks(checkStructure(bytes, limits));
  const midi = parse(checked);
  let events = 0;
  for (const t of midi.tracks) events += t.length;
  if (events > limits.maxEvents) {
    throw new MidiInputError(
      'too-many-events',
      `That MIDI file has too many events (more than ${limits.maxEvents.toLocaleString('en')}); please send a simpler file.`,
    );
  }
  return { checked, midi, clock: fileClock(midi, limits) };
}

/** A MIDI file opened for writing into it (src/music/midi-continuation.ts): its tracks and its exact clock. */
export interface MidiFileClock extends Omit<FileClock, 'tempoMap' | 'smpte'> {
  /** The file as the parser reads it (foreign chunks and trailing junk dropped): header chunk, then track chunks. */
  bytes: Uint8Array;
  /** Where in `bytes` the track chunks start (the header chunk's length). */
  tracksAt: number;
  midi: MidiData;
  /** Ticks per quarter note; undefined for SMPTE time division (fixed ticks per second). */
  ppq: number | undefined;
}

/** Opens a file readMidi accepts (same limits) for writing into it; throws MidiInputError as readMidi does. */
export function openMidiFile(bytes: Uint8Array, opts: Partial<MidiLimits> = {}): MidiFileClock {
  const { checked, midi, clock } = openChecked(bytes, { ...DEFAULT_MIDI_LIMITS, ...opts });
  const { msAtTick, tickAtMs, microsecondsPerBeatAt } = clock;
  return { bytes: checked, tracksAt: 8 + readU32(checked, 4), midi, ppq: midi.header.ticksPerBeat, msAtTick, tickAtMs, microsecondsPerBeatAt };
}

/**
 * NoteSequence → a Standard MIDI File: one piano track (program 0) at 120 bpm, velocities kept,
 * sustain pedal as CC64 when present. 500 ticks per quarter at 120 bpm makes a tick exactly one
 * millisecond, so integer-millisecond sequences (everything the tokenizer produces) survive
 * write → read unchanged.
 */
export function writeMidi(seq: NoteSequence): Uint8Array {
  const toTick = (sec: number) => Math.max(0, Math.round(sec * 1000));
  const tempoTrack: MidiEvent[] = [
    { deltaTime: 0, meta: true, type: 'setTempo', microsecondsPerBeat: DEFAULT_MICROSECONDS_PER_BEAT },
    { deltaTime: 0, meta: true, type: 'timeSignature', numerator: 4, denominator: 4, metronome: 24, thirtyseconds: 8 },
    { deltaTime: 0, meta: true, type: 'endOfTrack' },
  ];
  const piano = pianoTrack(seq.notes, seq.pedals, toTick, { channel: 0, name: 'Piano' });
  return encodeSmf(WRITE_PPQ, [tempoTrack, piano]);
}

/**
 * One track of notes and sustain pedal on `channel`, as an acoustic grand (program 0), times in seconds through
 * `toTick`. At equal ticks releases come first, then pedal presses, then new notes, so re-struck notes pair correctly.
 */
export function pianoTrack(notes: readonly Note[], pedals: readonly PedalSpan[], toTick: (sec: number) => number, opts: { channel: number; name: string }): MidiEvent[] {
  const { channel } = opts;
  const timed: [number, number, MidiEvent][] = [];
  for (const n of notes) {
    const pitch = Math.min(127, Math.max(0, Math.round(n.pitch)));
    const velocity = Math.min(127, Math.max(1, Math.round(n.velocity)));
    const start = toTick(n.startSec);
    const end = Math.max(start, toTick(n.endSec));
    timed.push([start, 2, { deltaTime: 0, type: 'noteOn', channel, noteNumber: pitch, velocity }]);
    timed.push([end, 0, { deltaTime: 0, type: 'noteOff', channel, noteNumber: pitch, velocity: 0 }]);
  }
  for (const p of mergeSpans([...pedals])) {
    timed.push([toTick(p.startSec), 1, { deltaTime: 0, type: 'controller', channel, controllerType: SUSTAIN_CC, value: 127 }]);
    timed.push([toTick(p.endSec), 0, { deltaTime: 0, type: 'controller', channel, controllerType: SUSTAIN_CC, value: 0 }]);
  }
  timed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const track: MidiEvent[] = [
    { deltaTime: 0, meta: true, type: 'trackName', text: opts.name },
    { deltaTime: 0, type: 'programChange', channel, programNumber: 0 },
  ];
  let last = 0;
  for (const [tick, , e] of timed) {
    track.push({ ...e, deltaTime: tick - last });
    last = tick;
  }
  track.push({ deltaTime: 0, meta: true, type: 'endOfTrack' });
  return track;
}
