// Plain-JS entry of the render worker: Node cannot start a worker from a .ts file by itself, and
// `--import tsx` in a worker's execArgv does not apply to the worker's entry module on Node 20.
// So register tsx's loader here, then load the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./render-worker.ts');
