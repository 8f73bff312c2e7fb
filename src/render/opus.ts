/**
 * PCM → Ogg Opus (RFC 7845), the format Discord plays inline. libopus 1.4 runs in-process as
 * WebAssembly (opusscript); the container is written by ./ogg.ts.
 *
 * We drive opusscript's Emscripten module directly instead of its `OpusScript` class, whose input
 * view is indexed by a *byte* pointer and so writes past the block it allocated. The native
 * `_encode(ptr, bytes, out, frameSize)` expects the little-endian PCM bytes spread one per 16-bit
 * slot (it packs slot pairs back into int16 in place), so that is the layout we write.
 */
import { createRequire } from 'node:module';
import { RenderError } from './errors.js';
import { OggWriter } from './ogg.js';
import type { Pcm } from './render-pcm.js';

const require = createRequire(import.meta.url);

interface OpusHandler {
  _encode(pcmPtr: number, samples: number, outPtr: number, frameSize: number): number;
  _encoder_ctl(ctl: number, arg: number): number;
}

interface OpusNative {
  OpusScriptHandler: { new (rate: number, channels: number, application: number): OpusHandler; destroy_handler(h: OpusHandler): void };
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  HEAPU16: Uint16Array;
  HEAPU8: Uint8Array;
}

const SAMPLE_RATE = 48_000;
const CHANNELS = 2;
/** 20 ms frames: Opus' default, best quality per bit for music. */
const FRAME = 960;
const MAX_PACKET = 1276 * 3;
const APPLICATION_AUDIO = 2049;
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_VBR_CONSTRAINT = 4020;
const OPUS_SET_COMPLEXITY = 4010;
/**
 * Encoder delay of libopus at 48 kHz (OPUS_GET_LOOKAHEAD: 2.5 ms + 4 ms delay compensation = 312),
 * written as the OpusHead pre-skip so decoders drop exactly that many samples. opusscript cannot
 * return CTL values, so it is a constant here; test/render-opus.test.ts checks zero lag after decoding.
 */
export const OPUS_PRE_SKIP = 312;
export const MAX_BITRATE = 128_000;
const MIN_BITRATE = 6_000;

let native: OpusNative | undefined;

function opusNative(): OpusNative {
  if (!native) {
    // The Emscripten factory instantiates synchronously in Node (opusscript's own class relies on that).
    const factory = require('opusscript/build/opusscript_native_wasm.js') as () => OpusNative;
    native = factory();
    if (typeof native.OpusScriptHandler !== 'function') throw new Error('opusscript WebAssembly module did not initialise');
  }
  return native;
}

export interface OpusOptions {
  /** The encoded file must not exceed this many bytes (default 10 MiB, Discord's attachment limit). */
  maxBytes?: number;
  /** Upper bound for the bitrate in bit/s (default 128 kbit/s, transparent for piano). */
  maxBitrate?: number;
  /** Written to the OpusTags comments (e.g. TITLE=…, ARTIST=…). */
  tags?: Record<string, string>;
}

export interface EncodedOpus {
  bytes: Uint8Array;
  bitrate: number;
}

function opusHead(preSkip: number): Uint8Array {
  const head = new Uint8Array(19);
  const dv = new DataView(head.buffer);
  head.set(new TextEncoder().encode('OpusHead'));
  head[8] = 1; // version
  head[9] = CHANNELS;
  dv.setUint16(10, preSkip, true);
  dv.setUint32(12, SAMPLE_RATE, true); // original input rate (informational)
  dv.setInt16(16, 0, true); // output gain
  head[18] = 0; // channel mapping family 0: mono/stereo
  return head;
}

function opusTags(tags: Record<string, string>): Uint8Array {
  const enc = new TextEncoder();
  const vendor = enc.encode('maestro (libopus 1.4 via opusscript)');
  const comments = Object.entries(tags).map(([k, v]) => enc.encode(`${k.toUpperCase()}=${v}`));
  const size = 8 + 4 + vendor.length + 4 + comments.reduce((n, c) => n + 4 + c.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out.set(enc.encode('OpusTags'));
  let at = 8;
  dv.setUint32(at, vendor.length, true);
  out.set(vendor, at + 4);
  at += 4 + vendor.length;
  dv.setUint32(at, comments.length, true);
  at += 4;
  for (const c of comments) {
    dv.setUint32(at, c.length, true);
    out.set(c, at + 4);
    at += 4 + c.length;
  }
  return out;
}

/** Bitrate that fits `seconds` of audio into `maxBytes`, leaving 3 % for Ogg framing and VBR swing. */
export function budgetBitrate(seconds: number, maxBytes: number, maxBitrate = MAX_BITRATE): number {
  const headers = 1024;
  const budget = ((maxBytes - headers) * 8 * 0.97) / Math.max(seconds, 0.02);
  return Math.floor(Math.min(maxBitrate, budget));
}

function checkPcm(pcm: Pcm): void {
  if (pcm.sampleRate !== SAMPLE_RATE) throw new RenderError('bad-pcm', `Opus needs 48 kHz audio, got ${pcm.sampleRate} Hz.`);
  if (pcm.channels.length !== CHANNELS || pcm.channels[0].length !== pcm.channels[1].length) {
    throw new RenderError('bad-pcm', 'Opus encoding needs two channels of equal length.');
  }
  if (pcm.channels[0].length === 0) throw new RenderError('empty', 'There is no audio to encode.');
}

function encodeAtBitrate(pcm: Pcm, bitrate: number, constrained: boolean, tags: Record<string, string>): Uint8Array {
  const lib = opusNative();
  const handler = new lib.OpusScriptHandler(SAMPLE_RATE, CHANNELS, APPLICATION_AUDIO);
  const frameBytes = FRAME * CHANNELS * 2;
  const pcmPtr = lib._malloc(frameBytes * 2); // one 16-bit slot per PCM byte
  const outPtr = lib._malloc(MAX_PACKET);
  try {
    if (handler._encoder_ctl(OPUS_SET_BITRATE, bitrate) < 0) throw new Error(`libopus refused bitrate ${bitrate}`);
    handler._encoder_ctl(OPUS_SET_VBR_CONSTRAINT, constrained ? 1 : 0);
    handler._encoder_ctl(OPUS_SET_COMPLEXITY, 8);

    const ogg = new OggWriter(0x4d61_6573); // "Maes"
    ogg.writePacket(opusHead(OPUS_PRE_SKIP), 0n, { flush: true });
    ogg.writePacket(opusTags(tags), 0n, { flush: true });

    const [left, right] = pcm.channels;
    const length = left.length;
    // Feed pre-skip extra samples of silence so the encoder's look-ahead flushes the real end out.
    const frames = Math.ceil((length + OPUS_PRE_SKIP) / FRAME);
    const slots = new Uint16Array(frameBytes);
    const toInt16 = (x: number) => Math.max(-32768, Math.min(32767, Math.round(x * 32767)));
    const put = (j: number, x: number) => {
      const v = toInt16(x) & 0xffff;
      slots[2 * j] = v & 0xff;
      slots[2 * j + 1] = v >> 8;
    };
    for (let f = 0; f < frames; f++) {
      const base = f * FRAME;
      for (let i = 0; i < FRAME; i++) {
        const s = base + i;
        put(2 * i, s < length ? left[s] : 0);
        put(2 * i + 1, s < length ? right[s] : 0);
      }
      lib.HEAPU16.set(slots, pcmPtr >> 1);
      const n = handler._encode(pcmPtr, frameBytes, outPtr, FRAME);
      if (n < 0) throw new Error(`libopus encode failed (${n})`);
      const packet = lib.HEAPU8.slice(outPtr, outPtr + n);
      const last = f === frames - 1;
      // Granule = samples decoded so far including pre-skip; the last page says where the audio really ends.
      const granule = last ? BigInt(OPUS_PRE_SKIP + length) : BigInt((f + 1) * FRAME);
      ogg.writePacket(packet, granule, { last });
    }
    return ogg.bytes();
  } finally {
    lib._free(pcmPtr);
    lib._free(outPtr);
    lib.OpusScriptHandler.destroy_handler(handler);
  }
}

/**
 * Encodes stereo 48 kHz PCM as Ogg Opus that fits in `maxBytes`: min(128 kbit/s, budget) with
 * unconstrained VBR when there is room, constrained VBR when the budget binds, and a lower bitrate
 * retry in the rare case VBR still overshoots.
 */
export function encodeOggOpusWithInfo(pcm: Pcm, opts: OpusOptions = {}): EncodedOpus {
  checkPcm(pcm);
  const maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
  const maxBitrate = Math.min(opts.maxBitrate ?? MAX_BITRATE, 512_000);
  const seconds = pcm.channels[0].length / SAMPLE_RATE;
  let bitrate = budgetBitrate(seconds, maxBytes, maxBitrate);
  const constrained = true;
  for (let attempt = 0; attempt < 4; attempt++) {
    if (bitrate < MIN_BITRATE) break;
    const bytes = encodeAtBitrate(pcm, bitrate, constrained, opts.tags ?? {});
    if (bytes.length <= maxBytes) return { bytes, bitrate };
    bitrate = Math.floor(bitrate * Math.min(0.9, (maxBytes / bytes.length) * 0.97));
  }
  throw new RenderError(
    'too-large',
    `The recording (${Math.round(seconds)} s) cannot fit into ${(maxBytes / 2 ** 20).toFixed(1)} MiB; try a shorter piece.`,
  );
}

export function encodeOggOpus(pcm: Pcm, opts: OpusOptions = {}): Uint8Array {
  return encodeOggOpusWithInfo(pcm, opts).bytes;
}
