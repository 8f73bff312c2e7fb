// Plain-JS entry of a training helper thread: Node cannot start a worker from a .ts file by itself, so
// register tsx's loader first (works the same under `npx tsx` and vitest), then load the thread's module
// (workerData.module: gradient-thread.ts or eval-thread.ts).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
