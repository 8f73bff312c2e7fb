/**
 * The thesis' own continuations of Für Elise (shared/reference/thesis-outputs), cut at the end of the prompt
 * so they can be scored exactly like ours.
 *
 * The files hold prompt + continuation, but GIGA-Piano dropped the prompt's leading silence, so the prompt
 * sits earlier than in the prompt file. The prompt part is recognised as the first N notes (N = the prompt's
 * note count) when their pitches are the prompt's; the continuation is everything after, timed from the prompt's
 * last onset — the same origin `compose()` uses for ours. Failing that match, the cut falls back to the prompt's
 * length measured from the first onset.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Note, NoteSequence } from '../music/note-sequence.js';
import { readSequence } from './corpus.js';
import type { Style } from './pieces.js';

export const THESIS_PROMPT = 'inicio_para_elisa.mid';
const STYLE_WORDS: Record<string, Style> = { barroco: 'baroque', romanticismo: 'romantic', vanguardia: 'vanguard' };

export interface ThesisContinuation {
  file: string;
  style: Style;
  notes: Note[];
  /** How the prompt was found: 'pitch-match' (first N pitches equal) or 'time-cut'. */
  cut: 'pitch-match' | 'time-cut';
}

function pitchBag(notes: readonly Note[]): string {
  return notes
    .map((n) => n.pitch)
    .sort((a, b) => a - b)
    .join(',');
}

export function splitAfterPrompt(output: NoteSequence, prompt: NoteSequence): { notes: Note[]; cut: ThesisContinuation['cut'] } {
  const n = prompt.notes.length;
  const outNotes = output.notes;
  const shiftTo = (origin: number, notes: readonly Note[]) => notes.map((x) => ({ ...x, startSec: x.startSec - origin, endSec: x.endSec - origin }));
  if (outNotes.length >= n && pitchBag(outNotes.slice(0, n)) === pitchBag(prompt.notes)) {
    const lastPromptOnset = Math.max(...outNotes.slice(0, n).map((x) => x.startSec));
    return { notes: shiftTo(lastPromptOnset, outNotes.slice(n)), cut: 'pitch-match' };
  }
  const promptFirst = prompt.notes[0]?.startSec ?? 0;
  const promptLastOnset = Math.max(...prompt.notes.map((x) => x.startSec));
  const cut = (outNotes[0]?.startSec ?? 0) + (promptLastOnset - promptFirst);
  return { notes: shiftTo(cut, outNotes.filter((x) => x.startSec > cut + 1e-3)), cut: 'time-cut' };
}

export function styleOfThesisFile(file: string): Style | undefined {
  const m = /^para_elisa_([a-z]+)_/.exec(file);
  return m ? STYLE_WORDS[m[1]] : undefined;
}

export function loadThesisContinuations(sharedRoot: string): ThesisContinuation[] {
  const dir = path.join(sharedRoot, 'reference/thesis-outputs');
  if (!fs.existsSync(dir)) return [];
  const prompt = readSequence(path.join(sharedRoot, 'prompts', THESIS_PROMPT));
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.mid') && styleOfThesisFile(f))
    .sort()
    .map((file) => ({ file, style: styleOfThesisFile(file)!, ...splitAfterPrompt(readSequence(path.join(dir, file)), prompt) }));
}
