/**
 * Generation on several cores: `size` forked worker processes (generate-child.ts, run through tsx), each taking
 * the next request when it is free. Every request carries its own seed, so results do not depend on which
 * worker ran them: the report is the same with 1 or N workers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { NoteSequence } from '../music/note-sequence.js';
import type { ChildJob, ChildReply, GenerateSettings } from './generate-child.js';
import type { GenerateFn } from './runner.js';

/** tsx's loader (its package entry), as a file URL: works whatever the working directory. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface GeneratePool {
  generate: GenerateFn;
  close(): void;
}

export function createGeneratePool(modelsDir: string, size: number, settings: GenerateSettings): GeneratePool {
  const script = fileURLToPath(new URL('./generate-child.ts', import.meta.url));
  const pending = new Map<number, { resolve: (s: NoteSequence[][]) => void; reject: (e: Error) => void; worker: ChildProcess }>();
  const idle: ChildProcess[] = [];
  const waiting: (() => void)[] = [];
  let nextId = 0;
  const workers = Array.from({ length: size }, () => {
    // tsx resolved from here, not from the user's working directory, so the command runs from any folder.
    const w = fork(script, [], { execArgv: ['--import', TSX_LOADER], serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    w.on('message', (reply: ChildReply) => {
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      release(w);
      if ('error' in reply) p.reject(new Error(reply.error));
      else p.resolve(reply.continuations);
    });
    w.on('exit', (code) => {
      for (const [id, p] of pending) {
        if (p.worker !== w) continue;
        pending.delete(id);
        p.reject(new Error(`generation worker exited (code ${code})`));
      }
    });
    idle.push(w);
    return w;
  });
  function release(w: ChildProcess) {
    idle.push(w);
    waiting.shift()?.();
  }
  async function acquire(): Promise<ChildProcess> {
    while (idle.length === 0) await new Promise<void>((r) => waiting.push(r));
    return idle.shift()!;
  }
  return {
    generate: async (req) => {
      const w = await acquire();
      const id = nextId++;
      const items = req.items.map((it) => ({ midi: it.prompt.midi, seed: it.seed }));
      const job: ChildJob = { id, modelsDir, style: req.model, items, seconds: req.seconds, count: req.count, maxNotes: req.maxNotes, settings };
      return new Promise<NoteSequence[][]>((resolve, reject) => {
        pending.set(id, { resolve, reject, worker: w });
        w.send(job);
      });
    },
    close: () => {
      for (const w of workers) if (w.connected) w.disconnect();
    },
  };
}
