/**
 * A generation worker process (forked by generate-pool.ts): runs `compose()` for the jobs its parent sends, so
 * the evaluation can sample on every core (tfjs-wasm uses one core per process). One model cache per process.
 */
import { compose } from '../compose.js';
import type { NoteSequence } from '../music/note-sequence.js';

export interface ChildJob {
  id: number;
  modelsDir: string;
  midi: Uint8Array;
  style: string;
  seconds: number;
  seed: number;
  count: number;
}

export type ChildReply = { id: number; continuations: NoteSequence[] } | { id: number; error: string };

process.on('message', (job: ChildJob) => {
  compose({ midi: job.midi, style: job.style, seconds: job.seconds, seed: job.seed, candidates: job.count, modelsDir: job.modelsDir })
    .then((r) => process.send!({ id: job.id, continuations: r.candidates.map((c) => c.continuation) } satisfies ChildReply))
    .catch((err: unknown) => process.send!({ id: job.id, error: err instanceof Error ? err.message : String(err) } satisfies ChildReply));
});
process.on('disconnect', () => process.exit(0));
