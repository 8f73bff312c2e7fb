/**
 * A generation worker process (forked by generate-pool.ts): runs `continueMany()` for the jobs its parent sends, so
 * the evaluation can sample on every core (tfjs-wasm uses one core per process). One model cache per process.
 */
import { continueMany } from '../compose.js';
import type { NoteSequence } from '../music/note-sequence.js';

/** How the evaluation samples our models (each absent setting: as served). */
export interface GenerateSettings {
  /** Sample with the style's memory (the served configuration). */
  memory: boolean;
  /** Pitch temperature. */
  temperature?: number;
  /** How strongly a continuation keeps to its prompt's key. */
  keyStrength?: number;
  /** Whether a continuation ends on its key's tonic (absent: as served, yes; see ComposeRequest.endOnTonic). */
  endOnTonic?: boolean;
}

export interface ChildJob {
  id: number;
  modelsDir: string;
  style: string;
  items: { midi: Uint8Array; seed: number }[];
  seconds: number;
  count: number;
  maxNotes: number;
  settings: GenerateSettings;
}

export type ChildReply = { id: number; continuations: NoteSequence[][] } | { id: number; error: string };

process.on('message', (job: ChildJob) => {
  continueMany({ style: job.style, items: job.items, seconds: job.seconds, candidates: job.count, maxNotes: job.maxNotes, modelsDir: job.modelsDir, ...job.settings })
    .then((continuations) => process.send!({ id: job.id, continuations } satisfies ChildReply))
    .catch((err: unknown) => process.send!({ id: job.id, error: err instanceof Error ? err.message : String(err) } satisfies ChildReply));
});
process.on('disconnect', () => process.exit(0));
