/**
 * One file holding named tensors: `MSTRTNS1` magic, a u32 little-endian header length, a JSON header
 * ({name, shape, dtype, offset, bytes}[]), then the raw little-endian data. float16 storage halves the
 * size of shipped models (git-friendly); values are widened back to float32 on load.
 * Writes go to a temporary file that is renamed into place, so a crash never leaves a half-written file.
 */
import { openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type StoredDtype = 'float32' | 'float16';
export interface NamedArray {
  shape: number[];
  data: Float32Array;
}
interface Entry {
  name: string;
  shape: number[];
  dtype: StoredDtype;
  offset: number;
  bytes: number;
}

const MAGIC = 'MSTRTNS1';

export function writeTensorFile(path: string, tensors: Record<string, NamedArray>, dtype: StoredDtype = 'float32'): void {
  const entries: Entry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    const { shape, data } = tensors[name];
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`tensor ${name}: shape [${shape}] does not match ${data.length} values`);
    const bytes = dtype === 'float16' ? new Uint8Array(toFloat16(data).buffer) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    entries.push({ name, shape, dtype, offset, bytes: bytes.byteLength });
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const header = Buffer.from(JSON.stringify(entries));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  writeFileAtomic(path, [Buffer.from(MAGIC), len, header, ...chunks]);
}

export function readTensorFile(path: string): Record<string, NamedArray> {
  const buf = readFileSync(path);
  if (buf.length < 12 || buf.subarray(0, 8).toString() !== MAGIC) throw new Error(`${path} is not a Maestro tensor file`);
  const headerLen = buf.readUInt32LE(8);
  if (12 + headerLen > buf.length) throw new Error(`${path} is truncated (in its header)`);
  let entries: Entry[];
  try {
    entries = JSON.parse(buf.subarray(12, 12 + headerLen).toString()) as Entry[];
  } catch {
    throw new Error(`${path} is damaged (its header is not the JSON list of tensors it should be)`);
  }
  const base = 12 + headerLen;
  const out: Record<string, NamedArray> = {};
  for (const e of entries) {
    if (base + e.offset + e.bytes > buf.length) throw new Error(`${path} is truncated (tensor ${e.name})`);
    // Copy out of the file buffer: typed views need aligned offsets.
    const raw = new Uint8Array(buf.subarray(base + e.offset, base + e.offset + e.bytes));
    const data = e.dtype === 'float16' ? fromFloat16(new Uint16Array(raw.buffer)) : new Float32Array(raw.buffer);
    out[e.name] = { shape: e.shape, data };
  }
  return out;
}

/** Write chunks to `path` atomically: temp file in the same directory, fsync, rename. */
export function writeFileAtomic(path: string, chunks: (Uint8Array | string)[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, 'w');
  try {
    for (const c of chunks) {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      let done = 0;
      while (done < b.byteLength) done += writeSync(fd, b, done);
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

// IEEE 754 half precision, round to nearest even.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toFloat16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    f32[0] = src[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    let e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      if (rem > mid || (rem === mid && half & 1)) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
    e = half >>> 10;
    out[i] = sign | (e >= 0x1f ? 0x7c00 : half);
  }
  return out;
}

export function fromFloat16(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) out[i] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) out[i] = mant ? NaN : sign * Infinity;
    else out[i] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return out;
}
