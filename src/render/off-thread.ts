/**
 * Rendering off the main thread. Rendering and encoding are CPU-bound (seconds per minute of
 * music), which would freeze a Discord gateway connection or a BullMQ lock renewal; one worker
 * thread per process does them instead, keeping its synthesizer (and the decoded piano) cached.
 *
 * The worker is a TypeScript module; its plain-JS entry (render-worker-entry.mjs) registers tsx's
 * loader first, which works the same under `npx tsx`, vitest and the bot. It is unref'd while idle
 * so it never keeps a process alive.
 */
import { Worker } from 'node:worker_threads';
import { MidiInputError } from '../music/midi.js';
import type { MidiInputErrorCode } from '../music/midi.js';
import type { NoteSequence } from '../music/note-sequence.js';
import { RenderError } from './errors.js';
import type { RenderErrorCode } from './errors.js';
import type { EncodedOpus, OpusOptions } from './opus.js';
import type { Pcm, RenderOptions } from './render-pcm.js';
import type { RenderRequest, RenderResponse, SerializedError } from './worker-protocol.js';

type Ok = Extract<RenderResponse, { ok: true }>;

interface Pending {
  resolve: (res: Ok) => void;
  reject: (err: Error) => void;
}

let worker: Worker | undefined;
const pending = new Map<number, Pending>();
let nextId = 1;

function revive(e: SerializedError): Error {
  let err: Error;
  if (e.name === 'MidiInputError' && e.code) err = new MidiInputError(e.code as MidiInputErrorCode, e.message);
  else if (e.name === 'RenderError' && e.code) err = new RenderError(e.code as RenderErrorCode, e.message);
  else {
    err = new Error(e.message);
    err.name = e.name;
  }
  if (e.stack) err.stack = e.stack;
  return err;
}

function failAll(err: Error): void {
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

function startWorker(): Worker {
  // No inherited execArgv: the entry registers tsx itself (a second registration from the parent's flags is not wanted).
  const w = new Worker(new URL('./render-worker-entry.mjs', import.meta.url), { execArgv: [] });
  w.on('message', (res: RenderResponse) => {
    const p = pending.get(res.id);
    if (!p) return;
    pending.delete(res.id);
    if (pending.size === 0) w.unref();
    if (res.ok) p.resolve(res);
    else p.reject(revive(res.error));
  });
  w.on('error', (err) => {
    if (worker === w) worker = undefined;
    failAll(new Error(`render worker crashed: ${err.message}`));
  });
  w.on('exit', (code) => {
    if (worker === w) worker = undefined;
    if (pending.size > 0) failAll(new Error(`render worker exited (code ${code})`));
  });
  w.unref();
  return w;
}

function request(input: NoteSequence | Uint8Array, render: RenderOptions, encode?: OpusOptions): Promise<Ok> {
  worker ??= startWorker();
  const w = worker;
  const id = nextId++;
  return new Promise<Ok>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.ref();
    const req: RenderRequest = { id, input, render, ...(encode ? { encode } : {}) };
    w.postMessage(req);
  });
}

/** `renderToPcm` on the render worker thread. */
export async function renderToPcmOffThread(input: NoteSequence | Uint8Array, opts: RenderOptions = {}): Promise<Pcm> {
  const res = await request(input, opts);
  return { sampleRate: res.sampleRate, channels: res.channels! };
}

export interface OffThreadAudio extends EncodedOpus {
  renderMs: number;
  encodeMs: number;
}

/** Render and encode to Ogg Opus on the render worker thread; only the small Ogg file crosses back. */
export async function renderOggOpusOffThread(
  input: NoteSequence | Uint8Array,
  opts: RenderOptions = {},
  opus: OpusOptions = {},
): Promise<OffThreadAudio> {
  const res = await request(input, opts, opus);
  return { bytes: res.ogg!, bitrate: res.bitrate!, renderMs: res.renderMs, encodeMs: res.encodeMs };
}

/** Stops the render worker (tests, shutdown). The next request starts a new one. */
export async function closeRenderWorker(): Promise<void> {
  const w = worker;
  worker = undefined;
  if (w) await w.terminate();
}
