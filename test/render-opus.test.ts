import { OggOpusDecoder } from 'ogg-opus-decoder';
import { describe, expect, it } from 'vitest';
import { RenderError } from '../src/render/errors.js';
import { oggCrc32 } from '../src/render/ogg.js';
import { budgetBitrate, encodeOggOpus, encodeOggOpusWithInfo, MAX_BITRATE, OPUS_PRE_SKIP } from '../src/render/opus.js';
import type { Pcm } from '../src/render/render-pcm.js';

const SR = 48_000;

/** Decaying partials with different notes left and right: a crude piano-like test signal. */
function tones(seconds: number): Pcm {
  const n = Math.round(seconds * SR);
  const left = new Float32Array(n);
  const right = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / SR;
    const env = Math.exp(-3 * (t % 0.5));
    const f = 220 * 2 ** (Math.floor(t / 0.5) % 5 / 12);
    left[i] = 0.4 * env * (Math.sin(2 * Math.PI * f * t) + 0.3 * Math.sin(4 * Math.PI * f * t));
    right[i] = 0.4 * env * Math.sin(2 * Math.PI * 1.5 * f * t);
  }
  return { sampleRate: SR, channels: [left, right] };
}

interface Page {
  flags: number;
  granule: bigint;
  serial: number;
  sequence: number;
  crc: number;
  segments: number[];
  body: Uint8Array;
  raw: Uint8Array;
}

function pages(bytes: Uint8Array): Page[] {
  const out: Page[] = [];
  let at = 0;
  while (at < bytes.length) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset + at);
    expect(String.fromCharCode(...bytes.subarray(at, at + 4))).toBe('OggS');
    const nseg = bytes[at + 26];
    const segments = [...bytes.subarray(at + 27, at + 27 + nseg)];
    const size = 27 + nseg + segments.reduce((a, b) => a + b, 0);
    out.push({
      flags: bytes[at + 5],
      granule: dv.getBigInt64(6, true),
      serial: dv.getUint32(14, true),
      sequence: dv.getUint32(18, true),
      crc: dv.getUint32(22, true),
      segments,
      body: bytes.subarray(at + 27 + nseg, at + size),
      raw: bytes.subarray(at, at + size),
    });
    at += size;
  }
  return out;
}

async function decode(ogg: Uint8Array) {
  const decoder = new OggOpusDecoder();
  await decoder.ready;
  const out = await decoder.decodeFile(ogg);
  decoder.free();
  return out;
}

describe('Ogg CRC-32', () => {
  it('matches the Ogg variant (poly 0x04c11db7, init 0, no reflection, no final xor)', () => {
    // POSIX cksum uses the same CRC with a final xor of 0xffffffff; its check value is 0x765e7680.
    expect(oggCrc32(new TextEncoder().encode('123456789'))).toBe((0x765e7680 ^ 0xffffffff) >>> 0);
    expect(oggCrc32(new Uint8Array(0))).toBe(0);
  });
});

describe('encodeOggOpus', () => {
  const pcm = tones(3.2);
  const ogg = encodeOggOpus(pcm);

  it('writes a well-formed Ogg Opus stream (headers, granules, CRCs, end of stream)', () => {
    const ps = pages(ogg);
    expect(ps.length).toBeGreaterThan(3);
    // Headers: OpusHead alone on a BOS page, then OpusTags on its own page, both granule 0.
    expect(ps[0].flags).toBe(0x02);
    expect(new TextDecoder().decode(ps[0].body.subarray(0, 8))).toBe('OpusHead');
    expect(ps[0].body[9]).toBe(2);
    expect(new DataView(ps[0].body.buffer, ps[0].body.byteOffset).getUint16(10, true)).toBe(OPUS_PRE_SKIP);
    expect(new DataView(ps[0].body.buffer, ps[0].body.byteOffset).getUint32(12, true)).toBe(SR);
    expect(new TextDecoder().decode(ps[1].body.subarray(0, 8))).toBe('OpusTags');
    expect(ps[0].granule).toBe(0n);
    expect(ps[1].granule).toBe(0n);
    ps.forEach((p, i) => {
      expect(p.sequence).toBe(i);
      expect(p.serial).toBe(ps[0].serial);
      const zeroed = p.raw.slice();
      zeroed.fill(0, 22, 26);
      expect(oggCrc32(zeroed)).toBe(p.crc);
      if (i > 0 && i < ps.length - 1) expect(p.flags & 0x04).toBe(0);
    });
    for (let i = 3; i < ps.length; i++) expect(ps[i].granule).toBeGreaterThan(ps[i - 1].granule);
    // The last page ends the stream and trims the padding: granule = pre-skip + true length.
    const last = ps[ps.length - 1];
    expect(last.flags & 0x04).toBe(0x04);
    expect(last.granule).toBe(BigInt(OPUS_PRE_SKIP + pcm.channels[0].length));
  });

  it('decodes (with a real decoder) to the exact duration, aligned, with the same signal', async () => {
    const out = await decode(ogg);
    expect(out.errors).toEqual([]);
    expect(Math.abs(out.samplesDecoded - pcm.channels[0].length) / SR).toBeLessThanOrEqual(0.05);
    const corr = (c: number, lag: number) => {
      const a = pcm.channels[c];
      const b = out.channelData[c];
      let ab = 0;
      let aa = 0;
      let bb = 0;
      for (let i = 1000; i < a.length - 1000; i++) {
        ab += a[i] * b[i + lag];
        aa += a[i] * a[i];
        bb += b[i + lag] * b[i + lag];
      }
      return ab / Math.sqrt(aa * bb);
    };
    for (let c = 0; c < 2; c++) {
      expect(corr(c, 0)).toBeGreaterThan(0.99);
      for (const lag of [-2, -1, 1, 2]) expect(corr(c, 0)).toBeGreaterThan(corr(c, lag));
    }
  });

  it('picks min(128 kbit/s, what fits) — a 10-minute piece fits into 10 MiB', () => {
    expect(budgetBitrate(603, 10 * 2 ** 20)).toBe(MAX_BITRATE);
    expect(budgetBitrate(603, 10 * 2 ** 20) * 603 / 8).toBeLessThan(10 * 2 ** 20 * 0.95);
    expect(budgetBitrate(3600, 10 * 2 ** 20)).toBeLessThan(MAX_BITRATE);
  });

  it('lowers the bitrate to fit a small attachment limit', async () => {
    const long = tones(20);
    const maxBytes = 60_000;
    const { bytes, bitrate } = encodeOggOpusWithInfo(long, { maxBytes });
    expect(bytes.length).toBeLessThanOrEqual(maxBytes);
    expect(bitrate).toBeLessThan(MAX_BITRATE);
    const out = await decode(bytes);
    expect(Math.abs(out.samplesDecoded - long.channels[0].length)).toBeLessThanOrEqual(0.05 * SR);
  });

  it('refuses what cannot fit or is not encodable, with typed errors', () => {
    expect(() => encodeOggOpus(tones(20), { maxBytes: 2_000 })).toThrow(RenderError);
    expect(() => encodeOggOpus({ sampleRate: SR, channels: [new Float32Array(0), new Float32Array(0)] })).toThrow(RenderError);
    expect(() => encodeOggOpus({ sampleRate: 44_100 as 48_000, channels: tones(1).channels })).toThrow(/48 kHz/);
  });
});
