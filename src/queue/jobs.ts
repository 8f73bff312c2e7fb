// The contract between the bot (producer), the workers (consumers) and the delivery step.
// Jobs carry small JSON and *keys* into the file store; audio/MIDI/images never go into Redis.

export const QUEUE_NAMES = {
  compose: 'compose',
  training: 'training',
  /** Results waiting to be posted to Discord by the bot; survives bot restarts. */
  deliveries: 'deliveries',
} as const;

/** Where to answer: the interaction (for 15 minutes) and, after that, its channel. */
export interface ReplyTarget {
  applicationId: string;
  interactionId: string;
  token: string;
  channelId: string;
  userId: string;
  /** When the bot received the interaction (its token expires 15 min later). */
  receivedAt: number;
  /** Per-file upload limit Discord advertised for this interaction. */
  attachmentSizeLimit: number;
}

export interface ComposeSettings {
  style: string;
  seconds: number;
  temperature: number;
  topP: number;
  seed: number;
  candidates: number;
  /** false: the GPT alone, without the style's memory of its training performances (absent: with it). */
  memory?: boolean;
  /** false: no sustain pedal under the continuation (absent: the style's, when it has one). */
  pedal?: boolean;
  /** How strongly the continuation keeps to the prompt's key (absent: the served default; jobs queued before it existed). */
  keyStrength?: number;
  /** Keep to this key ("D minor") instead of the prompt's. */
  key?: string;
}

export interface ComposeJobData {
  target: ReplyTarget;
  settings: ComposeSettings;
  /** File-store key of the validated prompt MIDI, or null to improvise. */
  promptKey: string | null;
  promptName: string | null;
  /**
   * The key the prompt's notation declares (a typed melody's K: field, e.g. "G major"): kept to when 90 % of its notes'
   * sounding time lies in that key's scale (music/key.ts `clearKey`). Absent for MIDI files, whose key signatures are
   * too often a default to trust.
   */
  promptDeclaredKey?: string;
  /** The melody as it was typed (ABC), so that the reply's reproduce line can give it back. */
  promptText?: string;
  origin: 'command' | 'regenerate' | 'continue';
}

export interface CandidateFiles {
  index: number;
  seed: number;
  oggKey: string;
  midiKey: string;
  pngKey: string;
  continuationSec: number;
  noteCount: number;
}

/** Written by the inference worker next to the files; read by the bot to deliver and by buttons to regenerate/continue. */
export interface ComposeManifest {
  jobId: string;
  settings: ComposeSettings;
  promptKey: string | null;
  promptName: string | null;
  /** As ComposeJobData.promptDeclaredKey (kept for Regenerate and Continue). */
  promptDeclaredKey?: string;
  /** As ComposeJobData.promptText (kept for Regenerate, not for Continue: its prompt is the continued piece). */
  promptText?: string;
  candidates: CandidateFiles[];
  /** The key the continuation was kept to (e.g. "A minor"): `settings.key` when one was asked for, else the prompt's; absent when it was free. */
  key?: string;
  timings: ComposeTimings;
  finishedAt: number;
}

export interface ComposeTimings {
  queueMs: number;
  sampleMs: number;
  renderMs: number;
}

export interface ComposeResult {
  manifestKey: string;
}

/** What a worker reports through job.updateProgress. */
export interface JobProgress {
  stage: 'sampling' | 'rendering' | 'dataset' | 'training' | 'saving';
  /** 0..1 */
  fraction: number;
  detail?: string;
}

// ---------- the injected compose pipeline ----------

export interface ComposeServiceRequest {
  promptMidi: Uint8Array | null;
  /** As ComposeJobData.promptDeclaredKey. */
  promptDeclaredKey?: string;
  settings: ComposeSettings;
  /** Upload limit per file where the result will be posted; the audio is encoded to fit. */
  maxFileBytes: number;
}

export interface ComposedCandidate {
  seed: number;
  /** Prompt + continuation, so "continue" can feed it back as the next prompt. */
  midi: Uint8Array;
  ogg: Uint8Array;
  png: Uint8Array;
  continuationSec: number;
  noteCount: number;
}

export interface ComposeServiceResult {
  candidates: ComposedCandidate[];
  /** As ComposeManifest.key. */
  key?: string;
  timings: { sampleMs: number; renderMs: number };
}

/**
 * The inference pipeline as the worker sees it. The real one composes with the style's model and renders
 * with the SoundFont; it must throw `ComposeInputError` for input that can never succeed (so the job is not retried).
 */
export type ComposeService = (req: ComposeServiceRequest, onProgress: (p: JobProgress) => void) => Promise<ComposeServiceResult>;

/** Input that will fail on every attempt (unknown style, unusable MIDI): not retried, shown to the user. */
export class ComposeInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComposeInputError';
  }
}

// ---------- training ----------

export type TrainingAction = 'dataset-rebuild' | 'train' | 'promote' | 'rollback';

export interface TrainingJobData {
  action: TrainingAction;
  style: string | null;
  steps: number | null;
  target: ReplyTarget;
}

export interface TrainingOutcome {
  /** One or two lines an admin reads in Discord. */
  summary: string;
}

/** Training entry points, injected so tests can run a tiny job and so a missing trainer is reported, not faked. */
export interface TrainingService {
  rebuildDataset(style: string | null, onProgress: (p: JobProgress) => void): Promise<TrainingOutcome>;
  /** `stop` aborts when an operator asks the run to stop (/admin stop): it stops cleanly and the model so far is kept. */
  train(style: string, steps: number | null, onProgress: (p: JobProgress) => void, stop?: AbortSignal): Promise<TrainingOutcome>;
  promote(style: string): Promise<TrainingOutcome>;
  rollback(style: string): Promise<TrainingOutcome>;
  /** Worker shutdown: ask long-running work to stop soon (cleanly, with a checkpoint). */
  shutdown?(): void;
}

// ---------- delivery ----------

export type DeliveryJobData =
  | { kind: 'compose-result'; jobId: string; target: ReplyTarget; manifestKey: string }
  | { kind: 'failed'; jobId: string; target: ReplyTarget; message: string }
  | { kind: 'training-result'; jobId: string; target: ReplyTarget; action: TrainingAction; summary: string };

/** BullMQ forbids ':' and integer-only custom ids, so interaction ids get a prefix. */
export function jobIdFor(interactionId: string): string {
  return `i-${interactionId}`;
}

export function deliveryIdFor(jobId: string): string {
  return `d-${jobId}`;
}
