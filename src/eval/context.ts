/** Builds what scoring needs from the real data: training-stream n-gram indexes and held-out reference histograms. */
import path from 'node:path';
import { modelView, readSequence, type Corpus } from './corpus.js';
import { meanHistograms } from './distribution.js';
import type { FeatureHistograms } from './features.js';
import { clipNotes } from './features.js';
import { NgramIndex, noteKeys } from './memorisation.js';
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

/** Mean histograms of clips of the style models' validation files: real music that neither model nor classifier saw. */
export function buildRealHeldOut(corpus: Corpus, clipSec: number): Record<Style, FeatureHistograms | undefined> {
  const out = {} as Record<Style, FeatureHistograms | undefined>;
  for (const style of STYLES) {
    const clips = [];
    for (const e of corpus.entries) {
      if (e.style !== style || e.role !== 'style-validation') continue;
      const seq = modelView(readSequence(path.join(corpus.datasetsDir, e.relPath)));
      for (const start of clipStarts(seq.notes, clipSec, MAX_CLIPS_PER_PERFORMANCE)) clips.push(clipNotes(seq.notes, start, clipSec));
    }
    out[style] = meanHistograms(clips);
  }
  return out;
}
