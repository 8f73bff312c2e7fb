// A small pool of compose threads (one per concurrent job) behind the same signature as compose().
import { Worker } from 'node:worker_threads';
import { UnknownStyleError, type ComposeRequest, type ComposeResult } from '../compose.js';
import { MidiInputError, type MidiInputErrorCode } from '../music/midi.js';
import type { ComposeThreadMessage, ComposeThreadRequest } from './compose-thread-protocol.js';

interface Slot {
  worker: Worker;
  busy: boolean;
}

interface Pending {
  resolve: (r: ComposeResult) => void;
  reject: (e: Error) => void;
  onProgress?: (f: number) => void;
  slot: Slot;
}

export class ComposeThreadPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly waiting: Array<() => void> = [];
  private nextId = 1;

  constructor(private readonly size: number) {}

  private spawn(): Slot {
    const worker = new Worker(new URL('./compose-thread-entry.mjs', import.meta.url), { execArgv: [] });
    const slot: Slot = { worker, busy: false };
    worker.on('message', (m: ComposeThreadMessage) => this.onMessage(m));
    const fail = (why: string) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      for (const [id, p] of this.pending) {
        if (p.slot === slot) {
          this.pending.delete(id);
          p.reject(new Error(`compose thread ${why}`));
        }
      }
      this.waiting.shift()?.();
    };
    worker.on('error', (err) => fail(`crashed: ${err.message}`));
    worker.on('exit', (code) => fail(`exited (code ${code})`));
    this.slots.push(slot);
    return slot;
  }

  private async acquire(): Promise<Slot> {
    for (;;) {
      const free = this.slots.find((s) => !s.busy);
      if (free) return free;
      if (this.slots.length < this.size) return this.spawn();
      await new Promise<void>((r) => this.waiting.push(r));
    }
  }

  private onMessage(m: ComposeThreadMessage): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.type === 'progress') {
      p.onProgress?.(m.fraction);
      return;
    }
    this.pending.delete(m.id);
    p.slot.busy = false;
    this.waiting.shift()?.();
    if (m.type === 'done') return p.resolve(m.result);
    const e = m.error;
    // Typed errors survive the thread boundary, so the worker can tell bad input from a crash.
    if (e.name === 'MidiInputError' && e.code) return p.reject(new MidiInputError(e.code as MidiInputErrorCode, e.message));
    if (e.isUnknownStyle) return p.reject(new UnknownStyleError(e.message));
    p.reject(Object.assign(new Error(e.message), { name: e.name }));
  }

  async compose(req: ComposeRequest): Promise<ComposeResult> {
    const slot = await this.acquire();
    slot.busy = true;
    const id = this.nextId++;
    const { onProgress, ...request } = req;
    return new Promise<ComposeResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress, slot });
      const msg: ComposeThreadRequest = { id, request };
      slot.worker.postMessage(msg);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
