import { createHash } from 'node:crypto';
import { OggOpusDecoder } from 'ogg-opus-decoder';
import { beforeAll, describe, expect, it } from 'vitest';
import { MidiInputError, writeMidi } from '../src/music/midi.js';
import type { Note, NoteSequence } from '../src/music/note-sequence.js';
import { RenderError } from '../src/render/errors.js';
import { encodeOggOpus } from '../src/render/opus.js';
import { renderToPcm } from '../src/render/render-pcm.js';
import type { Pcm } from '../src/render/render-pcm.js';

const SR = 48_000;

function seq(notes: Note[], pedals: NoteSequence['pedals'] = []): NoteSequence {
  return { notes, pedals, tempos: [{ timeSec: 0, bpm: 120 }], source: { name: 'test' } };
}

/** A little two-hand phrase: melody over broken chords, with pedal, 6 s. */
function phrase(): NoteSequence {
  const notes: Note[] = [];
  const melody = [72, 74, 76, 77, 79, 77, 76, 74, 72, 71, 72];
  melody.forEach((p, i) => notes.push({ pitch: p, velocity: 64 + ((i * 11) % 50), startSec: i * 0.5, endSec: i * 0.5 + 0.4 }));
  for (let i = 0; i < 22; i++) notes.push({ pitch: [48, 55, 60, 64][i % 4], velocity: 50, startSec: i * 0.25, endSec: i * 0.25 + 0.2 });
  return seq(notes, [{ startSec: 0, endSec: 2.9 }, { startSec: 3, endSec: 5.5 }]);
}

function hash(pcm: Pcm): string {
  const h = createHash('sha256');
  for (const c of pcm.channels) h.update(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
  return h.digest('hex');
}

/** RMS over [from, to); samples past the end of a (shorter) render count as silence. */
function rms(x: Float32Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < Math.min(to, x.length); i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, to - from));
}

function peak(pcm: Pcm): number {
  let p = 0;
  for (const c of pcm.channels) for (const v of c) p = Math.max(p, Math.abs(v));
  return p;
}

/** Normalised cross-correlation of a and b at lag (b shifted left by lag). */
function correlation(a: Float32Array, b: Float32Array, lag = 0): number {
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  const n = Math.min(a.length, b.length - lag);
  for (let i = Math.max(0, -lag); i < n; i++) {
    sab += a[i] * b[i + lag];
    saa += a[i] * a[i];
    sbb += b[i + lag] * b[i + lag];
  }
  return sab / Math.sqrt(saa * sbb);
}

describe('renderToPcm', () => {
  let first: Pcm;
  beforeAll(async () => {
    first = await renderToPcm(phrase());
  });

  it('renders stereo 48 kHz with the release tail bounded to 3 s', () => {
    expect(first.sampleRate).toBe(SR);
    expect(first.channels).toHaveLength(2);
    expect(first.channels[0].length).toBe(first.channels[1].length);
    const seconds = first.channels[0].length / SR;
    expect(seconds).toBeGreaterThan(5.5);
    expect(seconds).toBeLessThanOrEqual(5.5 + 3 + 0.01);
    // It stopped because the tail went quiet (or hit the bound): the last 10 ms are near silence.
    const end = first.channels[0].length;
    expect(rms(first.channels[0], end - 480, end)).toBeLessThan(0.01);
  });

  it('normalises the peak to −1 dBFS without clipping', () => {
    expect(peak(first)).toBeCloseTo(10 ** (-1 / 20), 5);
    expect(peak(first)).toBeLessThan(1);
  });

  it('is bit-exact with a fresh synthesizer (golden hash)', async () => {
    const fresh = await renderToPcm(phrase(), { freshSynth: true });
    expect(hash(fresh)).toBe(hash(first));
    // Pinned: FluidSynth in WebAssembly is deterministic across machines; a change here means the
    // SoundFont, js-synthesizer or the event scheduling changed.
    expect(hash(fresh)).toBe(GOLDEN_PHRASE_SHA256);
  });

  it('a reused synthesizer renders the same piece within a tight tolerance', async () => {
    const again = await renderToPcm(phrase());
    expect(again.channels[0].length).toBe(first.channels[0].length);
    // Signal-to-difference ratio above 40 dB: FluidSynth voices keep a little filter state across
    // reuse and the reverb never decays to exact zero, so reuse is close but not bit-exact.
    for (let c = 0; c < 2; c++) {
      const diff = first.channels[c].map((v, i) => v - again.channels[c][i]);
      expect(20 * Math.log10(rms(first.channels[c]) / Math.max(1e-12, rms(diff)))).toBeGreaterThan(40);
    }
  });

  it('accepts MIDI bytes and renders them like the sequence they contain', async () => {
    const fromMidi = await renderToPcm(writeMidi(phrase()));
    expect(Math.abs(fromMidi.channels[0].length - first.channels[0].length)).toBeLessThan(SR * 0.1);
    expect(correlation(first.channels[0], fromMidi.channels[0])).toBeGreaterThan(0.99);
  });

  it('the sustain pedal keeps notes ringing after their release', async () => {
    const short = [{ pitch: 60, velocity: 90, startSec: 0, endSec: 0.2 }];
    const dry = await renderToPcm(seq(short), { normalize: false });
    const wet = await renderToPcm(seq(short, [{ startSec: 0, endSec: 2 }]), { normalize: false });
    // 0.6–1.8 s: the undamped string is still sounding with the pedal, long gone without it.
    const window = [Math.round(0.6 * SR), Math.round(1.8 * SR)] as const;
    const ratio = rms(wet.channels[0], ...window) / Math.max(1e-9, rms(dry.channels[0], ...window));
    expect(ratio).toBeGreaterThan(10);
    expect(wet.channels[0].length).toBeGreaterThan(dry.channels[0].length);
  });

  it('velocity changes loudness and timbre', async () => {
    const note = (velocity: number) => seq([{ pitch: 60, velocity, startSec: 0, endSec: 1 }]);
    const soft = await renderToPcm(note(30), { normalize: false });
    const loud = await renderToPcm(note(110), { normalize: false });
    const win = [0, SR] as const;
    expect(rms(loud.channels[0], ...win) / rms(soft.channels[0], ...win)).toBeGreaterThan(2);
    // Timbre, independent of level: loud piano notes are brighter (more sign changes of the slope).
    const brightness = (x: Float32Array) => {
      let changes = 0;
      for (let i = 2; i < SR; i++) if (Math.sign(x[i] - x[i - 1]) !== Math.sign(x[i - 1] - x[i - 2])) changes++;
      return changes;
    };
    expect(brightness(loud.channels[0])).not.toBe(brightness(soft.channels[0]));
    expect(Math.abs(correlation(soft.channels[0].subarray(0, SR), loud.channels[0].subarray(0, SR)))).toBeLessThan(0.999);
  });

  it('refuses empty pieces and bad MIDI with typed errors', async () => {
    await expect(renderToPcm(seq([]))).rejects.toBeInstanceOf(RenderError);
    await expect(renderToPcm(new Uint8Array([1, 2, 3, 4]))).rejects.toBeInstanceOf(MidiInputError);
    await expect(renderToPcm(seq([{ pitch: 60, velocity: 80, startSec: 0, endSec: 30 }]), { maxSeconds: 10 })).rejects.toMatchObject({ code: 'too-long' });
  });

  it('the Ogg Opus encoding decodes to the same duration and signal', async () => {
    const ogg = encodeOggOpus(first);
    const decoder = new OggOpusDecoder();
    await decoder.ready;
    const out = await decoder.decodeFile(ogg);
    decoder.free();
    expect(out.errors).toEqual([]);
    expect(out.sampleRate).toBe(SR);
    expect(Math.abs(out.samplesDecoded - first.channels[0].length) / SR).toBeLessThanOrEqual(0.05);
    // Aligned (pre-skip removed by the decoder): the best lag is 0 and the waveform matches closely.
    for (let c = 0; c < 2; c++) {
      const at0 = correlation(first.channels[c], out.channelData[c], 0);
      expect(at0).toBeGreaterThan(0.99);
      expect(at0).toBeGreaterThan(correlation(first.channels[c], out.channelData[c], 1));
      expect(at0).toBeGreaterThan(correlation(first.channels[c], out.channelData[c], -1));
    }
  });
});

const GOLDEN_PHRASE_SHA256 = '3963700d73ffbd58ee4780c62aa93892915c1a8ed186a69afb895f4b19b55ff0';

describe('overlapping notes of one pitch', () => {
  it('the later note keeps sounding until its own end (a note-off does not cut a re-struck key)', async () => {
    const overlapping = seq([
      { pitch: 64, velocity: 90, startSec: 0, endSec: 1 },
      { pitch: 64, velocity: 90, startSec: 0.5, endSec: 2 },
    ]);
    const single = seq([{ pitch: 64, velocity: 90, startSec: 0, endSec: 1 }]);
    const a = await renderToPcm(overlapping, { normalize: false });
    const b = await renderToPcm(single, { normalize: false });
    // 1.3–1.9 s: the second note is still held in `overlapping`; `single` is in its release.
    const win = [Math.round(1.3 * SR), Math.round(1.9 * SR)] as const;
    expect(rms(a.channels[0], ...win)).toBeGreaterThan(5 * rms(b.channels[0], ...win));
  });
});
