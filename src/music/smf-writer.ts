/**
 * A minimal Standard MIDI File encoder for the events this program writes.
 *
 * Why not midi-file's `writeMidi`: it grows its output by array concatenation on every multi-byte
 * delta, which is quadratic — seconds for a few thousand notes. This writes into one growing
 * byte buffer, linear in the number of events. The event objects are midi-file's types, so
 * anything parsed by `parseMidi` (of the kinds below) can be written back.
 */
import type { MidiEvent } from 'midi-file';

class ByteSink {
  private buf = new Uint8Array(1024);
  length = 0;
  private reserve(n: number) {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  byte(b: number) {
    this.reserve(1);
    this.buf[this.length++] = b & 0xff;
  }
  bytes(bs: ArrayLike<number>) {
    this.reserve(bs.length);
    for (let i = 0; i < bs.length; i++) this.buf[this.length++] = bs[i]! & 0xff;
  }
  u16(v: number) {
    this.byte(v >> 8);
    this.byte(v);
  }
  u32(v: number) {
    this.byte(v >>> 24);
    this.byte(v >>> 16);
    this.byte(v >>> 8);
    this.byte(v);
  }
  varInt(v: number) {
    if (!(Number.isInteger(v) && v >= 0 && v <= 0x0fffffff)) throw new RangeError(`MIDI delta out of range: ${v}`);
    const groups = [v & 0x7f];
    for (let rest = v >>> 7; rest > 0; rest >>>= 7) groups.push((rest & 0x7f) | 0x80);
    for (let i = groups.length - 1; i >= 0; i--) this.byte(groups[i]!);
  }
  text(s: string) {
    const encoded = new TextEncoder().encode(s);
    this.varInt(encoded.length);
    this.bytes(encoded);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function writeEvent(out: ByteSink, e: MidiEvent) {
  out.varInt(e.deltaTime);
  switch (e.type) {
    case 'noteOn':
      return out.bytes([0x90 | e.channel, e.noteNumber, e.velocity]);
    case 'noteOff':
      return out.bytes([0x80 | e.channel, e.noteNumber, e.velocity]);
    case 'controller':
      return out.bytes([0xb0 | e.channel, e.controllerType, e.value]);
    case 'programChange':
      return out.bytes([0xc0 | e.channel, e.programNumber]);
    case 'setTempo':
      return out.bytes([0xff, 0x51, 3, e.microsecondsPerBeat >> 16, e.microsecondsPerBeat >> 8, e.microsecondsPerBeat]);
    case 'timeSignature':
      return out.bytes([0xff, 0x58, 4, e.numerator, Math.log2(e.denominator), e.metronome, e.thirtyseconds]);
    case 'trackName':
      out.bytes([0xff, 0x03]);
      return out.text(e.text);
    case 'endOfTrack':
      return out.bytes([0xff, 0x2f, 0]);
    default:
      throw new Error(`smf-writer: unsupported event type ${e.type}`);
  }
}

/** Encode tracks of delta-timed events as an SMF (format 0 for one track, else format 1). */
export function encodeSmf(ticksPerBeat: number, tracks: readonly (readonly MidiEvent[])[]): Uint8Array {
  const out = new ByteSink();
  out.bytes([0x4d, 0x54, 0x68, 0x64]); // MThd
  out.u32(6);
  out.u16(tracks.length === 1 ? 0 : 1);
  out.u16(tracks.length);
  out.u16(ticksPerBeat & 0x7fff);
  for (const track of tracks) out.bytes(encodeTrack(track));
  return out.result();
}

/** One track chunk (MTrk, length, events), to stand in a file or be appended to one. */
export function encodeTrack(track: readonly MidiEvent[]): Uint8Array {
  const body = new ByteSink();
  for (const e of track) writeEvent(body, e);
  const bytes = body.result();
  const out = new ByteSink();
  out.bytes([0x4d, 0x54, 0x72, 0x6b]); // MTrk
  out.u32(bytes.length);
  out.bytes(bytes);
  return out.result();
}
