/**
 * NoteSequence (or MIDI bytes) → stereo PCM at 48 kHz, the rate Opus works at, so no resampling
 * happens anywhere. Offline: the synthesizer is driven event by event and rendered in large blocks
 * as fast as the CPU allows, then the release tail rings out and the result is peak-normalised.
 */
import { readMidi } from '../music/midi.js';
import { durationSec } from '../music/note-sequence.js';
import type { NoteSequence } from '../music/note-sequence.js';
import { RenderError } from './errors.js';
import { createSynth, SAMPLE_RATE, sharedSynth, soundFontPath } from './fluidsynth.js';
import type { Synth } from './fluidsynth.js';

export interface Pcm {
  sampleRate: typeof SAMPLE_RATE;
  /** [left, right], equal lengths. */
  channels: Float32Array[];
}

export interface RenderOptions {
  /** Longest release tail after the last note or pedal, in seconds (default 3); stops early once silent. */
  tailSec?: number;
  /** Scale so the loudest sample sits at `peakDbfs` (default true). FluidSynth itself peaks around 0.1–0.2. */
  normalize?: boolean;
  /** Target peak in dBFS when normalising (default −1). */
  peakDbfs?: number;
  /** Refuse longer pieces (default 12 minutes: MIDI input is capped at 10, and 12 min of stereo float PCM is ~280 MB). */
  maxSeconds?: number;
  /** Use a newly created synthesizer instead of the per-thread one (slower: reloads the SoundFont). */
  freshSynth?: boolean;
  /** SoundFont file (default: soundfonts/piano.sf3 or $MAESTRO_SOUNDFONT). */
  soundFont?: string;
  /** MIDI program to play with (default 0, acoustic grand). */
  program?: number;
}

const CHANNEL = 0;
const SUSTAIN_CC = 64;
/** FluidSynth renders in 64-frame blocks; ending every render on a block boundary leaves nothing buffered. */
const FLUID_BLOCK = 64;
/** Largest chunk handed to the synthesizer in one call (the WASM side allocates a buffer this size). */
const MAX_CHUNK = 16_384;
/** Tail chunks of 100 ms; the tail ends at the first chunk quieter than SILENCE (about −100 dBFS raw). */
const TAIL_CHUNK = 4_800;
const SILENCE = 1e-5;

/** At equal times: releases before presses, so repeated notes and pedal changes retrigger cleanly. */
const enum Order {
  NoteOff = 0,
  PedalUp = 1,
  PedalDown = 2,
  NoteOn = 3,
}

interface SynthEvent {
  frame: number;
  order: Order;
  pitch: number;
  velocity: number;
}

function toFrame(sec: number): number {
  return Math.max(0, Math.round(sec * SAMPLE_RATE));
}

/** The note and pedal events of a sequence, sorted by frame; malformed notes are skipped. */
export function sequenceEvents(seq: NoteSequence): SynthEvent[] {
  const events: SynthEvent[] = [];
  for (const n of seq.notes) {
    if (!Number.isFinite(n.startSec) || !Number.isFinite(n.endSec) || !Number.isInteger(n.pitch)) continue;
    if (n.pitch < 0 || n.pitch > 127) continue;
    const velocity = Math.min(127, Math.max(1, Math.round(n.velocity)));
    const on = toFrame(n.startSec);
    const off = Math.max(on + 1, toFrame(n.endSec));
    events.push({ frame: on, order: Order.NoteOn, pitch: n.pitch, velocity });
    events.push({ frame: off, order: Order.NoteOff, pitch: n.pitch, velocity: 0 });
  }
  for (const p of seq.pedals) {
    if (!Number.isFinite(p.startSec) || !Number.isFinite(p.endSec) || p.endSec <= p.startSec) continue;
    events.push({ frame: toFrame(p.startSec), order: Order.PedalDown, pitch: 0, velocity: 0 });
    events.push({ frame: toFrame(p.endSec), order: Order.PedalUp, pitch: 0, velocity: 0 });
  }
  return events.sort((a, b) => a.frame - b.frame || a.order - b.order);
}

/**
 * Sends one event. `held` counts sounding notes per pitch: FluidSynth's note-off releases every voice
 * of a key, so when notes of the same pitch overlap, a re-strike releases the old voice (as a
 * piano's hammer would) and only the last of the overlapping note-offs releases the key.
 */
function apply(synth: Synth, e: SynthEvent, held: Uint16Array): void {
  switch (e.order) {
    case Order.NoteOn:
      if (held[e.pitch] > 0) synth.midiNoteOff(CHANNEL, e.pitch);
      held[e.pitch]++;
      synth.midiNoteOn(CHANNEL, e.pitch, e.velocity);
      break;
    case Order.NoteOff:
      if (held[e.pitch] > 0 && --held[e.pitch] === 0) synth.midiNoteOff(CHANNEL, e.pitch);
      break;
    case Order.PedalDown:
      synth.midiControl(CHANNEL, SUSTAIN_CC, 127);
      break;
    case Order.PedalUp:
      synth.midiControl(CHANNEL, SUSTAIN_CC, 0);
      break;
  }
}

function peakOf(channels: Float32Array[], from = 0, to = channels[0].length): number {
  let peak = 0;
  for (const ch of channels) {
    for (let i = from; i < to; i++) {
      const a = Math.abs(ch[i]);
      if (a > peak) peak = a;
    }
  }
  return peak;
}

/** Scales in place so the peak sits at `peakDbfs`; silence stays silence. */
export function normalizePeak(channels: Float32Array[], peakDbfs = -1): number {
  const peak = peakOf(channels);
  if (peak === 0) return 1;
  const gain = 10 ** (peakDbfs / 20) / peak;
  for (const ch of channels) for (let i = 0; i < ch.length; i++) ch[i] *= gain;
  return gain;
}

/** Renders on the calling thread. CPU-bound (~1–3 s per minute of music): prefer `renderToPcmOffThread`. */
export async function renderToPcm(input: NoteSequence | Uint8Array, opts: RenderOptions = {}): Promise<Pcm> {
  const seq = input instanceof Uint8Array ? readMidi(input, { timing: 'exact' }) : input;
  const maxSeconds = opts.maxSeconds ?? 12 * 60;
  if (seq.notes.length === 0) throw new RenderError('empty', 'There is nothing to play: the piece has no notes.');
  const length = durationSec(seq);
  if (!(length <= maxSeconds)) {
    throw new RenderError('too-long', `That piece is too long to play (${Math.round(length)} s; the limit is ${maxSeconds} s).`);
  }
  const events = sequenceEvents(seq);
  if (events.length === 0) throw new RenderError('empty', 'There is nothing to play: the piece has no valid notes.');

  const file = opts.soundFont ?? soundFontPath();
  const synth = opts.freshSynth ? await createSynth(file) : await sharedSynth(file);
  try {
    synth.midiProgramChange(CHANNEL, opts.program ?? 0);
    const tailFrames = Math.round(Math.min(3, Math.max(0, opts.tailSec ?? 3)) * SAMPLE_RATE);
    const lastFrame = events[events.length - 1].frame;
    const capacity = Math.ceil((lastFrame + tailFrames + FLUID_BLOCK) / FLUID_BLOCK) * FLUID_BLOCK;
    const left = new Float32Array(capacity);
    const right = new Float32Array(capacity);
    let pos = 0;
    const renderTo = (frame: number) => {
      while (pos < frame) {
        const n = Math.min(MAX_CHUNK, frame - pos);
        synth.render([left.subarray(pos, pos + n), right.subarray(pos, pos + n)]);
        pos += n;
      }
    };
    const held = new Uint16Array(128);
    for (const e of events) {
      renderTo(e.frame);
      apply(synth, e, held);
    }
    // Release tail: block-aligned chunks until silent or the tail budget is used up.
    renderTo(Math.ceil(pos / FLUID_BLOCK) * FLUID_BLOCK);
    const tailEnd = Math.min(capacity, Math.ceil((lastFrame + tailFrames) / FLUID_BLOCK) * FLUID_BLOCK);
    while (pos < tailEnd) {
      const from = pos;
      renderTo(Math.min(tailEnd, pos + TAIL_CHUNK));
      if (peakOf([left, right], from, pos) < SILENCE) break;
    }
    const channels = [left.subarray(0, pos), right.subarray(0, pos)];
    if (opts.normalize ?? true) normalizePeak(channels, opts.peakDbfs ?? -1);
    return { sampleRate: SAMPLE_RATE, channels };
  } finally {
    if (opts.freshSynth) synth.close();
  }
}
