/**
 * `evaluate` on several cores: the windows are cut into contiguous parts, this thread evaluates the first
 * while helper threads (one core each, like the gradient threads) evaluate the others on copies of the
 * model's weights. The sums are added in part order, so the result equals `evaluate` up to float
 * summation order. Used for a training run's validation (periodic and final) and for `maestro eval --thesis`.
 */
import type { GPT } from '../src/model/gpt.js';
import type { ModelConfig } from '../src/model/config.js';
import type { MemorySettings, StyleMemory } from '../src/model/memory.js';
import type { MemoryWeights } from '../src/model/memory-mix.js';
import { layoutOf, sharedCopy, startThread, writeFlat, type Layout } from './gradient-threads.js';
import { addSums, evalResult, evaluateWindows, windowStarts, type EvalResult, type EvalSums } from './evaluate.js';

/** What an eval thread gets (workerData). */
export interface EvalThreadData {
  config: ModelConfig;
  layout: Layout;
  weights: SharedArrayBuffer;
  stream: SharedArrayBuffer;
  groupOf: SharedArrayBuffer | null;
  seqLen: number;
  batch: number;
  starts: number[];
  /** The style memory mixed into the model's predictions, rebuilt in the thread from its training tokens. */
  memory: { trainTokens: SharedArrayBuffer; settings: MemorySettings; weights: MemoryWeights } | null;
}

export type EvalThreadMessage = { type: 'done'; sums: EvalSums } | { type: 'error'; message: string };

/** Below this many windows per thread, starting threads (a few seconds each) costs more than it saves. */
const MIN_WINDOWS_PER_THREAD = 32;

export async function evaluateInThreads(
  model: GPT,
  stream: Uint8Array,
  seqLen: number,
  opts: { threads: number; maxWindows?: number; batch?: number; groupOf?: Uint8Array; memory?: StyleMemory },
): Promise<EvalResult> {
  const batch = opts.batch ?? 16;
  const starts = windowStarts(stream.length, seqLen, opts.maxWindows);
  const parts = Math.max(1, Math.min(opts.threads, Math.floor(starts.length / MIN_WINDOWS_PER_THREAD)));
  const cut = (k: number) => starts.slice(Math.floor((k * starts.length) / parts), Math.floor(((k + 1) * starts.length) / parts));
  const helpers = parts > 1 ? helperData(model, stream, seqLen, batch, opts.groupOf, opts.memory) : null;
  const others = Array.from({ length: parts - 1 }, (_, i) => runThread({ ...helpers!, starts: cut(i + 1) }));
  let mine: EvalSums;
  try {
    mine = await evaluateYielding(model, stream, seqLen, cut(0), batch, opts.groupOf, opts.memory);
  } catch (err) {
    void Promise.allSettled(others); // the helpers finish and exit by themselves; nothing waits for them
    throw err;
  }
  const sums = (await Promise.all(others)).reduce(addSums, mine);
  return evalResult(sums, starts.length, Boolean(opts.groupOf), Boolean(opts.memory));
}

/** Windows per slice of this thread's part: a few seconds of work. */
const SLICE_WINDOWS = 64;

/**
 * This thread's part in slices, yielding to the event loop between them, so a signal (a second Ctrl-C during
 * `maestro train`'s final evaluation) is handled within seconds rather than after the whole part.
 */
async function evaluateYielding(model: GPT, stream: Uint8Array, seqLen: number, starts: number[], batch: number, groupOf?: Uint8Array, memory?: StyleMemory): Promise<EvalSums> {
  let sums = evaluateWindows(model, stream, seqLen, starts.slice(0, SLICE_WINDOWS), batch, groupOf, memory);
  for (let i = SLICE_WINDOWS; i < starts.length; i += SLICE_WINDOWS) {
    await new Promise((resolve) => setImmediate(resolve));
    sums = addSums(sums, evaluateWindows(model, stream, seqLen, starts.slice(i, i + SLICE_WINDOWS), batch, groupOf, memory));
  }
  return sums;
}

function helperData(model: GPT, stream: Uint8Array, seqLen: number, batch: number, groupOf?: Uint8Array, memory?: StyleMemory): Omit<EvalThreadData, 'starts'> {
  const layout = layoutOf(model, Object.keys(model.weights).sort());
  const weights = new SharedArrayBuffer(layout.total * 4);
  writeFlat(layout, model.weights, new Float32Array(weights));
  const mem = memory ? { trainTokens: sharedCopy(memory.trainTokens), settings: memory.settings, weights: memory.weights } : null;
  return { config: model.config, layout, weights, stream: sharedCopy(stream), groupOf: groupOf ? sharedCopy(groupOf) : null, seqLen, batch, memory: mem };
}

function runThread(data: EvalThreadData): Promise<EvalSums> {
  return new Promise((resolve, reject) => {
    const worker = startThread('./eval-thread.ts', { ...data });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.on('message', (m: EvalThreadMessage) => settle(() => (m.type === 'done' ? resolve(m.sums) : reject(new Error(`eval thread: ${m.message}`)))));
    worker.on('error', (err) => settle(() => reject(new Error(`eval thread crashed: ${err.message}`))));
    worker.on('exit', (code) => settle(() => reject(new Error(`eval thread exited (code ${code}) before answering`))));
  });
}
