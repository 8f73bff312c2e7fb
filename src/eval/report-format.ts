/** The evaluation report as markdown tables (and the same tables for the terminal) plus a small PNG chart. */
import { createCanvas } from '@napi-rs/canvas';
import type { GroupSummary, EvalResults } from './runner.js';
import { STYLES, type Style } from './pieces.js';
import type { HistogramName } from './distribution.js';
import type { StyleClassifierFile } from './style-classifier.js';
import type { KeyReference } from './context.js';
import { MAX_COPIED_BARS, BAR_SECONDS, NGRAM } from './memorisation.js';
import type { PlayingReference } from './playing.js';

const pct = (x: number | undefined) => (x === undefined ? '–' : `${(x * 100).toFixed(0)} %`);
const num = (x: number | undefined, d = 2) => (x === undefined ? '–' : x.toFixed(d));

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const label = (g: GroupSummary) => `${g.system} / ${g.requested === 'none' ? '(no style)' : g.requested}`;

/** Each style's real-music reference row, then every group that has the measure, the same cells for both (sections 5, 6). */
function againstReference<T>(header: string[], groups: GroupSummary[], realLabel: string, reference: Partial<Record<Style, T>>, measure: (g: GroupSummary) => T | undefined, cells: (v: T) => string[]): string {
  return table(header, [
    ...STYLES.filter((s) => reference[s]).map((s) => [`${realLabel} / ${s} (reference)`, ...cells(reference[s]!)]),
    ...groups.flatMap((g) => {
      const v = measure(g);
      return v ? [[label(g), ...cells(v)]] : [];
    }),
  ]);
}

export interface Goal {
  goal: string;
  measured: string;
  met: boolean | undefined;
}

/** The issue's goals, checked against what was measured (undefined = not measurable in this run). */
export function checkGoals(results: EvalResults, keyReference: Partial<Record<Style, KeyReference>> = {}): Goal[] {
  const ours = results.groups.filter((g) => g.system === 'ours');
  const thesis = results.groups.filter((g) => g.system === 'thesis');
  const all = results.groups;
  const n = (gs: GroupSummary[]) => gs.reduce((a, g) => a + g.n, 0);
  const weighted = (gs: GroupSummary[], f: (g: GroupSummary) => number | undefined) => {
    const used = gs.filter((g) => f(g) !== undefined);
    return used.length ? used.reduce((a, g) => a + f(g)! * g.n, 0) / n(used) : undefined;
  };
  const oursAcc = weighted(ours, (g) => g.styleAccuracy);
  const thesisAcc = weighted(thesis, (g) => g.styleAccuracy);
  const oursElise = weighted(results.thesisPromptGroups.filter((g) => g.system === 'ours'), (g) => g.styleAccuracy);
  const key = weighted(ours, (g) => g.keyAgreement);
  const related = weighted(ours, (g) => g.relatedKeyShare);
  // Real music of the same styles, each style counting as much as in ours (the same number of continuations each).
  const realStyles = ours.filter((g) => g.keyAgreement !== undefined && keyReference[g.requested as Style]).map((g) => keyReference[g.requested as Style]!);
  const realMean = (f: (r: KeyReference) => number) => (realStyles.length ? realStyles.reduce((a, r) => a + f(r), 0) / realStyles.length : undefined);
  const realKey = realMean((r) => r.keyAgreement);
  const realRelated = realMean((r) => r.relatedKeyShare);
  const flagged = all.reduce((a, g) => a + g.flaggedCopies, 0);
  const invalid = ours.reduce((a, g) => a + Math.round(g.n * (1 - g.validShare)), 0);
  return [
    { goal: 'style accuracy of our continuations ≥ 80 %', measured: pct(oursAcc), met: oursAcc === undefined ? undefined : oursAcc >= 0.8 },
    {
      goal: "… and above the thesis' outputs (same prompt)",
      measured: `ours ${pct(oursElise)} vs thesis ${pct(thesisAcc)} on Für Elise`,
      met: oursElise === undefined || thesisAcc === undefined ? undefined : oursElise > thesisAcc,
    },
    { goal: 'key agreement with the prompt ≥ 80 %', measured: pct(key), met: key === undefined ? undefined : key >= 0.8 },
    {
      goal: "… in the prompt's key, and in it or a related one, at least as often as real music of the style (section 2)",
      measured: `ours ${pct(key)} / ${pct(related)} vs real ${pct(realKey)} / ${pct(realRelated)}`,
      met: key === undefined || related === undefined || realKey === undefined || realRelated === undefined ? undefined : key >= realKey && related >= realRelated,
    },
    { goal: `no continuation copies more than ${MAX_COPIED_BARS} bars`, measured: `${flagged} flagged (all systems)`, met: n(all) ? flagged === 0 : undefined },
    { goal: '0 invalid outputs (ours)', measured: ours.length ? `${invalid} invalid of ${n(ours)}` : '–', met: ours.length ? invalid === 0 : undefined },
  ];
}

/** What real music scores on the report's measures, printed beside the continuations' scores. */
export interface RealReferences {
  /** Distribution overlaps of the style's training pieces with its held-out pieces (section 5). */
  overlaps?: Partial<Record<Style, Record<HistogramName, number>>>;
  /** Key consistency of the composers' own openings (section 2), and the span they were cut to. */
  key?: Partial<Record<Style, KeyReference>>;
  keySpan?: { promptSec: number; seconds: number };
  /** How close the style's other performances are played to its held-out ones (section 6). */
  playing?: Partial<Record<Style, PlayingReference>>;
}

export function formatReport(results: EvalResults, classifier: StyleClassifierFile, meta: Record<string, string>, real: RealReferences = {}): string {
  const { overlaps: realReference = {}, key: keyReference = {}, keySpan: keyReferenceSpan, playing: playingReference = {} } = real;
  const cv = classifier.training.crossValidation;
  const g = results.groups;
  const goals = checkGoals(results, keyReference);
  const styleRows = (gs: GroupSummary[]) =>
    gs.map((x) => [label(x), String(x.n), pct(x.styleAccuracy), num(x.meanRequestedProbability), x.meanLiftOverPrompt === undefined ? '–' : (x.meanLiftOverPrompt >= 0 ? '+' : '') + num(x.meanLiftOverPrompt), ...STYLES.map((s) => pct(x.predictedShare[s]))]);
  const styleHeader = ['system / requested', 'n', 'classified as requested', 'mean p(requested)', 'lift over prompt', ...STYLES.map((s) => `→ ${s}`)];
  const sections = [
    '# Maestro music evaluation',
    '',
    Object.entries(meta)
      .map(([k, v]) => `- ${k}: ${v}`)
      .join('\n'),
    '',
    '## Goals',
    table(['goal', 'measured', 'met'], goals.map((x) => [x.goal, x.measured, x.met === undefined ? 'not measured' : x.met ? 'yes' : 'NO'])),
    '',
    '## 1. Style accuracy',
    `Classifier (models/style-classifier): held-out accuracy **${pct(cv.accuracy)}**, balanced **${pct(cv.balancedAccuracy)}** ` +
      `(grouped ${cv.folds}-fold CV split by piece, ${cv.clips} real clips of ${cv.pieces} pieces; chance 33 %). ` +
      `Recall: ${STYLES.map((s) => `${s} ${pct(cv.recall[s])}`).join(', ')}. On the style models' validation pieces ` +
      `(never trained on): ${pct(classifier.training.validationPieces.accuracy)}.`,
    '',
    table(styleHeader, styleRows(g)),
    '',
    '"Classified as requested" counts only valid continuations (section 4): a wall of notes sounds "vanguard" to the classifier',
    'but is no success. Lift over prompt: mean p(requested) of the continuation minus that of the prompt\'s last clip. The classifier calls most',
    'monophonic melodies "baroque", so copying the prompt\'s texture scores its style; the lift shows what the model added.',
    '',
    "### Same prompt as the thesis (inicio_para_elisa): thesis vs ours vs base",
    results.thesisPromptGroups.length
      ? table(styleHeader, styleRows(results.thesisPromptGroups))
      : '(no continuations of the thesis prompt)',
    '',
    '### The prompts themselves, as the classifier hears them',
    table(
      ['prompt', ...STYLES.map((s) => `p(${s})`)],
      results.prompts.map((p) => [p.prompt, ...STYLES.map((s) => num(p.probabilities?.[s]))]),
    ),
    '',
    '## 2. Key consistency (Krumhansl–Schmuckler, duration-weighted)',
    'Agreement: the continuation\'s estimated key equals the prompt\'s (tonic and mode). Correlation: the continuation\'s profile with the prompt key\'s profile.',
    '',
    'Related: the prompt\'s key or a closely related one (relative, dominant, subdominant, and their relatives) — a modulation, not a lost key.',
    '',
    'Ends on the tonic: the lowest note sounding at the last onset (the last chord\'s, or one held into it) is the prompt key\'s tonic (a continuation kept to a key may go on up to a quarter longer to end there; the real rows are cut at a fixed length, which is what stopping anywhere gives).',
    '',
    ...(STYLES.some((s) => keyReference[s])
      ? [
          `Reference ("real"): the opening of every piece of the style (${num(keyReferenceSpan?.promptSec, 1)} s, the prompts' median length) as the prompt and the ` +
            `${num(keyReferenceSpan?.seconds, 0)} s that follow it as the continuation, scored the same way: how often the composers themselves stay in the key after an opening ` +
            '(they modulate, and to a key-finder a passage on the dominant or in the relative key is in that key).',
          '',
        ]
      : []),
    table(
      ['system / requested', 'n', 'key agreement', 'related key', 'mean correlation with prompt key', 'ends on the tonic'],
      [
        ...STYLES.filter((s) => keyReference[s]).map((s) => {
          const r = keyReference[s]!;
          return [`real openings / ${s} (reference)`, String(r.pairs), pct(r.keyAgreement), pct(r.relatedKeyShare), num(r.meanKeyCorrelation), pct(r.endsOnTonicShare)];
        }),
        ...g.map((x) => [label(x), String(x.n), pct(x.keyAgreement), pct(x.relatedKeyShare), num(x.meanKeyCorrelation), pct(x.endsOnTonicShare)]),
      ],
    ),
    '',
    '## 3. Memorisation',
    `${NGRAM}-grams of (dt, pitch) tokens copied from the style's training stream (base: worst of the three). A bar is ${BAR_SECONDS} s; more than ${MAX_COPIED_BARS} bars is flagged.`,
    '',
    table(
      ['system / requested', 'n', 'longest copy (notes)', 'longest copy (bars)', `mean share of notes in copied ${NGRAM}-grams`, 'flagged'],
      g.map((x) => [label(x), String(x.n), String(x.longestCopyNotes), num(x.longestCopyBars, 1), pct(x.meanCopiedShare), String(x.flaggedCopies)]),
    ),
    '',
    '## 4. Validity',
    table(
      ['system / requested', 'n', 'decoded', 'valid', 'notes/s', 'pitch range', 'longest silence (s)', 'pathologies'],
      g.map((x) => [
        label(x),
        String(x.n),
        pct(x.decodedShare),
        pct(x.validShare),
        num(x.meanNotesPerSec, 1),
        num(x.meanPitchRange, 0),
        num(x.meanLongestSilenceSec, 1),
        Object.entries(x.pathologies).map(([k, v]) => `${k} ${v}`).join(', ') || 'none',
      ]),
    ),
    '',
    '## 5. Distribution overlap with real held-out music of the requested style',
    'Σ min(p, q) of mean histograms (1 = identical): key-relative pitch classes, melodic intervals, inter-onset intervals. Reference: clips of the style models\' validation pieces.',
    '',
    againstReference(['system / requested', 'pitch class', 'interval', 'IOI'], g, 'real training pieces', realReference, (x) => x.overlap, (o) => [num(o.pitchClass), num(o.interval), num(o.ioi)]),
    '',
    "## 6. Played as the style's pianists play",
    'The notes as they are heard: how many sound at once in each 50-ms frame (key releases and the sustain pedal, ringing at most 4 s) and each ' +
      "note's velocity about the passage's median, as mean histograms against clips of the style's held-out recorded performances (MAESTRO and ASAP " +
      'performances of its validation pieces, with their own pedal and velocities); Σ min(p, q). Reference: clips of its other recorded performances.',
    '',
    againstReference(['system / requested', 'notes sounding (mean)', 'notes sounding: overlap', 'velocities: overlap'], g, 'real other performances', playingReference, (x) => x.playing, (p) => [num(p.meanSounding), pct(p.sounding), pct(p.velocity)]),
    '',
  ];
  const failures = results.items.filter((i) => i.error);
  if (failures.length) {
    sections.push('## Failures', ...[...new Set(failures.map((f) => `- ${f.system}/${f.requested} × ${f.prompt}: ${f.error}`))], '');
  }
  return sections.join('\n');
}

/** Bar chart: share classified as the requested style, per system and style. */
export function styleChartPng(results: EvalResults): Buffer {
  const systems = ['thesis', 'ours', 'base'] as const;
  const colours: Record<(typeof systems)[number], string> = { thesis: '#c0504d', ours: '#4f81bd', base: '#9bbb59' };
  const w = 640;
  const h = 360;
  const canvas = createCanvas(w, h);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, w, h);
  const left = 50;
  const bottom = h - 50;
  const top = 40;
  const plotH = bottom - top;
  ctx.fillStyle = '#000000';
  ctx.font = '16px sans-serif';
  ctx.fillText('Share of continuations classified as the requested style', left, 24);
  ctx.font = '12px sans-serif';
  ctx.strokeStyle = '#cccccc';
  for (const y of [0, 0.25, 0.5, 0.75, 1]) {
    const py = bottom - y * plotH;
    ctx.beginPath();
    ctx.moveTo(left, py);
    ctx.lineTo(w - 20, py);
    ctx.stroke();
    ctx.fillText(`${y * 100}%`, 8, py + 4);
  }
  const groupW = (w - left - 20) / STYLES.length;
  const barW = groupW / (systems.length + 1);
  STYLES.forEach((style, si) => {
    systems.forEach((system, k) => {
      const grp = results.groups.find((x) => x.system === system && x.requested === style);
      // The base model has no style: its bar is how often it lands in that style unasked (a baseline).
      const base = results.groups.find((x) => x.system === 'base' && x.requested === 'none');
      const value = system === 'base' ? base?.predictedShare[style] : grp?.styleAccuracy;
      if (value === undefined) return;
      const x = left + si * groupW + (k + 0.5) * barW;
      ctx.fillStyle = colours[system];
      ctx.fillRect(x, bottom - value * plotH, barW * 0.9, value * plotH);
    });
    ctx.fillStyle = '#000000';
    ctx.fillText(style, left + si * groupW + groupW / 2 - 24, bottom + 18);
  });
  systems.forEach((system, k) => {
    ctx.fillStyle = colours[system];
    ctx.fillRect(left + k * 150, h - 22, 12, 12);
    ctx.fillStyle = '#000000';
    ctx.fillText(system === 'base' ? 'base (unasked)' : system, left + k * 150 + 18, h - 12);
  });
  return canvas.toBuffer('image/png');
}
