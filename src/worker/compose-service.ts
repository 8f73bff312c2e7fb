// The real ComposeService: the lead's compose() pipeline, then the audio engineer's renderer for each
// candidate. Models stay cached in the process (compose() keeps them), so a worker loads each style once.
import { compose as composeInProcess, UnknownStyleError, type ComposeRequest, type ComposeResult } from '../compose.js';
import { MidiInputError } from '../music/midi.js';
import type { NoteSequence } from '../music/note-sequence.js';
import { renderOutputs } from '../render/index.js';
import { ComposeInputError, type ComposeService } from '../queue/jobs.js';

/** renderOutputs from src/render: audio + piano roll of a candidate. */
export type RenderOutputs = (prompt: NoteSequence | null, continuation: NoteSequence, caption: string, opts: { soundFont?: string; maxBytes?: number }) => Promise<{ ogg: Uint8Array; png: Uint8Array }>;

export interface PipelineOptions {
  modelsDir: string;
  /** renderOutputs from src/render by default. */
  render?: RenderOutputs;
  soundFont?: string | null;
  /** compose() itself by default; a ComposeThreadPool's compose in the worker process (keeps the event loop free). */
  compose?: (req: ComposeRequest) => Promise<ComposeResult>;
}

export function createPipelineService(opts: PipelineOptions): ComposeService {
  const compose = opts.compose ?? composeInProcess;
  const render = opts.render ?? renderOutputs;
  return async (req, onProgress) => {
    const s = req.settings;
    const t0 = Date.now();
    let result;
    try {
      result = await compose({
        midi: req.promptMidi ?? undefined,
        ...(req.promptDeclaredKey ? { declaredKey: req.promptDeclaredKey } : {}),
        style: s.style,
        seconds: s.seconds,
        temperature: s.temperature,
        topP: s.topP,
        seed: s.seed,
        candidates: s.candidates,
        ...(s.memory === false ? { memory: false } : {}),
        ...(s.pedal === false ? { pedal: false } : {}),
        ...(s.keyStrength === undefined ? {} : { keyStrength: s.keyStrength }),
        ...(s.key === undefined ? {} : { key: s.key }),
        modelsDir: opts.modelsDir,
        onProgress: (fraction) => onProgress({ stage: 'sampling', fraction }),
      });
    } catch (err) {
      // These can never succeed on a retry; the message is written for the user.
      if (err instanceof MidiInputError) throw new ComposeInputError(`I can't use that MIDI file: ${err.message}`);
      if (err instanceof UnknownStyleError) {
        // Not err.message: it names server paths, which are no business of Discord users.
        throw new ComposeInputError(`The ${s.style} style is not available right now: it has no trained model yet (an admin can train and promote one with /admin).`);
      }
      throw err;
    }
    const sampleMs = Date.now() - t0;
    const t1 = Date.now();
    const candidates = [];
    for (const c of result.candidates) {
      onProgress({ stage: 'rendering', fraction: c.index / result.candidates.length });
      const caption = `${s.style}${result.key ? ` · ${result.key}` : ''} · seed ${result.settings.seed}${result.candidates.length > 1 ? ` · #${c.index + 1}` : ''}`;
      const { ogg, png } = await render(result.prompt, c.continuation, caption, { soundFont: opts.soundFont ?? undefined, maxBytes: req.maxFileBytes });
      candidates.push({
        seed: result.settings.seed,
        midi: c.fullMidi,
        ogg,
        png,
        continuationSec: c.continuation.notes.reduce((m, n) => Math.max(m, n.endSec), 0),
        noteCount: c.continuation.notes.length,
      });
    }
    return { candidates, ...(result.key ? { key: result.key } : {}), timings: { sampleMs, renderMs: Date.now() - t1 } };
  };
}
