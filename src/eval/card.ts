/** The style classifier's model card (models/style-classifier/README.md), written from its training record. */
import { STYLES } from './pieces.js';
import type { StyleClassifierFile } from './style-classifier.js';

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

export function classifierCard(file: StyleClassifierFile, perL2: { l2: number; balancedAccuracy: number; accuracy: number }[]): string {
  const t = file.training;
  const cv = t.crossValidation;
  const lines = [
    '# Style classifier (baroque / romantic / vanguard)',
    '',
    'Scores whether a passage sounds like Bach (baroque), Chopin (romantic) or Rachmaninoff (vanguard); used by',
    '`maestro eval --report <dir>` to measure the style of generated continuations. Trained by',
    '`maestro eval --report <dir> --retrain` (src/eval/train-classifier.ts); this folder holds its output.',
    '',
    '## Model',
    `Multinomial logistic regression with L2 (λ = ${cv.chosenL2}, chosen by cross-validation from ${cv.l2Candidates.join(', ')}) on`,
    `${file.model.featureNames.length} standardised features of a ${file.clipSeconds} s clip (src/eval/features.ts): key-relative pitch-class profile,`,
    'mode and key clarity, harmonic interval classes, top-line and note-stream melodic intervals, inter-onset-interval',
    'histogram and statistics, durations, polyphony, chord size, register, density. No velocity: the GIGA vocabulary',
    'does not encode it. Every clip is first passed through the tokenizer (encode → decode), so real and generated',
    'music are measured in the same resolution.',
    '',
    '## Data',
    'Real performances from `../shared/datasets` (MAESTRO thesis selection, ASAP, piano-midi-de) of Bach, Chopin and',
    "Rachmaninoff, **excluding every performance of the style models' validation pieces**: the files in the last 10 %",
    "of each style's zip-order token stream (thesis protocol), the validation files listed by the dataset manifests",
    '(`data/<style>/manifest.json`, `data/thesis-<style>/manifest.json`, when built), and all other performances of',
    'those pieces in any dataset (titles matched by catalogue number, opus/number, BWV, WTC book + key; src/eval/pieces.ts).',
    '',
    '| style | performances | pieces | clips |',
    '|---|---|---|---|',
    ...STYLES.map((s) => `| ${s} | ${t.performances[s]} | ${t.pieces[s]} | ${t.clips[s]} |`),
    '',
    `At most 12 non-overlapping clips per performance; styles balanced by example weights.`,
    '',
    '## Held-out accuracy',
    `Grouped ${cv.folds}-fold cross-validation **split by piece** (all performances of a piece in one fold), ${cv.clips} clips of ${cv.pieces} pieces.`,
    `Chance is 33.3 %.`,
    '',
    `- accuracy: **${pct(cv.accuracy)}**, balanced accuracy (mean recall): **${pct(cv.balancedAccuracy)}**`,
    ...STYLES.map((s) => `- ${s} recall: ${pct(cv.recall[s])}`),
    '',
    '| true \\ predicted | ' + STYLES.join(' | ') + ' |',
    '|---|' + STYLES.map(() => '---').join('|') + '|',
    ...STYLES.map((s) => `| ${s} | ${STYLES.map((p) => cv.confusion[s][p]).join(' | ')} |`),
    '',
    'λ search (balanced accuracy / accuracy): ' + perL2.map((p) => `λ=${p.l2}: ${pct(p.balancedAccuracy)} / ${pct(p.accuracy)}`).join('; '),
    '',
    'The shipped weights are refit on all the eligible clips with the chosen λ. Scored on the clips of the style',
    `models' own validation files (${t.validationPieces.clips} clips of ${t.validationPieces.pieces} pieces, excluded from all of the above), it reaches`,
    `accuracy ${pct(t.validationPieces.accuracy)}, balanced ${pct(t.validationPieces.balancedAccuracy)} (${STYLES.map((s) => `${s} ${pct(t.validationPieces.recall[s])}`).join(', ')}).`,
    '',
    '## Licence',
    'Trained on MAESTRO and ASAP (CC BY-NC-SA 4.0) and piano-midi.de (CC BY-SA 3.0 DE, Bernd Krueger): these',
    'weights are a derivative of CC BY-NC-SA data — non-commercial use, share alike, attribute the datasets.',
    '',
  ];
  return lines.join('\n');
}
