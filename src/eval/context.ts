/** Builds what scoring needs from the real data: training-stream n-gram indexes and held-out reference histograms. */
import path from 'node:path';
import { modelView, readSequence, stylePerformances, type Corpus, type CorpusEntry } from './corpus.js';
import { clipPedals, meanPlaying, playingHistograms, playingOverlaps, type PlayingHistograms, type PlayingReference } from './playing.js';
import { histogramOverlaps, meanHistograms, type HistogramName } from './distribution.js';
import type { FeatureHistograms } from './features.js';
import { clipNotes } from './features.js';
import { measureMemorisation, NgramIndex, noteKeys, type MemorisationResult } from './memorisation.js';
import { gigaTokenizer } from '../music/tokenizer.js';
import { STYLES, type Style } from './pieces.js';
import { clipStarts, MAX_CLIPS_PER_PERFORMANCE } from './train-classifier.js';
import { estimateKey } from '../music/key.js';
import type { Note } from '../music/note-sequence.js';
import { keyScore } from './runner.js';

/** Every file the style's model may have trained on (corpus.trainingFiles), as one 8-gram index per style. */
export function buildTrainIndexes(corpus: Corpus): Record<Style, NgramIndex> {
  const out = {} as Record<Style, NgramIndex>;
  for (const style of STYLES) {
    const index = new NgramIndex();
    for (const rel of corpus.trainingFiles[style]) index.add(noteKeys(readSequence(path.join(corpus.datasetsDir, rel))));
    out[style] = index;
  }
  return out;
}

function meanHistogramsOf(corpus: Corpus, rels: readonly string[], clipSec: number): FeatureHistograms | undefined {
  const clips = [];
  for (const rel of rels) {
    const seq = modelView(readSequence(path.join(corpus.datasetsDir, rel)));
    for (const start of clipStarts(seq.notes, clipSec, MAX_CLIPS_PER_PERFORMANCE)) clips.push(clipNotes(seq.notes, start, clipSec));
  }
  return meanHistograms(clips);
}

/** Mean histograms of clips of the style models' validation files: real music that neither model nor classifier saw. */
export function buildRealHeldOut(corpus: Corpus, clipSec: number): Record<Style, FeatureHistograms | undefined> {
  const out = {} as Record<Style, FeatureHistograms | undefined>;
  for (const style of STYLES) {
    out[style] = meanHistogramsOf(corpus, corpus.entries.filter((e) => e.style === style && e.role === 'style-validation').map((e) => e.relPath), clipSec);
  }
  return out;
}

/** Mean playing histograms (`playing.ts`) of clips of recorded performances, each with its own pedal and velocities. */
function meanPlayingOf(corpus: Corpus, entries: readonly CorpusEntry[], clipSec: number): PlayingHistograms | undefined {
  const clips: (PlayingHistograms | undefined)[] = [];
  for (const e of entries) {
    // As recorded, not through the tokenizer: decoded tokens shorten long pauses and would drift from the pedal.
    const seq = readSequence(path.join(corpus.datasetsDir, e.relPath));
    for (const start of clipStarts(seq.notes, clipSec, MAX_CLIPS_PER_PERFORMANCE)) {
      clips.push(playingHistograms(clipNotes(seq.notes, start, clipSec), clipPedals(seq.pedals, start, clipSec), clipSec));
    }
  }
  return meanPlaying(clips);
}

/**
 * How each style's pianists play (notes sounding, velocities about the median) in its held-out performances — the ones
 * `maestro performance` checks on — and, as the reference, how close its other performances come to that.
 */
export function buildRealPlaying(corpus: Corpus, clipSec: number): { heldOut: Record<Style, PlayingHistograms | undefined>; reference: Partial<Record<Style, PlayingReference>> } {
  const heldOut = {} as Record<Style, PlayingHistograms | undefined>;
  const reference: Partial<Record<Style, PlayingReference>> = {};
  for (const style of STYLES) {
    const { fit, heldOut: held } = stylePerformances(corpus, style);
    heldOut[style] = meanPlayingOf(corpus, held, clipSec);
    const other = meanPlayingOf(corpus, fit, clipSec);
    if (other && heldOut[style]) reference[style] = { ...playingOverlaps(other, heldOut[style]!), meanSounding: other.meanSounding };
  }
  return { heldOut, reference };
}

/**
 * What real music scores: the overlap of the style's training pieces (thesis selection) with its held-out pieces.
 * Generated music close to this is as close to the held-out pieces as other real pieces of the style are.
 */
export function realReferenceOverlaps(corpus: Corpus, heldOut: Record<Style, FeatureHistograms | undefined>, clipSec: number): Partial<Record<Style, Record<HistogramName, number>>> {
  const out: Partial<Record<Style, Record<HistogramName, number>>> = {};
  for (const style of STYLES) {
    const train = meanHistogramsOf(corpus, corpus.entries.filter((e) => e.style === style && e.role === 'style-train').map((e) => e.relPath), clipSec);
    if (train && heldOut[style]) out[style] = histogramOverlaps(train, heldOut[style]!);
  }
  return out;
}

/**
 * A performance's opening as a prompt and what follows it as its continuation: the notes that start in the first
 * `promptSec` after the first note (held no longer than that: nothing of the continuation leaks into the prompt), and
 * those that start in the `seconds` after it, timed from the cut. Undefined when the performance is shorter or either
 * side is silent (the report leaves out continuations without notes too).
 */
export function openingPair(notes: readonly Note[], promptSec: number, seconds: number): { prompt: Note[]; continuation: Note[] } | undefined {
  if (notes.length === 0) return undefined;
  const first = notes.reduce((a, n) => Math.min(a, n.startSec), Infinity);
  const last = notes.reduce((a, n) => Math.max(a, n.startSec), 0);
  const cut = first + promptSec;
  if (cut + seconds > last) return undefined;
  const prompt = notes.filter((n) => n.startSec < cut).map((n) => ({ ...n, startSec: n.startSec - first, endSec: Math.min(n.endSec, cut) - first }));
  const continuation = notes.filter((n) => n.startSec >= cut && n.startSec < cut + seconds).map((n) => ({ ...n, startSec: n.startSec - cut, endSec: n.endSec - cut }));
  return prompt.length > 0 && continuation.length > 0 ? { prompt, continuation } : undefined;
}

/** Key consistency of real music over its prompt/continuation pairs (the report's key columns). */
export interface KeyReference {
  pairs: number;
  keyAgreement: number;
  relatedKeyShare: number;
  meanKeyCorrelation: number;
  /** A cut at a fixed length, not a phrase's end: what stopping anywhere gives. */
  endsOnTonicShare: number;
}

/**
 * How often the composers themselves stay in the key: the opening of each piece of the style (its first performance
 * in the corpus; every piece, since no model or classifier is involved) as a prompt of the run's prompt length and the
 * music that follows it as the continuation, scored as continuations are. Openings, because the report's prompts are
 * openings and melodies; after them composers stay closer to the key than mid-piece (measured in session 30: baroque
 * 33 / 29 % in the key, romantic 42 / 25 %, vanguard 63 / 31 %, openings / every 30 s). Real music modulates, and to a
 * key-finder a passage on the dominant or in the relative key is in that key.
 */
export function realKeyReference(corpus: Corpus, promptSec: number, seconds: number): Partial<Record<Style, KeyReference>> {
  const out: Partial<Record<Style, KeyReference>> = {};
  for (const style of STYLES) {
    const pieces = new Set<string>();
    const scores: ReturnType<typeof keyScore>[] = [];
    for (const e of corpus.entries.filter((x) => x.style === style)) {
      if (pieces.has(e.pieceId)) continue;
      pieces.add(e.pieceId);
      const pair = openingPair(modelView(readSequence(path.join(corpus.datasetsDir, e.relPath))).notes, promptSec, seconds);
      if (pair) scores.push(keyScore(estimateKey(pair.prompt), pair.continuation));
    }
    if (scores.length === 0) continue;
    const share = (f: (s: (typeof scores)[number]) => boolean) => scores.filter(f).length / scores.length;
    out[style] = {
      pairs: scores.length,
      keyAgreement: share((s) => s.agree),
      relatedKeyShare: share((s) => s.related),
      meanKeyCorrelation: scores.reduce((a, s) => a + s.correlationWithPromptKey, 0) / scores.length,
      endsOnTonicShare: share((s) => s.endsOnTonic),
    };
  }
  return out;
}

/**
 * Self-check of the memorisation detector on real data: 30 s of tokens cut from the middle of a training file
 * (exactly what a model that memorised it would emit) must be found and flagged.
 */
export function memorisationSelfCheck(corpus: Corpus, index: Record<Style, NgramIndex>): { style: Style; file: string } & MemorisationResult {
  const style: Style = 'baroque';
  const file = corpus.trainingFiles[style][0];
  const tokens = gigaTokenizer.encode(readSequence(path.join(corpus.datasetsDir, file)));
  const notes = Math.floor(tokens.length / 4);
  const start = 4 * Math.floor(notes / 2);
  const excerpt = gigaTokenizer.decode(tokens.slice(start, start + 4 * 240));
  const kept = { ...excerpt, notes: excerpt.notes.filter((n) => n.startSec < 30) };
  return { style, file, ...measureMemorisation(kept, index[style]) };
}
