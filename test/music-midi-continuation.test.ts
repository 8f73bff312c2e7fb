import { describe, it, expect } from 'vitest';
import { parseMidi, writeMidi as writeSmf, type MidiEvent } from 'midi-file';
import { openPromptFile } from '../src/music/midi-continuation.js';
import { readMidi } from '../src/music/midi.js';
import type { Note } from '../src/music/note-sequence.js';

const PPQ = 480;
const BAR = 3 * PPQ; // 3/4

/** Absolute-tick events → delta-timed track. */
function track(events: [number, MidiEvent][]): MidiEvent[] {
  let last = 0;
  return [...events.sort((a, b) => a[0] - b[0])].map(([tick, e]) => {
    const out = { ...e, deltaTime: tick - last } as MidiEvent;
    last = tick;
    return out;
  }).concat([{ deltaTime: 0, meta: true, type: 'endOfTrack' } as MidiEvent]);
}

/** A flute melody on channel 3 in 3/4: 90 bpm, then 72 bpm from bar 3; one quarter note per beat for three bars. */
function userFile(format: 0 | 1): Uint8Array {
  const conductor: [number, MidiEvent][] = [
    [0, { deltaTime: 0, meta: true, type: 'setTempo', microsecondsPerBeat: 666_667 }],
    [0, { deltaTime: 0, meta: true, type: 'timeSignature', numerator: 3, denominator: 4, metronome: 24, thirtyseconds: 8 }],
    [0, { deltaTime: 0, meta: true, type: 'text', text: 'written by hand' }],
    [2 * BAR, { deltaTime: 0, meta: true, type: 'setTempo', microsecondsPerBeat: 833_333 }],
  ];
  const melody: [number, MidiEvent][] = [[0, { deltaTime: 0, type: 'programChange', channel: 3, programNumber: 73 }]];
  [72, 74, 76, 77, 76, 74, 72, 71, 72].forEach((pitch, i) => {
    melody.push([i * PPQ, { deltaTime: 0, type: 'noteOn', channel: 3, noteNumber: pitch, velocity: 80 }]);
    melody.push([(i + 1) * PPQ - 20, { deltaTime: 0, type: 'noteOff', channel: 3, noteNumber: pitch, velocity: 0 }]);
  });
  const tracks = format === 0 ? [track([...conductor, ...melody])] : [track(conductor), track(melody)];
  return new Uint8Array(writeSmf({ header: { format, numTracks: tracks.length, ticksPerBeat: PPQ }, tracks }));
}

/** Raw track chunks of a file. */
function chunks(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  for (let at = 8 + view.getUint32(4); at + 8 <= bytes.length; at += 8 + view.getUint32(at + 4)) out.push(bytes.slice(at, at + 8 + view.getUint32(at + 4)));
  return out;
}

/** Absolute ticks of a track's note-ons. */
function onsets(events: MidiEvent[]): number[] {
  let tick = 0;
  const out: number[] = [];
  for (const e of events) {
    tick += e.deltaTime;
    if (e.type === 'noteOn' && e.velocity > 0) out.push(tick);
  }
  return out;
}

// The prompt's last note starts at beat 8, in the 72-bpm part (833.333 ms a beat). The continuation is timed from there.
const BEAT = 60 / 72;
const continuation: Note[] = [
  { pitch: 67, velocity: 70, startSec: BEAT, endSec: 2 * BEAT },
  { pitch: 64, velocity: 70, startSec: 2 * BEAT, endSec: 3 * BEAT },
  { pitch: 60, velocity: 70, startSec: 3.5 * BEAT, endSec: 5 * BEAT },
];

describe('the continuation on the clock of the user\'s file', () => {
  it('returns the user\'s file unchanged, plus a piano track of the continuation on its tempo map', () => {
    const original = userFile(1);
    const full = openPromptFile(original).withContinuation({ notes: continuation, pedals: [] }, 'Maestro (baroque)');
    const parsed = parseMidi(full);
    expect(parsed.header.format).toBe(1);
    expect(parsed.header.ticksPerBeat).toBe(PPQ);
    expect(parsed.tracks).toHaveLength(3);
    // Byte for byte: the header apart from the track count, and every original track.
    expect(full.subarray(0, 10)).toEqual(original.subarray(0, 10));
    expect(chunks(full).slice(0, 2)).toEqual(chunks(original));
    // The new track: named, a piano, on a channel the user's file does not use, on beats 9, 10 and 11.5.
    const added = parsed.tracks[2]!;
    expect(added[0]).toMatchObject({ type: 'trackName', text: 'Maestro (baroque)' });
    expect(added.find((e) => e.type === 'programChange')).toMatchObject({ channel: 0, programNumber: 0 });
    expect(onsets(added)).toEqual([9 * PPQ, 10 * PPQ, 11.5 * PPQ]);
    // Read back, the prompt's notes are what they were, and the continuation follows its last onset.
    const prompt = readMidi(original).notes;
    const back = readMidi(full).notes;
    expect(back).toHaveLength(prompt.length + continuation.length);
    for (const n of prompt) expect(back).toContainEqual(n);
    const lastOnset = Math.max(...prompt.map((n) => n.startSec));
    const added3 = back.filter((n) => !prompt.some((p) => p.pitch === n.pitch && p.startSec === n.startSec));
    // Within a few ms: reading rounds each event to whole ms as TMIDIX does, so each track's clock drifts a little.
    added3.forEach((n, i) => expect(Math.abs(n.startSec - (lastOnset + continuation[i]!.startSec))).toBeLessThan(0.008));
  });

  it('turns a format-0 file into format 1, its one track unchanged, and the added track takes a free channel', () => {
    const original = userFile(0);
    const full = openPromptFile(original).withContinuation({ notes: continuation, pedals: [] }, 'Maestro (romantic)');
    const parsed = parseMidi(full);
    expect(parsed.header.format).toBe(1);
    expect(parsed.tracks).toHaveLength(2);
    expect(chunks(full)[0]).toEqual(chunks(original)[0]);
    expect(onsets(parsed.tracks[1]!)).toEqual([9 * PPQ, 10 * PPQ, 11.5 * PPQ]);
    // A second round (the bot's "Continue further") appends another track on yet another channel.
    const again = parseMidi(openPromptFile(full).withContinuation({ notes: continuation, pedals: [] }, 'Maestro (romantic)'));
    expect(again.tracks).toHaveLength(3);
    expect(again.tracks[2]!.find((e) => e.type === 'programChange')).toMatchObject({ channel: 1 });
  });

  it('places the continuation on an SMPTE-timed file\'s clock too (25 frames of 40 ticks: a tick a millisecond)', () => {
    const melody: [number, MidiEvent][] = [60, 62, 64].flatMap((pitch, i) => [
      [i * 400, { deltaTime: 0, type: 'noteOn', channel: 0, noteNumber: pitch, velocity: 70 }],
      [i * 400 + 350, { deltaTime: 0, type: 'noteOff', channel: 0, noteNumber: pitch, velocity: 0 }],
    ] as [number, MidiEvent][]);
    const smpte = new Uint8Array(writeSmf({ header: { format: 0, numTracks: 1, framesPerSecond: 25, ticksPerFrame: 40 }, tracks: [track(melody)] }));
    const full = parseMidi(openPromptFile(smpte).withContinuation({ notes: continuation, pedals: [] }, 'M'));
    expect(full.header).toMatchObject({ format: 1, framesPerSecond: 25, ticksPerFrame: 40 });
    expect(onsets(full.tracks[1]!)).toEqual(continuation.map((n) => 800 + Math.round(n.startSec * 1000)));
    // Alone, with no beats to keep: 120 bpm at 500 ticks a quarter, a tick a millisecond.
    const alone = parseMidi(openPromptFile(smpte).continuationAlone({ notes: continuation, pedals: [] }, 'M'));
    expect(alone.header.ticksPerBeat).toBe(500);
    expect(onsets(alone.tracks[1]!)).toEqual(continuation.map((n) => Math.round(n.startSec * 1000)));
  });

  it('writes the continuation alone at the resolution, tempo and meter in force where the prompt ended', () => {
    const alone = parseMidi(openPromptFile(userFile(1)).continuationAlone({ notes: continuation, pedals: [] }, 'Maestro (vanguard)'));
    expect(alone.header.ticksPerBeat).toBe(PPQ);
    expect(alone.tracks[0]!.find((e) => e.type === 'setTempo')).toMatchObject({ microsecondsPerBeat: 833_333 });
    expect(alone.tracks[0]!.find((e) => e.type === 'timeSignature')).toMatchObject({ numerator: 3, denominator: 4 });
    expect(onsets(alone.tracks[1]!)).toEqual([PPQ, 2 * PPQ, 3.5 * PPQ]);
    const back = readMidi(openPromptFile(userFile(1)).continuationAlone({ notes: continuation, pedals: [] }, 'x')).notes;
    back.forEach((n, i) => expect(Math.abs(n.startSec - continuation[i]!.startSec)).toBeLessThan(0.002));
  });
});
