import type { NoteSequence } from '../music/note-sequence.js';
import type { OpusOptions } from './opus.js';
import type { RenderOptions } from './render-pcm.js';

/** main thread → render worker */
export interface RenderRequest {
  id: number;
  input: NoteSequence | Uint8Array;
  render: RenderOptions;
  /** Also encode to Ogg Opus (and skip sending the PCM back). */
  encode?: OpusOptions;
}

export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

/** render worker → main thread */
export type RenderResponse =
  | { id: number; ok: true; sampleRate: 48000; channels?: Float32Array[]; ogg?: Uint8Array; bitrate?: number; renderMs: number; encodeMs: number }
  | { id: number; ok: false; error: SerializedError };
