/**
 * A minimal Ogg page writer (RFC 3533) for one logical stream: packets in, pages out.
 * npm has Ogg demuxers and decoders but no maintained muxer, so this is the small careful one.
 *
 * Page header: "OggS", version 0, flags (1 continued, 2 first page, 4 last page), granule
 * position (int64 LE), stream serial, page sequence number, CRC-32, segment count, lacing table.
 * A packet is laced into 255-byte segments and ends with a segment shorter than 255 (possibly 0).
 */

const FLAG_CONTINUED = 0x01;
const FLAG_BOS = 0x02;
const FLAG_EOS = 0x04;
const MAX_SEGMENTS = 255;
/** Flush a page once it holds about this much data, like libogg (keeps pages ~4 KiB). */
const TARGET_PAGE_BYTES = 4096;

/** CRC-32 as Ogg defines it: polynomial 0x04c11db7, MSB first, initial value 0, no final xor. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

export function oggCrc32(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ bytes[i]) & 0xff]) >>> 0;
  return crc >>> 0;
}

/** Granule position −1: "no packet finishes on this page". */
const NO_GRANULE = -1n;

export class OggWriter {
  private readonly pages: Uint8Array[] = [];
  private sequence = 0;
  private segments: number[] = [];
  private data: Uint8Array[] = [];
  private dataBytes = 0;
  /** Granule of the last packet that finished in the pending page. */
  private granule = NO_GRANULE;
  /** The pending page starts with the continuation of a packet begun on the previous page. */
  private continued = false;

  constructor(private readonly serial: number) {}

  /**
   * Adds a packet whose end corresponds to `granule`. `flush` closes the page after this packet
   * (the Opus headers must each end a page); `last` marks the end of the stream.
   */
  writePacket(packet: Uint8Array, granule: bigint, opts: { flush?: boolean; last?: boolean } = {}): void {
    let offset = 0;
    // Lacing values: n full 255s then the remainder (0 when the length is a multiple of 255).
    let remaining = packet.length;
    for (;;) {
      const seg = Math.min(255, remaining);
      if (this.segments.length === MAX_SEGMENTS) this.emitPage(false, true);
      this.segments.push(seg);
      this.data.push(packet.subarray(offset, offset + seg));
      this.dataBytes += seg;
      offset += seg;
      remaining -= seg;
      if (seg < 255) break;
    }
    this.granule = granule;
    if (opts.last) this.emitPage(true, false);
    else if (opts.flush || this.dataBytes >= TARGET_PAGE_BYTES) this.emitPage(false, false);
  }

  /** The finished stream. The last packet must have been written with `last: true`. */
  bytes(): Uint8Array {
    const total = this.pages.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of this.pages) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  private emitPage(eos: boolean, midPacket: boolean): void {
    const header = 27 + this.segments.length;
    const page = new Uint8Array(header + this.dataBytes);
    const dv = new DataView(page.buffer);
    page.set([0x4f, 0x67, 0x67, 0x53]); // "OggS"
    page[4] = 0;
    page[5] = (this.continued ? FLAG_CONTINUED : 0) | (this.sequence === 0 ? FLAG_BOS : 0) | (eos ? FLAG_EOS : 0);
    // A page on which no packet ends carries granule −1.
    dv.setBigInt64(6, midPacket && this.segments.every((s) => s === 255) ? NO_GRANULE : this.granule, true);
    dv.setUint32(14, this.serial, true);
    dv.setUint32(18, this.sequence++, true);
    page[26] = this.segments.length;
    page.set(this.segments, 27);
    let at = header;
    for (const d of this.data) {
      page.set(d, at);
      at += d.length;
    }
    dv.setUint32(22, oggCrc32(page), true);
    this.pages.push(page);
    this.continued = midPacket;
    this.segments = [];
    this.data = [];
    this.dataBytes = 0;
  }
}
