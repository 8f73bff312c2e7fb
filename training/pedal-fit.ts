/**
 * Fits a style's pedalling (src/music/pedal.ts) on real performances: which rule makes the performers' own notes —
 * as the model sees them, key durations without pedal — ring most like the performers' pedal made them ring.
 *
 * The measure is the number of notes sounding every 50 ms (`soundingCounts`): with the performer's pedal against
 * with the rule's, as the mean absolute difference per frame. Every rule in a small grid, and no pedal at all, is
 * scored on the style's training performances (MAESTRO and ASAP; never a performance of a style model's validation
 * piece), the best is kept, and it is scored again on those validation pieces' performances, which it never saw.
 * A style whose notes ring closest to their performers' dry (Bach) gets no pedal.
 */
import path from 'node:path';
import { readSequence, type Corpus, type CorpusEntry } from '../src/eval/corpus.js';
import { pedalFor, soundingCounts, type PedalStyle } from '../src/music/pedal.js';
import type { Note, NoteSequence, PedalSpan } from '../src/music/note-sequence.js';
import { DURATION_QUANTUM_MS, MAX_DUR, MIN_DUR, ONSET_QUANTUM_MS } from '../src/music/tokenizer.js';
import { PEDAL_FORMAT } from '../src/model/store.js';


export const PEDAL_GRID: readonly PedalStyle[] = [0.3, 0.5, 0.7].flatMap((harmonyChange) =>
  [0.25, 0.5, 1, 2].flatMap((minLiftGapSec) => [0.06, 0.12, 0.2].map((liftSec) => ({ harmonyChange, minLiftGapSec, liftSec }))),
);

/** How a pedalling rule made a set of performances ring, against their performers' own pedal. */
export interface RingScore {
  /** Mean notes sounding per 50-ms frame. */
  sounding: number;
  /** Mean |notes sounding − notes sounding with the performer's pedal| per frame. */
  error: number;
}

export interface PedalFile {
  format: typeof PEDAL_FORMAT;
  style: string;
  /** The rule, or null: this style is left dry. */
  pedal: PedalStyle | null;
  fitted: { performances: number; frames: number; dry: RingScore; chosen: RingScore };
  heldOut: { performances: number; frames: number; performersPedal: { sounding: number; pedalDownShare: number }; dry: RingScore; chosen: RingScore };
  command: string;
}

interface Performance {
  /** As the model sees them, on the performance's clock. */
  notes: Note[];
  pedals: PedalSpan[];
  endSec: number;
  real: Uint16Array;
}

/**
 * A performance's notes at the GIGA resolution — onsets floored to 16 ms, key durations to 32 ms within 32 ms–4.03 s,
 * as the tokenizer does — but on the performance's own clock, where its pedal is (the token stream itself drops
 * every pause over 2 s, so decoded tokens drift from the pedal by seconds over a long piece).
 */
function atModelResolution(notes: readonly Note[]): Note[] {
  return notes.map((n) => {
    const startMs = Math.floor(Math.round(n.startSec * 1000) / ONSET_QUANTUM_MS) * ONSET_QUANTUM_MS;
    const dur = Math.min(MAX_DUR, Math.max(MIN_DUR, Math.floor((Math.round(n.endSec * 1000) - Math.round(n.startSec * 1000)) / DURATION_QUANTUM_MS)));
    return { ...n, startSec: startMs / 1000, endSec: (startMs + dur * DURATION_QUANTUM_MS) / 1000 };
  });
}

function performance(seq: NoteSequence): Performance | null {
  if (seq.notes.length < 20) return null;
  const notes = atModelResolution(seq.notes);
  const endSec = Math.max(...notes.map((n) => n.endSec));
  return { notes, pedals: seq.pedals, endSec, real: soundingCounts(notes, seq.pedals, endSec) };
}

function score(perfs: readonly Performance[], rule: PedalStyle | null): RingScore & { frames: number } {
  let frames = 0;
  let sounding = 0;
  let error = 0;
  for (const p of perfs) {
    const counts = soundingCounts(p.notes, rule ? pedalFor(rule, p.notes) : [], p.endSec);
    for (let f = 0; f < counts.length; f++) {
      sounding += counts[f];
      error += Math.abs(counts[f] - p.real[f]);
    }
    frames += counts.length;
  }
  return { frames, sounding: sounding / Math.max(frames, 1), error: error / Math.max(frames, 1) };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
const rounded = (s: RingScore): RingScore => ({ sounding: round(s.sounding), error: round(s.error) });

/** Performances (MAESTRO-recorded: the thesis files and ASAP) of a style, by role. */
export function pedalEntries(corpus: Corpus, style: string): { fit: CorpusEntry[]; heldOut: CorpusEntry[] } {
  const performed = corpus.entries.filter((e) => e.style === style && (e.source === 'maestro-thesis' || e.source === 'asap'));
  return {
    fit: performed.filter((e) => e.role === 'style-train' || e.role === 'other'),
    heldOut: performed.filter((e) => e.role === 'style-validation' || e.role === 'validation-piece'),
  };
}

/** Every `step`-th entry, so that a cap on the fitting set still spans all composers' pieces and sources. */
function spread<T>(xs: readonly T[], max: number): T[] {
  if (xs.length <= max) return [...xs];
  return Array.from({ length: max }, (_, i) => xs[Math.floor((i * xs.length) / max)]);
}

export function fitPedal(
  corpus: Corpus,
  style: string,
  opts: { maxFit?: number; command: string; log?: (s: string) => void },
): PedalFile {
  const log = opts.log ?? (() => {});
  const { fit, heldOut } = pedalEntries(corpus, style);
  if (fit.length === 0 || heldOut.length === 0) throw new Error(`no ${style} performances to fit or check a pedal on (fit ${fit.length}, held out ${heldOut.length})`);
  const load = (es: readonly CorpusEntry[]) => es.map((e) => performance(readSequence(path.join(corpus.datasetsDir, e.relPath)))).filter((p): p is Performance => p !== null);
  const fitSet = load(spread(fit, opts.maxFit ?? 60));
  log(`${style}: fitting on ${fitSet.length} performances`);
  const dryFit = score(fitSet, null);
  let best: { rule: PedalStyle | null; s: RingScore } = { rule: null, s: dryFit };
  for (const rule of PEDAL_GRID) {
    const s = score(fitSet, rule);
    if (s.error < best.s.error) best = { rule, s };
  }
  log(`${style}: ${best.rule ? `lift at harmony change ≥ ${best.rule.harmonyChange}, ≥ ${best.rule.minLiftGapSec} s apart, for ${best.rule.liftSec} s` : 'no pedal'} (error ${best.s.error.toFixed(3)} against ${dryFit.error.toFixed(3)} dry)`);
  const held = load(heldOut);
  const dryHeld = score(held, null);
  const chosenHeld = best.rule ? score(held, best.rule) : dryHeld;
  let realSounding = 0;
  let down = 0;
  let seconds = 0;
  for (const p of held) {
    for (const c of p.real) realSounding += c;
    for (const s of p.pedals) down += Math.min(s.endSec, p.endSec) - s.startSec;
    seconds += p.endSec;
  }
  return {
    format: PEDAL_FORMAT,
    style,
    pedal: best.rule,
    fitted: { performances: fitSet.length, frames: dryFit.frames, dry: rounded(dryFit), chosen: rounded(best.s) },
    heldOut: {
      performances: held.length,
      frames: dryHeld.frames,
      performersPedal: { sounding: round(realSounding / Math.max(dryHeld.frames, 1)), pedalDownShare: round(down / Math.max(seconds, 1e-9)) },
      dry: rounded(dryHeld),
      chosen: rounded(chosenHeld),
    },
    command: opts.command,
  };
}
