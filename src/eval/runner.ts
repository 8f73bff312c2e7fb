/**
 * Scores generated continuations: style (classifier), key consistency with the prompt, memorisation against the
 * style's training stream, validity, and distribution overlap with real held-out music of the style.
 * Generation is injected (`GenerateFn`), so the runner is tested without a model and wired to `compose()` by the CLI.
 */
import type { Note, NoteSequence, PedalSpan } from '../music/note-sequence.js';
import { meanPlaying, playingHistograms, playingOverlaps, type PlayingHistograms, type PlayingReference } from './playing.js';
import { correlationWithKey, estimateKey, isRelatedKey, type KeyEstimate } from '../music/key.js';
import { measureMemorisation, type MemorisationResult, type NgramIndex } from './memorisation.js';
import { LIMITS, measureValidity, type ValidityResult } from './validity.js';
import { histogramOverlaps, meanHistograms, HISTOGRAMS, type HistogramName } from './distribution.js';
import type { FeatureHistograms } from './features.js';
import { STYLES, type Style } from './pieces.js';
import type { StyleClassifier } from './style-classifier.js';
import { modelView } from './corpus.js';
import { fnv1a } from './train-classifier.js';

/** A generating system: ours (style models), base (the un-fine-tuned model), thesis (its published files). */
export type SystemName = 'ours' | 'base' | 'thesis';
/** What was asked for: a style, or nothing (the base model has no style). */
export type Requested = Style | 'none';

export interface Prompt {
  name: string;
  midi: Uint8Array;
  seq: NoteSequence;
}

export interface GenerateRequest {
  /** Style model to use; 'base' for the base model. */
  model: Style | 'base';
  /** Prompts, each with its seed; sampled as one batch. */
  items: { prompt: Prompt; seed: number }[];
  seconds: number;
  /** K: continuations wanted per prompt (candidate k of a prompt draws from its seed's k-th stream). */
  count: number;
  /** Stop a continuation after this many notes: one more would already make it a wall of notes (invalid). */
  maxNotes: number;
}

/** For each item, `count` continuations (timed from the prompt's last onset), in order. May throw. */
export type GenerateFn = (req: GenerateRequest) => Promise<NoteSequence[][]>;

/**
 * The generation note cap for `seconds` of music: the first count above the validity limit. A continuation that
 * reaches it is already a wall of notes, so stopping there changes no verdict; it only saves sampling time.
 */
export function noteCap(seconds: number): number {
  return Math.floor(LIMITS.maxNotesPerSec * seconds) + 1;
}

export interface Continuation {
  system: SystemName;
  prompt: string;
  requested: Requested;
  /** Seed, or the thesis file name. */
  id: string;
  /** undefined = generation or decoding failed. */
  notes?: Note[];
  /** The sustain pedal it is played with (our models' continuations; undefined where the source does not say). */
  pedals?: PedalSpan[];
  error?: string;
  seconds: number;
  promptNotes: readonly Note[];
}

export interface ScoredContinuation {
  system: SystemName;
  prompt: string;
  requested: Requested;
  id: string;
  error?: string;
  validity: ValidityResult;
  /**
   * `promptProbabilities`: the classifier on the prompt's last clip. Monophonic melodies look "baroque" to it, so
   * a continuation that merely imitates its prompt scores the prompt's style; the lift over the prompt shows
   * how far the model moved the music towards the requested style.
   */
  style?: { predicted: Style; probabilities: Record<Style, number>; promptProbabilities?: Record<Style, number> };
  key?: { prompt: string; continuation: string; agree: boolean; related: boolean; correlationWithPromptKey: number; endsOnTonic: boolean };
  /** Against the requested style's training stream (base: the worst of the three). */
  memorisation?: MemorisationResult & { against: Style };
}

export interface EvalContext {
  classifier: StyleClassifier;
  /** 8-gram index of each style model's training stream. */
  trainIndex: Record<Style, NgramIndex>;
  /** Mean histograms of real held-out (validation-piece) clips per style. */
  realHeldOut: Record<Style, FeatureHistograms | undefined>;
  /** How each style's pianists play in their held-out performances (`buildRealPlaying`); absent: not scored. */
  realPlaying?: Record<Style, PlayingHistograms | undefined>;
}

function span(notes: readonly Note[], seconds: number): number {
  const end = notes.reduce((a, n) => Math.max(a, n.endSec), 0);
  return Math.max(1, Math.min(seconds, end));
}

/** How a continuation's key relates to its prompt's (also used on real music, for the reference). */
export function keyScore(promptKey: KeyEstimate, notes: readonly Note[]): NonNullable<ScoredContinuation['key']> {
  const k = estimateKey(notes);
  return {
    prompt: promptKey.name,
    continuation: k.name,
    agree: k.tonic === promptKey.tonic && k.mode === promptKey.mode,
    related: isRelatedKey(k, promptKey),
    correlationWithPromptKey: correlationWithKey(notes, promptKey),
    endsOnTonic: lastChordBass(notes) % 12 === promptKey.tonic,
  };
}

/**
 * The bass of the last chord: the lowest note sounding at the last onset — the chord's own (those that start within one
 * onset quantum, 16 ms, of it) and any held from before.
 */
export function lastChordBass(notes: readonly Note[]): number {
  const last = notes.reduce((a, n) => Math.max(a, n.startSec), -Infinity);
  return notes.filter((n) => n.startSec >= last - 0.016 || n.endSec > last).reduce((a, n) => Math.min(a, n.pitch), Infinity);
}

/** The classifier on the last clip-length of a prompt (what the continuation follows), timed from 0. */
export function classifyPrompt(promptNotes: readonly Note[], ctx: EvalContext): Record<Style, number> | undefined {
  if (promptNotes.length === 0) return undefined;
  const clipSec = ctx.classifier.file.clipSeconds;
  const lastOnset = promptNotes.reduce((a, n) => Math.max(a, n.startSec), 0);
  const from = Math.max(0, lastOnset - clipSec);
  const firstOnset = promptNotes.filter((n) => n.startSec >= from).reduce((a, n) => Math.min(a, n.startSec), Infinity);
  const shifted = promptNotes.filter((n) => n.startSec >= firstOnset).map((n) => ({ ...n, startSec: n.startSec - firstOnset, endSec: n.endSec - firstOnset }));
  const notes = modelView({ notes: shifted, pedals: [], tempos: [], source: {} }).notes;
  return ctx.classifier.classify(notes, span(notes, clipSec)).probabilities;
}

export function scoreContinuation(c: Continuation, ctx: EvalContext, promptProbabilities?: Record<Style, number>): ScoredContinuation {
  // A continuation stopped at the note cap is a wall of notes that ended early, not one that fell silent.
  const capped = c.system !== 'thesis' && (c.notes?.length ?? 0) >= noteCap(c.seconds);
  const validity = measureValidity(c.notes, c.seconds, { capped });
  const base = { system: c.system, prompt: c.prompt, requested: c.requested, id: c.id, validity, ...(c.error ? { error: c.error } : {}) };
  if (!c.notes || c.notes.length === 0) return base;
  const notes = c.notes.filter((n) => n.startSec >= 0);
  const seq: NoteSequence = { notes, pedals: [], tempos: [{ timeSec: 0, bpm: 120 }], source: {} };
  // The classifier learnt from real music seen through the tokenizer; generated music gets the same view
  // (a no-op for our decoded continuations, a 16 ms grid for the thesis' files).
  const clip = modelView({ ...seq, notes: notes.filter((n) => n.startSec < c.seconds) }).notes;
  const cls = ctx.classifier.classify(clip, span(clip, c.seconds));
  const against: Style[] = c.requested === 'none' ? [...STYLES] : [c.requested];
  const mem = against
    .map((s) => ({ ...measureMemorisation(seq, ctx.trainIndex[s]), against: s }))
    .reduce((a, b) => (b.longestCopyNotes > a.longestCopyNotes ? b : a));
  return {
    ...base,
    style: { predicted: cls.style, probabilities: cls.probabilities, ...(promptProbabilities ? { promptProbabilities } : {}) },
    ...(c.promptNotes.length > 0 ? { key: keyScore(estimateKey(c.promptNotes), notes) } : {}),
    memorisation: mem,
  };
}

export interface GroupSummary {
  system: SystemName;
  requested: Requested;
  n: number;
  decodedShare: number;
  validShare: number;
  pathologies: Record<string, number>;
  /** Share that is valid and classified as the requested style (undefined for 'none'). */
  styleAccuracy?: number;
  /** Share classified as each style. */
  predictedShare: Record<Style, number>;
  meanRequestedProbability?: number;
  /** Mean of p(requested | continuation) − p(requested | prompt). */
  meanLiftOverPrompt?: number;
  keyAgreement?: number;
  /** Share in the prompt's key or a closely related one (relative, dominant, subdominant and their relatives). */
  relatedKeyShare?: number;
  meanKeyCorrelation?: number;
  /** Share whose last chord has the prompt key's tonic in the bass. */
  endsOnTonicShare?: number;
  longestCopyNotes: number;
  longestCopyBars: number;
  meanCopiedShare: number;
  flaggedCopies: number;
  meanNotesPerSec: number;
  meanPitchRange: number;
  meanLongestSilenceSec: number;
  /** Overlap with real held-out music of the requested style (for 'none': undefined). */
  overlap?: Record<HistogramName, number>;
  /** How it is played — notes sounding at once, velocities about the median — against the style's held-out performances. */
  playing?: PlayingReference;
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

export function summarise(system: SystemName, requested: Requested, items: readonly ScoredContinuation[], continuations: readonly Continuation[], ctx: EvalContext): GroupSummary {
  const styled = items.filter((i) => i.style);
  const keyed = items.filter((i) => i.key);
  const mem = items.filter((i) => i.memorisation).map((i) => i.memorisation!);
  const pathologies: Record<string, number> = {};
  for (const i of items) for (const p of i.validity.pathologies) pathologies[p] = (pathologies[p] ?? 0) + 1;
  const predictedShare = Object.fromEntries(STYLES.map((s) => [s, items.length ? styled.filter((i) => i.style!.predicted === s).length / items.length : 0])) as Record<Style, number>;
  const decoded = items.filter((i) => i.validity.decoded);
  let overlap: GroupSummary['overlap'];
  if (requested !== 'none' && ctx.realHeldOut[requested]) {
    const gen = meanHistograms(continuations.filter((c) => c.notes).map((c) => c.notes!.filter((n) => n.startSec >= 0 && n.startSec < c.seconds)));
    if (gen) overlap = histogramOverlaps(gen, ctx.realHeldOut[requested]!);
  }
  let playing: GroupSummary['playing'];
  const realPlaying = requested !== 'none' ? ctx.realPlaying?.[requested] : undefined;
  const played = continuations.filter((c) => c.notes && c.pedals);
  if (realPlaying && played.length) {
    const gen = meanPlaying(played.map((c) => playingHistograms(c.notes!.filter((n) => n.startSec >= 0 && n.startSec < c.seconds), c.pedals!, c.seconds)));
    if (gen) playing = { ...playingOverlaps(gen, realPlaying), meanSounding: gen.meanSounding };
  }
  return {
    system,
    requested,
    n: items.length,
    decodedShare: items.length ? decoded.length / items.length : 0,
    validShare: items.length ? items.filter((i) => i.validity.valid).length / items.length : 0,
    pathologies,
    ...(requested !== 'none'
      ? {
          // A pathological output (e.g. a wall of notes, which the classifier hears as "vanguard") is no success.
          styleAccuracy: items.length ? styled.filter((i) => i.validity.valid && i.style!.predicted === requested).length / items.length : 0,
          meanRequestedProbability: mean(styled.map((i) => i.style!.probabilities[requested])),
          ...(styled.some((i) => i.style!.promptProbabilities)
            ? { meanLiftOverPrompt: mean(styled.filter((i) => i.style!.promptProbabilities).map((i) => i.style!.probabilities[requested] - i.style!.promptProbabilities![requested])) }
            : {}),
        }
      : {}),
    predictedShare,
    ...(keyed.length
      ? {
          keyAgreement: keyed.filter((i) => i.key!.agree).length / keyed.length,
          relatedKeyShare: keyed.filter((i) => i.key!.related).length / keyed.length,
          meanKeyCorrelation: mean(keyed.map((i) => i.key!.correlationWithPromptKey)),
          endsOnTonicShare: keyed.filter((i) => i.key!.endsOnTonic).length / keyed.length,
        }
      : {}),
    longestCopyNotes: mem.reduce((a, m) => Math.max(a, m.longestCopyNotes), 0),
    longestCopyBars: mem.reduce((a, m) => Math.max(a, m.longestCopyBars), 0),
    meanCopiedShare: mean(mem.map((m) => m.copiedShare)),
    flaggedCopies: mem.filter((m) => m.flagged).length,
    meanNotesPerSec: mean(decoded.map((i) => i.validity.notesPerSec)),
    meanPitchRange: mean(decoded.map((i) => i.validity.pitchRange)),
    meanLongestSilenceSec: mean(decoded.map((i) => i.validity.longestSilenceSec)),
    ...(overlap ? { overlap } : {}),
    ...(playing ? { playing } : {}),
  };
}

export interface RunOptions {
  prompts: Prompt[];
  k: number;
  seconds: number;
  seed: number;
  /** Style models to evaluate (default all three). */
  styles?: readonly Style[];
  generate?: GenerateFn;
  /** Also run the base model through `generate` with model 'base'. */
  includeBase?: boolean;
  /** Requests in flight at once (for a pool of generation processes); results keep the plan's order. */
  concurrency?: number;
  /** Prompts per generation request (default: a model's prompts in BATCHES_PER_MODEL even batches). */
  batchPrompts?: number;
  log?: (s: string) => void;
}

/** The sampling seed of a prompt: a stable hash of the run's seed and the prompt's name (31 bits). */
export function promptSeed(seed: number, promptName: string): number {
  return fnv1a(`${seed}:${promptName}`) & 0x7fffffff;
}

/**
 * A model's prompts are sampled in this many batches, whatever the concurrency: a batch's rows are decoded
 * together, and the float sums behind each row's logits depend on the batch's shape, so a split that followed
 * --jobs would make the same seed write different continuations on machines with other core counts (measured:
 * one vanguard model scored 81 % style accuracy split 9 + 9 and 75 % as one batch of 18). Two batches keep both
 * cores of a 2-core machine busy.
 */
export const BATCHES_PER_MODEL = 2;

/**
 * Runs generation for every prompt × style (and base) and returns the raw continuations (failures included).
 * Each model's prompts go out in batches (`batchPrompts` prompts per request; default: BATCHES_PER_MODEL even
 * batches), because a batch of 36 decodes ~2.2× the tokens per second of one row (`npm run bench`).
 */
export async function generateAll(opts: RunOptions): Promise<Continuation[]> {
  const generate = opts.generate;
  if (!generate) return [];
  const models: (Style | 'base')[] = [...(opts.styles ?? STYLES), ...(opts.includeBase ? (['base'] as const) : [])];
  const lanes = Math.max(1, opts.concurrency ?? 1);
  const perBatch = Math.max(1, opts.batchPrompts ?? Math.ceil(opts.prompts.length / BATCHES_PER_MODEL));
  const plan: { model: Style | 'base'; prompts: Prompt[] }[] = [];
  for (const model of models) for (let i = 0; i < opts.prompts.length; i += perBatch) plan.push({ model, prompts: opts.prompts.slice(i, i + perBatch) });
  const results: Continuation[][] = new Array(plan.length);
  const maxNotes = noteCap(opts.seconds);

  const runOne = async (i: number) => {
    const { model, prompts } = plan[i];
    // One seed per prompt, derived from --seed: prompts get independent random streams, while the models share
    // each prompt's stream (a paired comparison: style models and base differ by their weights, not their luck).
    const items = prompts.map((prompt) => ({ prompt, seed: promptSeed(opts.seed, prompt.name) }));
    const system: SystemName = model === 'base' ? 'base' : 'ours';
    const requested: Requested = model === 'base' ? 'none' : model;
    const started = Date.now();
    let got: NoteSequence[][] = [];
    let error: string | undefined;
    try {
      got = await generate({ model, items, seconds: opts.seconds, count: opts.k, maxNotes });
    } catch (err) {
      error = (err as Error).message;
    }
    results[i] = items.flatMap(({ prompt, seed }, p) =>
      Array.from({ length: opts.k }, (_, k) => {
        const notes = got[p]?.[k]?.notes;
        const pedals = got[p]?.[k]?.pedals;
        return {
          system,
          prompt: prompt.name,
          requested,
          id: `seed ${seed} #${k}`,
          seconds: opts.seconds,
          promptNotes: prompt.seq.notes,
          ...(notes ? { notes, ...(pedals ? { pedals } : {}) } : { error: error ?? `generated ${got[p]?.length ?? 0} of ${opts.k} continuations` }),
        };
      }),
    );
    const made = got.reduce((a, g) => a + g.length, 0);
    opts.log?.(`  [${i + 1}/${plan.length}] ${model} × ${prompts.length} prompts: ${made} continuation(s) in ${((Date.now() - started) / 1000).toFixed(1)} s${error ? ` (${error})` : ''}`);
  };

  let next = 0;
  const running = Array.from({ length: Math.min(lanes, plan.length) }, async () => {
    while (next < plan.length) await runOne(next++);
  });
  await Promise.all(running);
  return results.flat();
}

export interface EvalResults {
  /** The classifier's view of each prompt itself. */
  prompts: { prompt: string; probabilities?: Record<Style, number> }[];
  items: ScoredContinuation[];
  groups: GroupSummary[];
  /** Same groups restricted to the thesis' prompt, for a like-for-like thesis vs ours vs base table. */
  thesisPromptGroups: GroupSummary[];
}

export function scoreAll(continuations: readonly Continuation[], ctx: EvalContext, thesisPrompt?: string): EvalResults {
  const promptStyle = new Map<string, Record<Style, number> | undefined>();
  for (const c of continuations) if (!promptStyle.has(c.prompt)) promptStyle.set(c.prompt, classifyPrompt(c.promptNotes, ctx));
  const items = continuations.map((c) => scoreContinuation(c, ctx, promptStyle.get(c.prompt)));
  const groupBy = (filter: (c: Continuation) => boolean) => {
    const groups: GroupSummary[] = [];
    for (const system of ['thesis', 'ours', 'base'] as const) {
      for (const requested of [...STYLES, 'none'] as const) {
        const idx = continuations.map((c, i) => (c.system === system && c.requested === requested && filter(c) ? i : -1)).filter((i) => i >= 0);
        if (idx.length === 0) continue;
        groups.push(summarise(system, requested, idx.map((i) => items[i]), idx.map((i) => continuations[i]), ctx));
      }
    }
    return groups;
  };
  return {
    prompts: [...promptStyle].map(([prompt, probabilities]) => ({ prompt, ...(probabilities ? { probabilities } : {}) })),
    items,
    groups: groupBy(() => true),
    thesisPromptGroups: thesisPrompt ? groupBy((c) => c.prompt === thesisPrompt) : [],
  };
}

export { HISTOGRAMS };
