/** Builds what scoring needs from the real data: training-stream n-gram indexes and held-out reference histograms. */
import path from 'node:path';
import { modelView, readSequence, type Corpus } from './corpus.js';
import { histogramOverlaps, meanHistograms, type HistogramName } from './distribution.js';
import type { FeatureHistograms } from './features.js';
import { clipNotes } from './features.js';
import { measureMemorisation, NgramIndex, noteKeys, type MemorisationResult } from './memorisation.js';
import { gigaTokenizer } from '../music/tokenizer.js';
import { STYLES, type Style } from './pieces.js';
import { clipStarts, MAX_CLIPS_PER_PERFORMANCE } from './train-classifier.js';

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
