// Plain-JS entry of a gradient thread: Node cannot start a worker from a .ts file by itself, so register
// tsx's loader first (works the same under `npx tsx` and vitest), then load the thread.
import { register } from 'tsx/esm/api';

register();
await import('./gradient-thread.ts');
