/**
 * Music I/O speed: how fast hostile uploads are rejected (the budget is < 1 s each), and how fast
 * real MIDI is read and tokenized. Run: `npx tsx bench/music.ts`. Prints numbers, asserts nothing.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MidiEvent } from 'midi-file';
import { MidiInputError, readMidi, writeMidi } from '../src/music/midi.js';
import { encodeSmf } from '../src/music/smf-writer.js';
import { gigaTokenizer } from '../src/music/tokenizer.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.MAESTRO_SHARED ?? path.resolve(repoRoot, '../shared');

function noteTrack(notes: [start: number, dur: number, pitch: number][]): MidiEvent[] {
  const timed: [number, MidiEvent][] = [];
  for (const [s, d, p] of notes) {
    timed.push([s, { deltaTime: 0, type: 'noteOn', channel: 0, noteNumber: p, velocity: 80 }]);
    timed.push([s + d, { deltaTime: 0, type: 'noteOff', channel: 0, noteNumber: p, velocity: 0 }]);
  }
  timed.sort((a, b) => a[0] - b[0]);
  let last = 0;
  const out = timed.map(([t, e]) => {
    const ev = { ...e, deltaTime: t - last };
    last = t;
    return ev;
  });
  out.push({ deltaTime: 0, meta: true, type: 'endOfTrack' });
  return out;
}

function manyTracks(n: number): Uint8Array {
  const header = [0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 1, (n >> 8) & 0xff, n & 0xff, 0x01, 0xe0];
  const track = [0x4d, 0x54, 0x72, 0x6b, 0, 0, 0, 4, 0x00, 0xff, 0x2f, 0x00];
  const bytes = new Uint8Array(header.length + n * track.length);
  bytes.set(header);
  for (let i = 0; i < n; i++) bytes.set(track, header.length + i * track.length);
  return bytes;
}

function timeIt(fn: () => unknown, repeats = 5): { ms: number; outcome: string } {
  let best = Infinity;
  let outcome = 'ok';
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    try {
      fn();
      outcome = 'ok';
    } catch (e) {
      outcome = e instanceof MidiInputError ? e.code : `crash: ${(e as Error).message}`;
    }
    best = Math.min(best, performance.now() - t0);
  }
  return { ms: best, outcome };
}

export function benchMusic(): Record<string, { ms: number; outcome: string }> {
  const hostile: Record<string, Uint8Array> = {
    '5,000 tracks': manyTracks(5000),
    '1 hour of notes (3,600 notes)': encodeSmf(480, [noteTrack(Array.from({ length: 3600 }, (_, i) => [i * 960, 480, 60 + (i % 12)]))]),
    '1 hour, ~60k notes (1 MB cap off)': encodeSmf(480, [noteTrack(Array.from({ length: 60_000 }, (_, i) => [i * 58, 40, 40 + (i % 40)]))]),
    'oversize (8 MiB)': new Uint8Array(8 * 1024 * 1024).fill(0x4d),
  };
  const results: Record<string, { ms: number; outcome: string }> = {};
  for (const [name, bytes] of Object.entries(hostile)) {
    const opts = name.includes('cap off') ? { maxBytes: 64 * 1024 * 1024, maxNotes: 1_000_000 } : {};
    results[`reject: ${name}`] = timeIt(() => readMidi(bytes, opts));
  }
  const seed = path.join(shared, 'prompts/inicio_para_elisa.mid');
  if (existsSync(seed)) {
    const bytes = readFileSync(seed);
    results['read+encode inicio_para_elisa.mid'] = timeIt(() => gigaTokenizer.encode(readMidi(bytes)), 20);
  }
  const big = path.join(shared, 'datasets/maestro-thesis/2018/MIDI-Unprocessed_Recital13-15_MID--AUDIO_13_R1_2018_wav--3.midi');
  if (existsSync(big)) {
    const bytes = readFileSync(big);
    const seq = readMidi(bytes, { maxBytes: 64 << 20, maxNotes: 1e7, maxSeconds: 86400 });
    results[`read MAESTRO Chopin op. 58 (${seq.notes.length} notes)`] = timeIt(() => readMidi(bytes, { maxBytes: 64 << 20, maxNotes: 1e7, maxSeconds: 86400 }));
    results['encode it'] = timeIt(() => gigaTokenizer.encode(seq));
    results['writeMidi it'] = timeIt(() => writeMidi(seq));
  }
  return results;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  for (const [name, r] of Object.entries(benchMusic())) console.log(`${name.padEnd(50)} ${r.ms.toFixed(1).padStart(8)} ms  ${r.outcome}`);
}
