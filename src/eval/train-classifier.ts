/**
 * Trains the style classifier on real performances and measures it honestly.
 *
 * Data: every Bach/Chopin/Rachmaninoff performance in shared/datasets (thesis selection, ASAP, piano-midi-de)
 * except the style models' validation pieces (corpus.ts), seen through the model's tokenizer (`modelView`) and
 * cut into clips as long as a continuation. Held-out accuracy: grouped k-fold cross-validation where all clips of
 * all performances of one piece fall in the same fold, so the classifier is always scored on pieces it never saw.
 * Styles are balanced by example weights (romantic has ~3× the data of the others).
 */
import path from 'node:path';
import { clipNotes, extractFeatures } from './features.js';
import { classifierEntries, modelView, readSequence, type Corpus, type CorpusEntry } from './corpus.js';
import { predictClass, trainLogistic } from './logistic.js';
import { STYLES, type Style } from './pieces.js';
import { CLASSIFIER_FORMAT, type HeldOutMetrics, type StyleClassifierFile } from './style-classifier.js';

export const DEFAULT_CLIP_SECONDS = 30;
/** Long performances would otherwise dominate: at most this many clips per performance, evenly spread. */
export const MAX_CLIPS_PER_PERFORMANCE = 12;
const MIN_NOTES_PER_CLIP = 8;

export interface LabelledClip {
  style: Style;
  pieceId: string;
  relPath: string;
  features: number[];
}

/** Start times of non-overlapping clips of a performance, evenly subsampled to at most `max`. */
export function clipStarts(notes: readonly { startSec: number }[], clipSec: number, max: number): number[] {
  if (notes.length === 0) return [];
  const first = notes[0].startSec;
  const last = notes[notes.length - 1].startSec;
  const all: number[] = [];
  for (let t = first; t + clipSec <= last + 1e-9 || all.length === 0; t += clipSec) all.push(t);
  if (all.length <= max) return all;
  return Array.from({ length: max }, (_, i) => all[Math.floor((i * all.length) / max)]);
}

export function clipsOfEntry(entry: CorpusEntry, datasetsDir: string, clipSec: number): { features: number[]; names: string[] }[] {
  const seq = modelView(readSequence(path.join(datasetsDir, entry.relPath)));
  const out: { features: number[]; names: string[] }[] = [];
  for (const start of clipStarts(seq.notes, clipSec, MAX_CLIPS_PER_PERFORMANCE)) {
    const notes = clipNotes(seq.notes, start, clipSec);
    if (notes.length < MIN_NOTES_PER_CLIP) continue;
    const f = extractFeatures(notes, clipSec);
    out.push({ features: f.values, names: f.names });
  }
  return out;
}

/** FNV-1a: a stable, platform-independent hash for deterministic fold assignment. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Fold per piece: within each style, pieces in hash order are dealt round-robin so every fold has every style. */
export function assignFolds(clips: readonly LabelledClip[], folds: number): Map<string, number> {
  const fold = new Map<string, number>();
  for (const style of STYLES) {
    const pieces = [...new Set(clips.filter((c) => c.style === style).map((c) => c.pieceId))].sort((a, b) => fnv1a(a) - fnv1a(b) || a.localeCompare(b));
    pieces.forEach((p, i) => fold.set(p, i % folds));
  }
  return fold;
}

function balancedWeights(labels: readonly number[], k: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (const l of labels) counts[l]++;
  return labels.map((l) => labels.length / (k * counts[l]));
}

export function metricsOf(truth: readonly number[], predicted: readonly number[], pieces: number): HeldOutMetrics {
  const confusion = Object.fromEntries(STYLES.map((t) => [t, Object.fromEntries(STYLES.map((p) => [p, 0]))])) as Record<Style, Record<Style, number>>;
  truth.forEach((t, i) => confusion[STYLES[t]][STYLES[predicted[i]]]++);
  const recall = Object.fromEntries(
    STYLES.map((s) => {
      const row = confusion[s];
      const total = STYLES.reduce((a, p) => a + row[p], 0);
      return [s, total ? row[s] / total : 0];
    }),
  ) as Record<Style, number>;
  const correct = truth.filter((t, i) => t === predicted[i]).length;
  return {
    accuracy: truth.length ? correct / truth.length : 0,
    balancedAccuracy: STYLES.reduce((a, s) => a + recall[s], 0) / STYLES.length,
    recall,
    confusion,
    clips: truth.length,
    pieces,
  };
}

export function crossValidate(clips: readonly LabelledClip[], names: readonly string[], folds: number, l2: number): HeldOutMetrics {
  const fold = assignFolds(clips, folds);
  const truth: number[] = [];
  const predicted: number[] = [];
  for (let f = 0; f < folds; f++) {
    const train = clips.filter((c) => fold.get(c.pieceId) !== f);
    const test = clips.filter((c) => fold.get(c.pieceId) === f);
    if (test.length === 0) continue;
    const labels = train.map((c) => STYLES.indexOf(c.style));
    const model = trainLogistic(
      train.map((c) => c.features),
      labels,
      STYLES,
      names,
      { l2, sampleWeights: balancedWeights(labels, STYLES.length) },
    );
    for (const c of test) {
      truth.push(STYLES.indexOf(c.style));
      predicted.push(predictClass(model, c.features));
    }
  }
  return metricsOf(truth, predicted, new Set(clips.map((c) => c.pieceId)).size);
}

export interface TrainReport {
  file: StyleClassifierFile;
  perL2: { l2: number; balancedAccuracy: number; accuracy: number }[];
}

export function collectClips(corpus: Corpus, clipSec: number, log: (s: string) => void = () => {}): { clips: LabelledClip[]; names: string[]; entries: CorpusEntry[] } {
  const entries = classifierEntries(corpus);
  const clips: LabelledClip[] = [];
  let names: string[] = [];
  for (const [i, e] of entries.entries()) {
    let entryClips: ReturnType<typeof clipsOfEntry>;
    try {
      entryClips = clipsOfEntry(e, corpus.datasetsDir, clipSec);
    } catch (err) {
      log(`  skipped ${e.relPath}: ${(err as Error).message}`);
      continue;
    }
    for (const c of entryClips) {
      names = c.names;
      clips.push({ style: e.style, pieceId: e.pieceId, relPath: e.relPath, features: c.features });
    }
    if ((i + 1) % 100 === 0) log(`  features: ${i + 1}/${entries.length} performances`);
  }
  return { clips, names, entries };
}

export function trainStyleClassifier(
  corpus: Corpus,
  opts: { clipSeconds?: number; folds?: number; l2Candidates?: number[]; log?: (s: string) => void } = {},
): TrainReport {
  const clipSec = opts.clipSeconds ?? DEFAULT_CLIP_SECONDS;
  const folds = opts.folds ?? 5;
  const candidates = opts.l2Candidates ?? [1e-4, 1e-3, 1e-2, 1e-1];
  const log = opts.log ?? (() => {});
  const { clips, names, entries } = collectClips(corpus, clipSec, log);
  if (clips.length === 0) throw new Error('No training clips: is ../shared/datasets there?');

  const perL2: TrainReport['perL2'] = [];
  let best: { l2: number; metrics: HeldOutMetrics } | undefined;
  for (const l2 of candidates) {
    const metrics = crossValidate(clips, names, folds, l2);
    perL2.push({ l2, balancedAccuracy: metrics.balancedAccuracy, accuracy: metrics.accuracy });
    log(`  λ=${l2}: held-out balanced accuracy ${(metrics.balancedAccuracy * 100).toFixed(1)} %, accuracy ${(metrics.accuracy * 100).toFixed(1)} %`);
    if (!best || metrics.balancedAccuracy > best.metrics.balancedAccuracy) best = { l2, metrics };
  }
  const labels = clips.map((c) => STYLES.indexOf(c.style));
  const model = trainLogistic(
    clips.map((c) => c.features),
    labels,
    STYLES,
    names,
    { l2: best!.l2, sampleWeights: balancedWeights(labels, STYLES.length) },
  );
  // A second, independent check: the style models' validation files, which no fold ever trained on.
  const truth: number[] = [];
  const predicted: number[] = [];
  const validation = corpus.entries.filter((e) => e.role === 'style-validation');
  for (const e of validation) {
    for (const c of clipsOfEntry(e, corpus.datasetsDir, clipSec)) {
      truth.push(STYLES.indexOf(e.style));
      predicted.push(predictClass(model, c.features));
    }
  }
  const validationPieces = metricsOf(truth, predicted, new Set(validation.map((e) => e.pieceId)).size);
  log(`  style models' validation pieces: balanced accuracy ${(validationPieces.balancedAccuracy * 100).toFixed(1)} %`);
  const count = <T>(items: readonly T[], style: (t: T) => Style, key: (t: T) => string) =>
    Object.fromEntries(STYLES.map((s) => [s, new Set(items.filter((t) => style(t) === s).map(key)).size])) as Record<Style, number>;
  return {
    perL2,
    file: {
      format: CLASSIFIER_FORMAT,
      clipSeconds: clipSec,
      model,
      training: {
        clips: Object.fromEntries(STYLES.map((s) => [s, clips.filter((c) => c.style === s).length])) as Record<Style, number>,
        performances: count(entries, (e) => e.style, (e) => e.relPath),
        pieces: count(entries, (e) => e.style, (e) => e.pieceId),
        crossValidation: { folds, l2Candidates: candidates, chosenL2: best!.l2, ...best!.metrics },
        validationPieces,
      },
    },
  };
}
