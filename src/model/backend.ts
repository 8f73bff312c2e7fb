/**
 * Picks the TensorFlow.js backend at run time, best first:
 *   tfjs-node-gpu → tfjs-node → wasm (with Maestro's fast kernels) → cpu (pure JS).
 * The two native backends are optional dependencies: their install downloads libtensorflow and fails on
 * offline machines, so `npm ci` leaves them out and importing them throws; we then fall back.
 * `MAESTRO_BACKEND=node-gpu|node|wasm|cpu` forces one (an unavailable forced backend is an error).
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { installFastWasmKernels } from './wasm-kernels.js';
import { nativeKernelsStatus } from './native-kernels.js';

export type BackendName = 'node-gpu' | 'node' | 'wasm' | 'cpu';
const ORDER: BackendName[] = ['node-gpu', 'node', 'wasm', 'cpu'];

let chosen: Promise<BackendName> | undefined;

/** Initialise the best available backend once per process and return its name. */
export function initBackend(preferred = process.env.MAESTRO_BACKEND, log: (msg: string) => void = defaultLog): Promise<BackendName> {
  chosen ??= pick(preferred, log);
  return chosen;
}

function defaultLog(msg: string): void {
  if (process.env.MAESTRO_QUIET !== '1') process.stderr.write(`${msg}\n`);
}

async function pick(preferred: string | undefined, log: (msg: string) => void): Promise<BackendName> {
  if (preferred && !ORDER.includes(preferred as BackendName)) {
    throw new Error(`MAESTRO_BACKEND must be one of ${ORDER.join(', ')} (got "${preferred}")`);
  }
  const candidates = preferred ? [preferred as BackendName] : ORDER;
  const failures: string[] = [];
  for (const name of candidates) {
    try {
      await activate(name);
      const matmul = name === 'wasm' && process.env.MAESTRO_WASM_STOCK !== '1' ? `, native kernels ${nativeKernelsStatus()}` : '';
      log(`maestro: tensorflow backend ${name}${matmul}${failures.length ? ` (unavailable: ${failures.join('; ')})` : ''}`);
      return name;
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could start: ${failures.join('; ')}`);
}

async function activate(name: BackendName): Promise<void> {
  const require = createRequire(import.meta.url);
  switch (name) {
    case 'node-gpu':
      // Registers the 'tensorflow' backend backed by libtensorflow with CUDA.
      require('@tensorflow/tfjs-node-gpu');
      await setOrThrow('tensorflow');
      return;
    case 'node':
      require('@tensorflow/tfjs-node');
      await setOrThrow('tensorflow');
      return;
    case 'wasm': {
      await import('@tensorflow/tfjs-backend-wasm');
      await setOrThrow('wasm');
      // MAESTRO_WASM_STOCK=1 keeps tfjs' own kernels (for benchmarks that measure the difference).
      if (process.env.MAESTRO_WASM_STOCK !== '1') installFastWasmKernels();
      return;
    }
    case 'cpu':
      await setOrThrow('cpu');
      return;
  }
}

async function setOrThrow(backend: string): Promise<void> {
  const ok = await tf.setBackend(backend);
  await tf.ready();
  // tfjs silently falls back to another backend on failure: verify.
  if (!ok || tf.getBackend() !== backend) throw new Error(`backend ${backend} did not initialise`);
}

/** The wasm backend's heap is a wasm32 memory: it cannot grow past 4 GB, whatever the machine has. */
export const WASM_HEAP_LIMIT_GB = 4;

/**
 * Whether an error is the wasm backend's heap running out. It surfaces as a wasm trap ("memory access out of
 * bounds", when tfjs writes a tensor into memory it could not allocate) or as Emscripten's OOM abort, not as an
 * error that names memory; the message is tested so that errors passed on from worker threads are caught too.
 */
export function isWasmHeapExhausted(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /memory access out of bounds|Aborted\(OOM\)|Cannot enlarge memory|out of memory/i.test(message);
}
