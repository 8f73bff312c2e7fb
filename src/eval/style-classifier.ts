/**
 * The shipped style classifier: a multinomial logistic regression over `extractFeatures` of a clip, stored as
 * JSON in models/style-classifier/ (trained by train-classifier.ts; `maestro eval --report out --retrain`).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Note } from '../music/note-sequence.js';
import { extractFeatures } from './features.js';
import { predictProba, type LogisticModel } from './logistic.js';
import { STYLES, type Style } from './pieces.js';

export const CLASSIFIER_FORMAT = 'maestro-style-classifier/1';
export const DEFAULT_CLASSIFIER_DIR = 'models/style-classifier';
export const CLASSIFIER_FILE = 'classifier.json';

export interface HeldOutMetrics {
  /** Share of held-out clips classified correctly. */
  accuracy: number;
  /** Mean of per-style recalls (chance = 1/3 whatever the class sizes). */
  balancedAccuracy: number;
  /** Per style: its clips' recall. */
  recall: Record<Style, number>;
  /** confusion[true][predicted] clip counts. */
  confusion: Record<Style, Record<Style, number>>;
  clips: number;
  pieces: number;
}

export interface StyleClassifierFile {
  format: typeof CLASSIFIER_FORMAT;
  clipSeconds: number;
  model: LogisticModel;
  training: {
    clips: Record<Style, number>;
    performances: Record<Style, number>;
    pieces: Record<Style, number>;
    crossValidation: { folds: number; l2Candidates: number[]; chosenL2: number } & HeldOutMetrics;
    /** The final model on clips of the style models' validation files (excluded from all training). */
    validationPieces: HeldOutMetrics;
  };
}

export interface StyleClassifier {
  file: StyleClassifierFile;
  /** Probabilities per style for a clip (notes starting at ≥ 0, `spanSec` long). */
  classify(notes: readonly Note[], spanSec: number): { style: Style; probabilities: Record<Style, number> };
}

export function makeClassifier(file: StyleClassifierFile): StyleClassifier {
  return {
    file,
    classify(notes, spanSec) {
      const f = extractFeatures(notes, spanSec);
      if (f.names.join() !== file.model.featureNames.join()) {
        throw new Error('The style classifier was trained on other features; retrain it with `maestro eval --report <dir> --retrain`.');
      }
      const p = predictProba(file.model, f.values);
      const probabilities = Object.fromEntries(file.model.classes.map((c, i) => [c, p[i]])) as Record<Style, number>;
      let best: Style = STYLES[0];
      for (const s of STYLES) if (probabilities[s] > probabilities[best]) best = s;
      return { style: best, probabilities };
    },
  };
}

export function loadClassifier(dir: string): StyleClassifier {
  const file = path.join(dir, CLASSIFIER_FILE);
  if (!fs.existsSync(file)) throw new Error(`No style classifier at ${file}; train one with \`maestro eval --report <dir> --retrain\`.`);
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as StyleClassifierFile;
  if (parsed.format !== CLASSIFIER_FORMAT) throw new Error(`${file} is not a ${CLASSIFIER_FORMAT} file.`);
  return makeClassifier(parsed);
}

export function saveClassifier(dir: string, file: StyleClassifierFile): void {
  fs.mkdirSync(dir, { recursive: true });
  // Rounded to 6 significant digits: the file stays small and diffs stay readable; predictions are unaffected.
  const json = JSON.stringify(file, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v), 1);
  fs.writeFileSync(path.join(dir, CLASSIFIER_FILE), `${json}\n`);
}
