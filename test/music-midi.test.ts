import { describe, expect, it } from 'vitest';
import type { MidiEvent } from 'midi-file';
import { MidiInputError, readMidi, roundHalfEven, writeMidi } from '../src/music/midi.js';
import { encodeSmf } from '../src/music/smf-writer.js';
import type { MidiInputErrorCode } from '../src/music/midi.js';
import type { NoteSequence } from '../src/music/note-sequence.js';
import { mulberry32 } from '../src/util/rng.js';

/** A note as [startTick, durationTicks, pitch, velocity, channel]. */
type TickNote = [number, number, number, number, number?];

/** Build a format-1 file: a tempo track plus one note track per entry of `tracks`. */
function buildMidi(opts: {
  ppq?: number;
  tempos?: [tick: number, microsecondsPerBeat: number][];
  tracks: TickNote[][];
  pedals?: [tick: number, value: number][];
}): Uint8Array {
  const tempoEvents: [number, MidiEvent][] = (opts.tempos ?? []).map(([tick, us]) => [
    tick,
    { deltaTime: 0, meta: true, type: 'setTempo', microsecondsPerBeat: us },
  ]);
  const toTrack = (timed: [number, MidiEvent][]): MidiEvent[] => {
    timed.sort((a, b) => a[0] - b[0]);
    let last = 0;
    const out = timed.map(([tick, e]) => {
      const withDelta = { ...e, deltaTime: tick - last };
      last = tick;
      return withDelta;
    });
    out.push({ deltaTime: 0, meta: true, type: 'endOfTrack' });
    return out;
  };
  const noteTracks = opts.tracks.map((notes, i) => {
    const timed: [number, MidiEvent][] = [];
    for (const [start, dur, pitch, velocity, channel = 0] of notes) {
      timed.push([start, { deltaTime: 0, type: 'noteOn', channel, noteNumber: pitch, velocity }]);
      timed.push([start + dur, { deltaTime: 0, type: 'noteOff', channel, noteNumber: pitch, velocity: 0 }]);
    }
    if (i === 0) {
      for (const [tick, value] of opts.pedals ?? []) {
        timed.push([tick, { deltaTime: 0, type: 'controller', channel: 0, controllerType: 64, value }]);
      }
    }
    return toTrack(timed);
  });
  const tracks = [toTrack(tempoEvents), ...noteTracks];
  return encodeSmf(opts.ppq ?? 480, tracks);
}

function codeOf(f: () => unknown): MidiInputErrorCode | 'no-error' | 'other-error' {
  try {
    f();
    return 'no-error';
  } catch (e) {
    if (e instanceof MidiInputError) {
      expect(e.message.length).toBeGreaterThan(10);
      return e.code;
    }
    return 'other-error';
  }
}

const simple = () => buildMidi({ tempos: [[0, 500_000]], tracks: [[[0, 480, 60, 80], [480, 480, 64, 90]]] });

describe('readMidi timing', () => {
  it("reads a chord struck in two tracks together with timing 'exact', where the reference's per-track rounding drifts", () => {
    // 90 bpm at 480 ppq: a tick is 1.389 ms. 200 pedal events a tick apart in the first track round to 1 ms each in
    // the reference reader, so that track's clock falls 78 ms behind; the second track has none.
    const pedals: [number, number][] = Array.from({ length: 200 }, (_, i) => [i + 1, i % 2 === 0 ? 127 : 0]);
    const bytes = buildMidi({ tempos: [[0, 666_667]], tracks: [[[960, 480, 60, 80]], [[960, 480, 48, 80]]], pedals });
    const startOf = (timing: 'reference' | 'exact', pitch: number) => readMidi(bytes, { timing }).notes.find((n) => n.pitch === pitch)!.startSec;
    expect(startOf('reference', 48) - startOf('reference', 60)).toBeGreaterThan(0.07);
    expect(startOf('exact', 60)).toBe(startOf('exact', 48));
    expect(startOf('exact', 60)).toBe(1.333); // 960 ticks at 666,667 µs per 480
    expect(startOf('reference', 48)).toBe(1.333);
  });

  it('converts ticks with the tempo map, 120 bpm by default', () => {
    const seq = readMidi(buildMidi({ tracks: [[[0, 480, 60, 80], [960, 240, 62, 70]]] }));
    expect(seq.notes.map((n) => [n.pitch, n.velocity, n.startSec, n.endSec])).toEqual([
      [60, 80, 0, 0.5],
      [62, 70, 1, 1.25],
    ]);
    expect(seq.tempos).toEqual([{ timeSec: 0, bpm: 120 }]);
  });

  it('applies tempo changes from another track, even inside one delta', () => {
    // 120 bpm for the first beat, then 60 bpm: tick 960 is 0.5 s + 1 s.
    const seq = readMidi(buildMidi({ tempos: [[0, 500_000], [480, 1_000_000]], tracks: [[[960, 480, 60, 80]]] }));
    expect(seq.notes[0]).toMatchObject({ startSec: 1.5, endSec: 2.5 });
    expect(seq.tempos).toEqual([
      { timeSec: 0, bpm: 120 },
      { timeSec: 0.5, bpm: 60 },
    ]);
  });

  it('rounds each event delta to whole milliseconds, half to even, and sums them (as TMIDIX)', () => {
    // ppq 480 at 120 bpm: one tick = 1.0417 ms. Twelve one-tick steps round to 1 ms each = 12 ms,
    // where exact conversion would give 12.5 ms.
    const notes: TickNote[] = Array.from({ length: 12 }, (_, i) => [i + 1, 1, 60 + (i % 2), 80] as TickNote);
    // Note-off of one and note-on of the next share a tick; the stream has one event per tick.
    const seq = readMidi(buildMidi({ tracks: [notes] }));
    expect(seq.notes.map((n) => Math.round(n.startSec * 1000))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(roundHalfEven(0.5)).toBe(0);
    expect(roundHalfEven(1.5)).toBe(2);
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(2.5000001)).toBe(3);
  });

  it('merges tracks, drops drums, sorts chords top-down', () => {
    const seq = readMidi(
      buildMidi({ tracks: [[[0, 480, 60, 80]], [[0, 480, 67, 80], [0, 480, 36, 100, 9]]] }),
    );
    expect(seq.notes.map((n) => n.pitch)).toEqual([67, 60]);
  });

  it('reads sustain pedal spans (CC64 >= 64 down, < 64 up)', () => {
    const seq = readMidi(buildMidi({ tracks: [[[0, 480, 60, 80]]], pedals: [[0, 127], [240, 100], [480, 10], [960, 64]] }));
    // Down at 0 (value 100 is still "down"), up at 0.5 s; pressed again at 1 s on the last tick: no span.
    expect(seq.pedals).toEqual([{ startSec: 0, endSec: 0.5 }]);
  });

  it('pairs repeated note-ons first-in-first-out and ends unreleased notes at the end of their track', () => {
    const track: MidiEvent[] = [
      { deltaTime: 0, type: 'noteOn', channel: 0, noteNumber: 60, velocity: 50 },
      { deltaTime: 480, type: 'noteOn', channel: 0, noteNumber: 60, velocity: 60 },
      { deltaTime: 480, type: 'noteOff', channel: 0, noteNumber: 60, velocity: 0 },
      { deltaTime: 0, type: 'noteOn', channel: 0, noteNumber: 72, velocity: 70 },
      { deltaTime: 960, meta: true, type: 'endOfTrack' },
    ];
    const bytes = encodeSmf(480, [track]);
    const seq = readMidi(bytes);
    expect(seq.notes.map((n) => [n.pitch, n.velocity, n.startSec, n.endSec])).toEqual([
      [60, 50, 0, 1],
      [60, 60, 0.5, 2],
      [72, 70, 1, 2],
    ]);
  });
});

describe('writeMidi', () => {
  it('round-trips integer-millisecond sequences exactly, with velocities and pedal', () => {
    const rand = mulberry32(7);
    for (let trial = 0; trial < 20; trial++) {
      // Distinct pitches: overlapping notes of one pitch are ambiguous in MIDI itself.
      const pitches = Array.from({ length: 88 }, (_, i) => 21 + i).sort(() => rand() - 0.5);
      const notes = Array.from({ length: 1 + Math.floor(rand() * 40) }, (_, i) => {
        const start = Math.floor(rand() * 20_000);
        return {
          pitch: pitches[i]!,
          velocity: 1 + Math.floor(rand() * 127),
          startSec: start / 1000,
          endSec: (start + 1 + Math.floor(rand() * 3000)) / 1000,
        };
      });
      const pedals = rand() < 0.5 ? [] : [{ startSec: 0.1, endSec: 1.234 }, { startSec: 2, endSec: 30 }];
      const seq: NoteSequence = { notes, pedals, tempos: [{ timeSec: 0, bpm: 120 }], source: {} };
      const back = readMidi(writeMidi(seq));
      const key = (n: NoteSequence['notes'][number]) => `${n.startSec}|${n.pitch}|${n.endSec}|${n.velocity}`;
      expect(back.notes.map(key).sort()).toEqual(notes.map(key).sort());
      expect(back.pedals).toEqual(pedals);
      expect(back.tempos).toEqual([{ timeSec: 0, bpm: 120 }]);
    }
  });
});

describe('readMidi hostile input', () => {
  it('truncated file', () => {
    const ok = simple();
    expect(codeOf(() => readMidi(ok.subarray(0, ok.length - 5)))).toBe('truncated');
    expect(codeOf(() => readMidi(ok.subarray(0, 10)))).toBe('truncated');
  });

  it('event cut off inside a well-formed chunk', () => {
    // MTrk of 3 bytes: delta 0, note-on status, pitch — the velocity byte is missing.
    const header = [0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 0, 0, 1, 0x01, 0xe0];
    const track = [0x4d, 0x54, 0x72, 0x6b, 0, 0, 0, 3, 0x00, 0x90, 60];
    expect(codeOf(() => readMidi(Uint8Array.from([...header, ...track])))).toBe('truncated');
  });

  it('zero notes', () => {
    expect(codeOf(() => readMidi(buildMidi({ tempos: [[0, 500_000]], tracks: [[]] })))).toBe('no-notes');
    const headerOnly = Uint8Array.from([0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 0, 0, 0, 0x01, 0xe0]);
    expect(codeOf(() => readMidi(headerOnly))).toBe('no-notes');
  });

  it('drums only', () => {
    expect(codeOf(() => readMidi(buildMidi({ tracks: [[[0, 100, 36, 100, 9], [100, 100, 38, 100, 9]]] })))).toBe('drums-only');
  });

  it('5,000 tracks', () => {
    const header = [0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 1, 0x13, 0x88, 0x01, 0xe0];
    const track = [0x4d, 0x54, 0x72, 0x6b, 0, 0, 0, 4, 0x00, 0xff, 0x2f, 0x00];
    const bytes = new Uint8Array(header.length + 5000 * track.length);
    bytes.set(header);
    for (let i = 0; i < 5000; i++) bytes.set(track, header.length + i * track.length);
    expect(codeOf(() => readMidi(bytes))).toBe('too-many-tracks');
  });

  it('non-MIDI bytes', () => {
    expect(codeOf(() => readMidi(new TextEncoder().encode('RIFF....WAVEfmt this is audio')))).toBe('not-midi');
    expect(codeOf(() => readMidi(new Uint8Array(0)))).toBe('not-midi');
    expect(codeOf(() => readMidi(new TextEncoder().encode('<html>hello</html>')))).toBe('not-midi');
  });

  it('garbage after the header', () => {
    const header = [0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 0, 0, 1, 0x01, 0xe0];
    const track = [0x4d, 0x54, 0x72, 0x6b, 0, 0, 0, 3, 0x00, 0xf4, 0x00];
    expect(codeOf(() => readMidi(Uint8Array.from([...header, ...track])))).toBe('corrupt');
  });

  it('huge or zero tempo', () => {
    expect(codeOf(() => readMidi(buildMidi({ tempos: [[0, 1]], tracks: [[[0, 480, 60, 80]]] })))).toBe('bad-tempo');
    expect(codeOf(() => readMidi(buildMidi({ tempos: [[0, 0]], tracks: [[[0, 480, 60, 80]]] })))).toBe('bad-tempo');
    expect(codeOf(() => readMidi(buildMidi({ tempos: [[0, 16_000_000]], tracks: [[[0, 480, 60, 80]]] })))).toBe('bad-tempo');
  });

  it('1 hour of notes', () => {
    const notes: TickNote[] = Array.from({ length: 3600 }, (_, i) => [i * 960, 480, 60 + (i % 12), 80] as TickNote);
    expect(codeOf(() => readMidi(buildMidi({ tracks: [notes] })))).toBe('too-long');
    // One note held for an hour is just as long.
    expect(codeOf(() => readMidi(buildMidi({ tracks: [[[0, 3600 * 960, 60, 80]]] })))).toBe('too-long');
  });

  it('too many notes', () => {
    const notes: TickNote[] = Array.from({ length: 20_001 }, (_, i) => [i * 10, 5, 40 + (i % 40), 80] as TickNote);
    expect(codeOf(() => readMidi(buildMidi({ tracks: [notes] })))).toBe('too-many-notes');
    expect(codeOf(() => readMidi(simple(), { maxNotes: 1 }))).toBe('too-many-notes');
  });

  it('oversize bytes', () => {
    const big = new Uint8Array(1024 * 1024 + 1);
    big.set(simple());
    expect(codeOf(() => readMidi(big))).toBe('too-large');
    expect(codeOf(() => readMidi(simple(), { maxBytes: 20 }))).toBe('too-large');
  });

  it('random corruption of a valid file only ever raises MidiInputError', () => {
    const rand = mulberry32(42);
    const base = buildMidi({
      tempos: [[0, 500_000], [960, 400_000]],
      tracks: [Array.from({ length: 50 }, (_, i) => [i * 120, 240, 50 + (i % 30), 70] as TickNote)],
      pedals: [[0, 127], [2000, 0]],
    });
    const outcomes = new Set<string>();
    for (let trial = 0; trial < 300; trial++) {
      const bytes = base.slice();
      const flips = 1 + Math.floor(rand() * 8);
      for (let k = 0; k < flips; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      const cut = rand() < 0.3 ? Math.floor(rand() * bytes.length) : bytes.length;
      const code = codeOf(() => readMidi(bytes.subarray(0, cut)));
      expect(code).not.toBe('other-error');
      outcomes.add(code);
    }
    // The fuzzing really reaches both acceptance and rejection paths.
    expect(outcomes.has('no-error')).toBe(true);
    expect(outcomes.size).toBeGreaterThan(2);
  });
});
