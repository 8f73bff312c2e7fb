/**
 * A continuation written on the clock of the user's own MIDI file.
 *
 * Musicians take the result into a DAW or a score editor. A fresh file at 120 bpm (writeMidi) sounds the same but
 * moves every note off the user's grid: a melody written at 90 bpm in 3/4 comes back as 4/4 at 120 with its beats at
 * odd fractions, and a DAW that reads a clip in beats plays it at the wrong speed. So the prompt + continuation file
 * is the user's file — its track chunks byte for byte, with their tempo map, meter and resolution — with the
 * continuation appended as a track of its own, and the continuation alone is written at the tempo and meter in force where the prompt ended.
 */
import type { MidiEvent } from 'midi-file';
import { DRUM_CHANNEL, openMidiFile, pianoTrack, type MidiFileClock, type MidiLimits } from './midi.js';
import type { NoteSequence } from './note-sequence.js';
import { encodeSmf, encodeTrack } from './smf-writer.js';

/** The user's file, opened once for all the candidates of a request (parsing it is the costly part). */
export interface PromptMidiFile {
  /**
   * The user's file with the continuation appended as one more track, named `trackName`. `continuation` is timed
   * from the prompt's last onset (the continuation's 0, as compose() returns it); its notes go on the file's own clock
   * from that onset. The original track chunks are copied unchanged; a format-0 file becomes format 1, the only change
   * to its header. The continuation's sustain pedal, if any, goes on its track's own channel.
   */
  withContinuation(continuation: ContinuationNotes, trackName: string): Uint8Array;
  /**
   * The continuation alone, at the user's resolution, tempo and meter where the prompt ended: dropped in a DAW at the
   * beat of the prompt's last note, it lines up with it. SMPTE-timed prompts (no beats) get writeMidi's 120-bpm clock.
   */
  continuationAlone(continuation: ContinuationNotes, trackName: string): Uint8Array;
}

/** What a continuation track holds: its notes and sustain pedal, timed from the prompt's last onset. */
export type ContinuationNotes = Pick<NoteSequence, 'notes' | 'pedals'>;

/** Opens the prompt's MIDI bytes under the limits it was read with; throws MidiInputError as readMidi does. */
export function openPromptFile(original: Uint8Array, limits?: Partial<MidiLimits>): PromptMidiFile {
  const file = openMidiFile(original, limits);
  const { lastOnsetTick, channels, meter } = promptShape(file);
  const startMs = file.msAtTick(lastOnsetTick);
  // A channel of its own, so that a General MIDI player gives it a piano whatever instrument the user's part is.
  const channel = [...Array(16).keys()].find((c) => c !== DRUM_CHANNEL && !channels.has(c)) ?? 0;
  const ppq = file.ppq ?? 500;
  const microsecondsPerBeat = file.ppq === undefined ? 500_000 : file.microsecondsPerBeatAt(lastOnsetTick);
  const msPerTick = microsecondsPerBeat / 1000 / ppq;
  return {
    withContinuation(continuation, trackName) {
      const toTick = (sec: number) => Math.max(0, Math.round(file.tickAtMs(startMs + sec * 1000)));
      const appended = encodeTrack(pianoTrack(continuation.notes, continuation.pedals, toTick, { channel, name: trackName }));
      const header = file.bytes.slice(0, file.tracksAt);
      const tracks = ((header[10]! << 8) | header[11]!) + 1;
      if (header[8] === 0 && header[9] === 0) header[9] = 1; // format 0 allows one track only
      header[10] = (tracks >> 8) & 0xff;
      header[11] = tracks & 0xff;
      const out = new Uint8Array(file.bytes.length + appended.length);
      out.set(header, 0);
      out.set(file.bytes.subarray(file.tracksAt), file.tracksAt);
      out.set(appended, file.bytes.length);
      return out;
    },
    continuationAlone(continuation, trackName) {
      const toTick = (sec: number) => Math.max(0, Math.round((sec * 1000) / msPerTick));
      const conductor: MidiEvent[] = [
        { deltaTime: 0, meta: true, type: 'setTempo', microsecondsPerBeat },
        { deltaTime: 0, meta: true, type: 'timeSignature', numerator: meter.numerator, denominator: meter.denominator, metronome: meter.metronome, thirtyseconds: meter.thirtyseconds },
        { deltaTime: 0, meta: true, type: 'endOfTrack' },
      ];
      return encodeSmf(ppq, [conductor, pianoTrack(continuation.notes, continuation.pedals, toTick, { channel: 0, name: trackName })]);
    },
  };
}

interface Meter {
  numerator: number;
  denominator: number;
  metronome: number;
  thirtyseconds: number;
}

/** Where the prompt's last note starts, which channels it uses, and the meter in force there (4/4 if none given). */
function promptShape(file: MidiFileClock): { lastOnsetTick: number; channels: Set<number>; meter: Meter } {
  let lastOnsetTick = 0;
  const channels = new Set<number>();
  const meters: { tick: number; meter: Meter }[] = [];
  for (const track of file.midi.tracks) {
    let tick = 0;
    for (const e of track) {
      tick += e.deltaTime;
      if (e.type === 'noteOn' && e.velocity > 0 && e.channel !== DRUM_CHANNEL) lastOnsetTick = Math.max(lastOnsetTick, tick);
      if ('channel' in e && typeof e.channel === 'number') channels.add(e.channel);
      if (e.type === 'timeSignature') meters.push({ tick, meter: { numerator: e.numerator, denominator: e.denominator, metronome: e.metronome, thirtyseconds: e.thirtyseconds } });
    }
  }
  const inForce = meters.filter((m) => m.tick <= lastOnsetTick).sort((a, b) => a.tick - b.tick).pop();
  return { lastOnsetTick, channels, meter: inForce?.meter ?? { numerator: 4, denominator: 4, metronome: 24, thirtyseconds: 8 } };
}
