/**
 * Fits how a style's performers play what the GIGA tokens leave out — the sustain pedal and the dynamics — on real
 * performances (MAESTRO and ASAP; never a performance of a style model's validation piece), and scores both on those
 * validation pieces' performances, which the fit never saw. `maestro performance` writes the result to
 * models/<style>/performance.json.
 *
 * Pedal (src/music/pedal.ts): which rule makes the performers' own notes —
 * as the model sees them, key durations without pedal — ring most like the performers' pedal made them ring.
 *
 * The measure is the number of notes sounding every 50 ms (`soundingCounts`): with the performer's pedal against
 * with the rule's, as the mean absolute difference per frame. Every rule in a small grid, and no pedal at all, is
 * scored on the style's training performances (MAESTRO and ASAP; never a performance of a style model's validation
 * piece); of the rules within 1 % of the best, the one pressing the pedal about as often as the performers is kept, and
 * it is scored again on those validation pieces' performances, which it never saw.
 * A style whose notes ring closest to their performers' dry (Bach) gets no pedal.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Matrix, solve } from 'ml-matrix';
import { readSequence, stylePerformances, type Corpus, type CorpusEntry } from '../src/eval/corpus.js';
import { pedalFor, soundingCounts, type PedalStyle } from '../src/music/pedal.js';
import { compareNotes, type Note, type NoteSequence, type PedalSpan } from '../src/music/note-sequence.js';
import { DURATION_QUANTUM_MS, gigaQuanta, ONSET_QUANTUM_MS, simulatedVelocity } from '../src/music/tokenizer.js';
import { PERFORMANCE_FORMAT } from '../src/model/store.js';
import { arProcess, DYNAMICS_PROMPT_NOTES, median, velocityFeatures, VELOCITY_FEATURE_NAMES, type DynamicsModel } from '../src/music/dynamics.js';


export const PEDAL_GRID: readonly PedalStyle[] = [0.3, 0.5, 0.7].flatMap((harmonyChange) =>
  [0.25, 0.5, 1, 2].flatMap((minLiftGapSec) => [0.06, 0.12, 0.2].map((liftSec) => ({ harmonyChange, minLiftGapSec, liftSec }))),
);

/** How a pedalling rule made a set of performances ring, against their performers' own pedal. */
export interface RingScore {
  /** Mean notes sounding per 50-ms frame. */
  sounding: number;
  /** Mean |notes sounding − notes sounding with the performer's pedal| per frame. */
  error: number;
  /** Pedal presses a minute (each ends in a lift; none dry). */
  pressesPerMin: number;
}

/**
 * Rules whose frame error is within this fraction of the best are as near as the fit can tell (the same rules'
 * errors differ by 5–10 % between the fitting and the held-out performances); among them the one pressing the pedal
 * about as often as the performers is chosen. Romantic's nearest rule alone lifted 2.5 times as often as its pianists.
 */
const ERROR_TIE = 0.01;

export interface PedalFit {
  /** The rule, or null: this style is left dry. */
  pedal: PedalStyle | null;
  fitted: { performances: number; frames: number; performersPressesPerMin: number; dry: RingScore; nearest: RingScore & { rule: PedalStyle | null }; chosen: RingScore };
  heldOut: { performances: number; frames: number; performersPedal: { sounding: number; pedalDownShare: number; pressesPerMin: number }; dry: RingScore; chosen: RingScore };
}

/** Mean |predicted − played| velocity, over continuations of 20 s after 32-note prompts, each levelled from its prompt. */
export interface VelocityError {
  /** The reference's simulation (pitch + 10, chords + 30), levelled: what composing did without a model. */
  simulation: number;
  /** One velocity, the prompt's median. */
  flat: number;
  /** The fitted model's mean, levelled. */
  model: number;
  /** The mean plus drawn expression, levelled: as composing plays it. Further off note by note than the mean — the
   * expression is drawn, not predicted — but it varies as much as the performers do (`VelocitySpread`). */
  sampled: number;
}

/** How much velocities vary within the checked continuations: the standard deviation about each one's median. */
export interface VelocitySpread {
  performers: number;
  simulation: number;
  /** The regression's mean alone. */
  mean: number;
  /** The mean plus expression drawn from the fitted AR(1) residual, as composing plays it. */
  sampled: number;
}

export interface DynamicsFit {
  model: DynamicsModel;
  featureNames: string[];
  ridge: number;
  fitted: { performances: number; notes: number };
  heldOut: { performances: number; notes: number; error: VelocityError; spread: VelocitySpread; chordTop: VelocitySpread };
}

/**
 * Voicing: how much louder than the rest of its chord the top note is played, on average over every note that is the
 * highest of notes struck within 50 ms of it (the melody over its accompaniment, mostly).
 */
function chordTopLift(notes: readonly Note[], velocity: readonly number[]): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < notes.length; i++) {
    const others: number[] = [];
    let top = true;
    for (let k = i - 1; k >= 0 && notes[k]!.startSec >= notes[i]!.startSec - 0.05; k--) others.push(k);
    for (let k = i + 1; k < notes.length && notes[k]!.startSec <= notes[i]!.startSec + 0.05; k++) others.push(k);
    for (const k of others) if (notes[k]!.pitch > notes[i]!.pitch) top = false;
    if (!top || others.length === 0) continue;
    sum += velocity[i]! - others.reduce((s, k) => s + velocity[k]!, 0) / others.length;
    count++;
  }
  return { sum, count };
}

export interface PerformanceFile {
  format: typeof PERFORMANCE_FORMAT;
  style: string;
  pedal: PedalFit;
  dynamics: DynamicsFit;
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
    const { onset, dur } = gigaQuanta(n);
    const startMs = onset * ONSET_QUANTUM_MS;
    return { ...n, startSec: startMs / 1000, endSec: (startMs + dur * DURATION_QUANTUM_MS) / 1000 };
  }).sort(compareNotes); // as decoding orders them: by onset, chords top-down
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
  let presses = 0;
  for (const p of perfs) {
    const pedal = rule ? pedalFor(rule, p.notes) : [];
    const counts = soundingCounts(p.notes, pedal, p.endSec);
    for (let f = 0; f < counts.length; f++) {
      sounding += counts[f];
      error += Math.abs(counts[f] - p.real[f]);
    }
    frames += counts.length;
    presses += pedal.length;
  }
  return { frames, sounding: sounding / Math.max(frames, 1), error: error / Math.max(frames, 1), pressesPerMin: pressesPerMinute(perfs, presses) };
}

/** `presses` over the performances' length, a minute. */
function pressesPerMinute(perfs: readonly Performance[], presses: number): number {
  return (presses * 60) / Math.max(perfs.reduce((s, p) => s + p.endSec, 0), 1e-9);
}

const round = (x: number) => Math.round(x * 1000) / 1000;
const rounded = (s: RingScore): RingScore => ({ sounding: round(s.sounding), error: round(s.error), pressesPerMin: round(s.pressesPerMin) });

/** The MIDI files (absolute paths) a style's performance is fitted on, and those it is checked on. */
export interface PerformanceFiles {
  fit: string[];
  heldOut: string[];
}

/** A thesis style's performances in the evaluation catalogue (`stylePerformances`), as files. */
export function performanceEntries(corpus: Corpus, style: string): PerformanceFiles {
  const { fit, heldOut } = stylePerformances(corpus, style);
  const abs = (es: readonly CorpusEntry[]) => es.map((e) => path.join(corpus.datasetsDir, e.relPath));
  return { fit: abs(fit), heldOut: abs(heldOut) };
}

/** Where a corpus manifest's file ids point: `maestro:<midi_filename>` under the MAESTRO folder, `catalog:<path>` under the catalogue's. */
export interface SourceRoots {
  maestroDir: string;
  catalogDir: string;
}

/**
 * Any built style corpus' recorded performances (MAESTRO and ASAP files; piano-midi.de's are sequenced by hand), from
 * its manifest: fitted on its training files, checked on its validation files. This is how a style an admin added to
 * the styles config is fitted: the evaluation catalogue knows only the thesis' three.
 */
export function manifestPerformances(corpusDir: string, roots: SourceRoots): PerformanceFiles {
  const manifestPath = path.join(corpusDir, 'manifest.json');
  if (!existsSync(manifestPath)) throw new Error(`${corpusDir} has no manifest.json: build the style's dataset first (maestro dataset build)`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { files?: { id: string; source: string; split: string }[] };
  const located = (manifest.files ?? [])
    .filter((f) => f.source === 'maestro' || f.source === 'asap')
    .map((f) => ({ split: f.split, file: f.id.startsWith('maestro:') ? path.join(roots.maestroDir, f.id.slice('maestro:'.length)) : path.join(roots.catalogDir, f.id.slice('catalog:'.length)) }))
    .filter(({ file }) => existsSync(file));
  return { fit: located.filter((f) => f.split === 'train').map((f) => f.file), heldOut: located.filter((f) => f.split !== 'train').map((f) => f.file) };
}

/** Every `step`-th entry, so that a cap on the fitting set still spans all composers' pieces and sources. */
function spread<T>(xs: readonly T[], max: number): T[] {
  if (xs.length <= max) return [...xs];
  return Array.from({ length: max }, (_, i) => xs[Math.floor((i * xs.length) / max)]);
}

export interface FitOptions {
  /** Fit on at most this many performances, spread over the catalogue (default 60). */
  maxFit?: number;
  command: string;
  log?: (s: string) => void;
}

/** Both fits for one style. */
export function fitPerformance({ fit, heldOut }: PerformanceFiles, style: string, opts: FitOptions): PerformanceFile {
  const log = opts.log ?? (() => {});
  if (fit.length === 0 || heldOut.length === 0) throw new Error(`no ${style} performances to fit or check on (fit ${fit.length}, held out ${heldOut.length})`);
  const load = (files: readonly string[]) => files.map((f) => performance(readSequence(f))).filter((p): p is Performance => p !== null);
  const fitSet = load(spread(fit, opts.maxFit ?? 60));
  const held = load(heldOut);
  log(`${style}: fitting on ${fitSet.length} performances, checking on ${held.length}`);
  return { format: PERFORMANCE_FORMAT, style, pedal: fitPedal(fitSet, held, style, log), dynamics: fitDynamics(fitSet, held), command: opts.command };
}

function fitPedal(fitSet: readonly Performance[], held: readonly Performance[], style: string, log: (s: string) => void): PedalFit {
  const dryFit = score(fitSet, null);
  const performersRate = pressesPerMinute(fitSet, fitSet.reduce((n, p) => n + p.pedals.length, 0));
  const scored = [{ rule: null as PedalStyle | null, s: dryFit }, ...PEDAL_GRID.map((rule) => ({ rule, s: score(fitSet, rule) }))];
  const nearest = scored.reduce((a, b) => (b.s.error < a.s.error ? b : a));
  const best = scored
    .filter((c) => c.s.error <= nearest.s.error * (1 + ERROR_TIE))
    .reduce((a, b) => (Math.abs(b.s.pressesPerMin - performersRate) < Math.abs(a.s.pressesPerMin - performersRate) ? b : a));
  log(
    `${style}: ${best.rule ? `lift at harmony change ≥ ${best.rule.harmonyChange}, ≥ ${best.rule.minLiftGapSec} s apart, for ${best.rule.liftSec} s` : 'no pedal'} ` +
      `(error ${best.s.error.toFixed(3)} against ${dryFit.error.toFixed(3)} dry and ${nearest.s.error.toFixed(3)} for the nearest; ` +
      `${best.s.pressesPerMin.toFixed(0)} presses a minute, the nearest ${nearest.s.pressesPerMin.toFixed(0)}, the performers ${performersRate.toFixed(0)})`,
  );
  const dryHeld = score(held, null);
  const chosenHeld = best.rule ? score(held, best.rule) : dryHeld;
  let realSounding = 0;
  let down = 0;
  let seconds = 0;
  let presses = 0;
  for (const p of held) {
    for (const c of p.real) realSounding += c;
    for (const s of p.pedals) down += Math.min(s.endSec, p.endSec) - s.startSec;
    seconds += p.endSec;
    presses += p.pedals.length;
  }
  return {
    pedal: best.rule,
    fitted: {
      performances: fitSet.length,
      frames: dryFit.frames,
      performersPressesPerMin: round(performersRate),
      dry: rounded(dryFit),
      nearest: { rule: nearest.rule, ...rounded(nearest.s) },
      chosen: rounded(best.s),
    },
    heldOut: {
      performances: held.length,
      frames: dryHeld.frames,
      performersPedal: { sounding: round(realSounding / Math.max(dryHeld.frames, 1)), pedalDownShare: round(down / Math.max(seconds, 1e-9)), pressesPerMin: round(pressesPerMinute(held, presses)) },
      dry: rounded(dryHeld),
      chosen: rounded(chosenHeld),
    },
  };
}

/** A fixed seed per held-out performance for the drawn expression, so that the check is reproducible. */
const checkSeed = (i: number) => 0x5eed + i;

/** Ridge penalty on the dynamics weights (not the bias). */
const RIDGE = 1;
/** Each held-out check continues a 32-note prompt for this long. */
const CHECK_SEC = 20;

/** Per note from the 33rd on: how far its velocity lies from the median of the 32 before it (what the regression predicts). */
function relativeVelocities(notes: readonly Note[]): number[] {
  const out: number[] = [];
  for (let i = DYNAMICS_PROMPT_NOTES; i < notes.length; i++) out.push(notes[i]!.velocity - median(notes.slice(i - DYNAMICS_PROMPT_NOTES, i).map((n) => n.velocity)));
  return out;
}

const dot = (w: readonly number[], x: readonly number[]) => x.reduce((s, v, j) => s + v * w[j]!, 0);
const IN_A_CHORD = VELOCITY_FEATURE_NAMES.indexOf('in a chord');

/**
 * The dynamics: a ridge regression from `velocityFeatures` to `relativeVelocities` (the shape, not the level) on every
 * second note of the fitting performances, then an AR(1) process fitted to what it leaves, note after note.
 */
function fitDynamics(fitSet: readonly Performance[], held: readonly Performance[]): DynamicsFit {
  const fitted = fitSet.map((p) => ({ x: velocityFeatures(p.notes).slice(DYNAMICS_PROMPT_NOTES), y: relativeVelocities(p.notes) }));
  const rows = fitted.flatMap(({ x }) => x.filter((_, i) => i % 2 === 0));
  const targets = fitted.flatMap(({ y }) => y.filter((_, i) => i % 2 === 0));
  const a = new Matrix(rows);
  const penalty = Matrix.eye(VELOCITY_FEATURE_NAMES.length).mul(RIDGE);
  penalty.set(0, 0, 0);
  const weights = solve(a.transpose().mmul(a).add(penalty), a.transpose().mmul(Matrix.columnVector(targets))).to1DArray().map((w) => Math.round(w * 1e4) / 1e4);

  // AR(1) by least squares over consecutive residuals within each performance: rho = Σ r₋₁·r / Σ r₋₁², sigma the rest.
  let lag0 = 0;
  let lag1 = 0;
  const pairs: [number, number][] = [];
  for (const { x, y } of fitted) {
    const residuals = y.map((v, i) => v - dot(weights, x[i]!));
    for (let i = 1; i < residuals.length; i++) {
      lag0 += residuals[i - 1]! ** 2;
      lag1 += residuals[i - 1]! * residuals[i]!;
      pairs.push([residuals[i - 1]!, residuals[i]!]);
    }
  }
  const rho = lag0 > 0 ? lag1 / lag0 : 0;
  const sigma = Math.sqrt(pairs.reduce((s, [prev, r]) => s + (r - rho * prev) ** 2, 0) / Math.max(pairs.length, 1));
  const model: DynamicsModel = { weights, level: median(fitSet.flatMap((p) => p.notes.map((n) => n.velocity))), residual: { rho: round(rho), sigma: round(sigma) } };
  return { model, featureNames: [...VELOCITY_FEATURE_NAMES], ridge: RIDGE, fitted: { performances: fitSet.length, notes: rows.length }, heldOut: checkDynamics(model, held) };
}

/**
 * The dynamics checked as composing uses them, on performances the fit never saw: after each 32-note prompt, the next
 * 20 s, levelled from the prompt alone — against the reference's simulation and one flat velocity; and the voicing of
 * chords over each whole performance.
 */
function checkDynamics(model: DynamicsModel, held: readonly Performance[]): DynamicsFit['heldOut'] {
  const error = { simulation: 0, flat: 0, model: 0, sampled: 0 };
  const spread = { performers: 0, simulation: 0, mean: 0, sampled: 0 };
  const chordTop = { performers: 0, simulation: 0, mean: 0, sampled: 0 };
  let chordTops = 0;
  let notes = 0;
  held.forEach((p, index) => {
    const x = velocityFeatures(p.notes);
    const kinds = {
      performers: p.notes.map((n) => n.velocity),
      simulation: p.notes.map((n, i) => simulatedVelocity(n.pitch, x[i]![IN_A_CHORD] === 1)),
      mean: x.map((r) => dot(model.weights, r)),
      sampled: [] as number[],
    };
    const drawn = arProcess(model.residual!, p.notes.length, checkSeed(index));
    kinds.sampled = kinds.mean.map((m, i) => m + drawn[i]!);
    for (const key of ['performers', 'simulation', 'mean', 'sampled'] as const) {
      const lift = chordTopLift(p.notes, kinds[key]);
      chordTop[key] += lift.sum;
      if (key === 'performers') chordTops += lift.count;
    }
    for (let start = DYNAMICS_PROMPT_NOTES; start < p.notes.length; ) {
      let end = start;
      while (end < p.notes.length && p.notes[end]!.startSec < p.notes[start]!.startSec + CHECK_SEC) end++;
      const prompt = (v: readonly number[]) => median(v.slice(start - DYNAMICS_PROMPT_NOTES, start));
      const level = prompt(kinds.performers);
      for (const key of ['simulation', 'mean', 'sampled'] as const) {
        const shift = level - prompt(kinds[key]);
        for (let i = start; i < end; i++) error[key === 'mean' ? 'model' : key] += Math.abs(kinds[key][i]! + shift - kinds.performers[i]!);
      }
      for (let i = start; i < end; i++) error.flat += Math.abs(level - kinds.performers[i]!);
      for (const key of ['performers', 'simulation', 'mean', 'sampled'] as const) {
        const segment = kinds[key].slice(start, end);
        const m = median(segment);
        spread[key] += segment.reduce((s, v) => s + (v - m) ** 2, 0);
      }
      notes += end - start;
      start = end + DYNAMICS_PROMPT_NOTES;
    }
  });
  const per = (e: number) => round(e / Math.max(notes, 1));
  const std = (squares: number) => round(Math.sqrt(squares / Math.max(notes, 1)));
  const lift = (sum: number) => round(sum / Math.max(chordTops, 1));
  return {
    performances: held.length,
    notes,
    error: { simulation: per(error.simulation), flat: per(error.flat), model: per(error.model), sampled: per(error.sampled) },
    spread: { performers: std(spread.performers), simulation: std(spread.simulation), mean: std(spread.mean), sampled: std(spread.sampled) },
    chordTop: { performers: lift(chordTop.performers), simulation: lift(chordTop.simulation), mean: lift(chordTop.mean), sampled: lift(chordTop.sampled) },
  };
}
