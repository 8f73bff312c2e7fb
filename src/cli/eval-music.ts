/**
 * `maestro eval --report <dir>`: scores generated music objectively (style classifier, key consistency,
 * memorisation, validity, distribution overlap) for our style models, the base model and the thesis' published
 * continuations, and writes report.md, report.json and style-accuracy.png to <dir>.
 *
 * Options:
 *   --report <dir>      output folder (required)
 *   --k <n>             continuations per prompt and style (default 2). Each model's prompts are sampled as one
 *                       batch per generation process (36 rows decode ~2.2× the tokens/s of one, `npm run bench`;
 *                       a finished row leaves the batch), and a continuation stops at the first note count that is already a
 *                       wall of notes. Measured here on the session-2 models, 18 prompts × 4 models × K=2 took
 *                       437 s of generation on one process while training ran on the other core.
 *   --seconds <s>       continuation length (default 30)
 *   --seed <n>          sampling seed (default 1); same seed → same report
 *   --prompts a,b       only these prompt files (names in ../shared/prompts, with or without .mid)
 *   --models <dir>      model folder (default models/)
 *   --jobs <n>          generation processes (default: one per core, at most 2); results do not depend on it
 *                       (each model's prompts are split into the same batches whatever the number)
 *   --no-generate       score only the thesis' outputs (no model needed)
 *   --no-base           skip the base model
 *   --no-memory         sample the style models without their memories (the GPT alone)
 *   --temperature t     pitch temperature for the style and base models (default: the served one)
 *   --retrain           retrain the style classifier on the real data and save it to models/style-classifier
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadCorpus, sharedDir } from '../eval/corpus.js';
import { buildRealHeldOut, buildRealPlaying, buildTrainIndexes, memorisationSelfCheck, realKeyReference, realReferenceOverlaps } from '../eval/context.js';
import { classifierCard } from '../eval/card.js';
import { STYLES, type Style } from '../eval/pieces.js';
import { checkGoals, formatReport, styleChartPng } from '../eval/report-format.js';
import { LIMITS } from '../eval/validity.js';
import { DEFAULT_SAMPLING, MAX_POLYPHONY } from '../model/sampler.js';
import { DEFAULT_KEY_STRENGTH, ENDING_GRACE_MAX_SEC, ENDING_GRACE_MIN_SEC } from '../model/sampling-defaults.js';
import { generateAll, noteCap, scoreAll, type Continuation, type GenerateFn, type Prompt } from '../eval/runner.js';
import { DEFAULT_CLASSIFIER_DIR, loadClassifier, makeClassifier, saveClassifier, type StyleClassifier } from '../eval/style-classifier.js';
import { loadThesisContinuations, THESIS_PROMPT } from '../eval/thesis-outputs.js';
import { trainStyleClassifier } from '../eval/train-classifier.js';
import { createGeneratePool } from '../eval/generate-pool.js';
import type { GenerateSettings } from '../eval/generate-child.js';
import { readMidi } from '../music/midi.js';

/** Where the command prints: the report tables to `out`, progress and errors to `err` (tests pass silent sinks). */
export interface EvalIo {
  out: (s: string) => void;
  err: (s: string) => void;
}
const STDIO: EvalIo = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(`${s}\n`) };
let log: (s: string) => void = STDIO.err;

export class EvalUsageError extends Error {}
/** Not an error: `--help` was asked for. */
class EvalHelp extends Error {}

const USAGE = `usage: maestro eval --report <dir> [options]

Scores generated music: style classifier, key consistency, memorisation, validity, distribution overlap,
for our style models, the base model and the thesis' published continuations. Writes report.md,
report.json and style-accuracy.png to <dir> and prints the tables.

  --k <n>          continuations per prompt and style, one batch (default 2)
  --seconds <s>    continuation length (default 30)
  --seed <n>       sampling seed (default 1): the same seed gives the same report
  --prompts a,b    only these files of ../shared/prompts (default: all)
  --models <dir>   models folder (default: models/)
  --jobs <n>       generation processes (default: one per core, at most 2)
  --no-generate    score only the thesis' outputs (no model needed)
  --no-base        skip the base model
  --no-memory      sample the style models without their memories (the GPT alone)
  --temperature t  pitch temperature of the style and base models (default ${DEFAULT_SAMPLING.temperature}, as served)
  --key-strength s how strongly continuations keep to their prompt's key (default ${DEFAULT_KEY_STRENGTH}, as served; 0 = free)
  --no-tonic-ending stop continuations at --seconds (served: a continuation may go on up to a quarter longer,
                   ${ENDING_GRACE_MIN_SEC}–${ENDING_GRACE_MAX_SEC} s, to end on a chord with its key's tonic in the bass)
  --retrain        retrain the style classifier (models/style-classifier) on ../shared/datasets`;

/** The repository (models/, data/ and ../shared are found from here, wherever the command is run from). */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface EvalArgs {
  reportDir: string;
  k: number;
  seconds: number;
  seed: number;
  prompts?: string[];
  modelsDir: string;
  jobs: number;
  generate: boolean;
  base: boolean;
  retrain: boolean;
  /** Sample with the style models' memories (the served configuration). */
  memory: boolean;
  /** Pitch temperature (absent: the served default). */
  temperature?: number;
  /** Key guide strength (absent: the served default). */
  keyStrength?: number;
  /** End continuations on their key's tonic (the served default; see ComposeRequest.endOnTonic). */
  endOnTonic: boolean;
}

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new EvalUsageError(`--${name} must be a whole number (got "${v}")`);
  return n;
}

export function parseEvalArgs(argv: string[], repoRoot = REPO_ROOT): EvalArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      report: { type: 'string' },
      k: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      prompts: { type: 'string' },
      models: { type: 'string' },
      jobs: { type: 'string' },
      'no-generate': { type: 'boolean' },
      'no-base': { type: 'boolean' },
      'no-memory': { type: 'boolean' },
      temperature: { type: 'string' },
      'key-strength': { type: 'string' },
      'no-tonic-ending': { type: 'boolean' },
      retrain: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) throw new EvalHelp(USAGE);
  if (!values.report) throw new EvalUsageError(USAGE);
  const k = positiveInt('k', values.k, 2);
  const seconds = positiveInt('seconds', values.seconds, 30);
  if (k < 1 || seconds < 1) throw new EvalUsageError('--k and --seconds must be at least 1');
  const temperature = values.temperature === undefined ? undefined : Number(values.temperature);
  if (temperature !== undefined && !(temperature > 0 && temperature <= 2)) throw new EvalUsageError(`--temperature must be a number above 0 and at most 2 (got "${values.temperature}")`);
  const keyStrength = values['key-strength'] === undefined ? undefined : Number(values['key-strength']);
  if (keyStrength !== undefined && !(keyStrength >= 0 && keyStrength <= 5)) throw new EvalUsageError(`--key-strength must be a number from 0 to 5 (got "${values['key-strength']}")`);
  const reportDir = path.resolve(values.report);
  if (fs.existsSync(reportDir) && !fs.statSync(reportDir).isDirectory()) throw new EvalUsageError(`--report ${values.report} is a file; give a directory`);
  return {
    reportDir,
    k,
    seconds,
    seed: positiveInt('seed', values.seed, 1),
    ...(values.prompts ? { prompts: values.prompts.split(',').map((p) => p.trim().replace(/\.mid$/, '')) } : {}),
    modelsDir: values.models ? path.resolve(values.models) : (process.env.MAESTRO_MODELS_DIR ?? path.join(repoRoot, 'models')),
    jobs: Math.max(1, positiveInt('jobs', values.jobs, Math.min(2, os.availableParallelism()))),
    generate: !values['no-generate'],
    base: !values['no-base'],
    retrain: Boolean(values.retrain),
    memory: !values['no-memory'],
    temperature,
    keyStrength,
    endOnTonic: !values['no-tonic-ending'],
  };
}

function readPrompts(shared: string, only?: string[]): { prompts: Prompt[]; skipped: string[] } {
  const dir = path.join(shared, 'prompts');
  const prompts: Prompt[] = [];
  const skipped: string[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.mid')).sort()) {
    if (only && !only.includes(file.replace(/\.mid$/, ''))) continue;
    const midi = new Uint8Array(fs.readFileSync(path.join(dir, file)));
    try {
      prompts.push({ name: file, midi, seq: readMidi(midi, { name: file, timing: 'exact' }) });
    } catch (err) {
      skipped.push(`${file}: ${(err as Error).message}`);
    }
  }
  return { prompts, skipped };
}

/** Our models through compose's batch path: loaded lazily so scoring the thesis alone needs no model code. */
async function composeGenerator(modelsDir: string, settings: GenerateSettings): Promise<GenerateFn> {
  const { continueMany } = await import('../compose.js');
  return (req) =>
    continueMany({ style: req.model, items: req.items.map((it) => ({ midi: it.prompt.midi, seed: it.seed })), seconds: req.seconds, candidates: req.count, maxNotes: req.maxNotes, modelsDir, ...settings });
}

/** The prompts' median length (last note off), which the real-music key reference cuts its prompts to (≥ 2 s). */
function medianPromptSeconds(prompts: readonly Prompt[]): number {
  const lengths = prompts.map((p) => p.seq.notes.reduce((a, n) => Math.max(a, n.endSec), 0)).filter((s) => s > 0).sort((a, b) => a - b);
  if (lengths.length === 0) return 10;
  const mid = Math.floor(lengths.length / 2);
  return Math.max(2, lengths.length % 2 ? lengths[mid] : (lengths[mid - 1] + lengths[mid]) / 2);
}

function classifierFor(args: EvalArgs, repoRoot: string, corpus: ReturnType<typeof loadCorpus>): StyleClassifier {
  const dir = path.join(repoRoot, DEFAULT_CLASSIFIER_DIR);
  if (!args.retrain && fs.existsSync(path.join(dir, 'classifier.json'))) return loadClassifier(dir);
  log(args.retrain ? 'Retraining the style classifier …' : `No classifier in ${dir}; training one …`);
  const trained = trainStyleClassifier(corpus, { log });
  saveClassifier(dir, trained.file);
  fs.writeFileSync(path.join(dir, 'README.md'), classifierCard(trained.file, trained.perL2));
  log(`Saved ${path.join(dir, 'classifier.json')}`);
  return makeClassifier(trained.file);
}

export async function runEvalReport(argv: string[], repoRoot = REPO_ROOT, io: EvalIo = STDIO): Promise<number> {
  log = io.err;
  let args: EvalArgs;
  try {
    args = parseEvalArgs(argv, repoRoot);
  } catch (err) {
    if (err instanceof EvalHelp) {
      io.out(`${err.message}\n`);
      return 0;
    }
    log((err as Error).message);
    return 2;
  }
  const started = Date.now();
  const shared = sharedDir(repoRoot);
  if (!fs.existsSync(path.join(shared, 'datasets/index.csv'))) {
    log(`The shared data folder is missing (looked for ${shared}); set MAESTRO_SHARED.`);
    return 2;
  }
  log('Reading the real data …');
  const corpus = loadCorpus(path.join(shared, 'datasets'), { dataDir: path.join(repoRoot, 'data') });
  const classifier = classifierFor(args, repoRoot, corpus);
  const realPlaying = buildRealPlaying(corpus, classifier.file.clipSeconds);
  const ctx = {
    classifier,
    trainIndex: buildTrainIndexes(corpus),
    realHeldOut: buildRealHeldOut(corpus, classifier.file.clipSeconds),
    realPlaying: realPlaying.heldOut,
  };

  const { prompts, skipped } = readPrompts(shared, args.prompts);
  const unknown = (args.prompts ?? []).filter((p) => !prompts.some((q) => q.name === `${p}.mid`) && !skipped.some((s) => s.startsWith(`${p}.mid:`)));
  if (unknown.length) {
    log(`No such prompt in ${path.join(shared, 'prompts')}: ${unknown.join(', ')}`);
    return 2;
  }
  const thesisPrompt = prompts.find((p) => p.name === THESIS_PROMPT)?.seq ?? readPrompts(shared, [THESIS_PROMPT.replace(/\.mid$/, '')]).prompts[0]?.seq;
  const continuations: Continuation[] = loadThesisContinuations(shared).map((t) => ({
    system: 'thesis',
    prompt: THESIS_PROMPT,
    requested: t.style,
    id: t.file,
    notes: t.notes,
    // The thesis asked for no fixed length: each is scored over its own length.
    seconds: Math.max(1, t.notes.reduce((a, n) => Math.max(a, n.endSec), 0)),
    promptNotes: thesisPrompt?.notes ?? [],
  }));

  const notes: string[] = [];
  if (args.generate) {
    const available = STYLES.filter((s) => fs.existsSync(path.join(args.modelsDir, s, 'config.json')));
    const missing = STYLES.filter((s) => !available.includes(s));
    if (missing.length) notes.push(`no model for ${missing.join(', ')} in ${args.modelsDir}: not generated`);
    const hasBase = args.base && fs.existsSync(path.join(args.modelsDir, 'base', 'config.json'));
    if (args.base && !hasBase) notes.push(`no base model in ${args.modelsDir}: not generated`);
    if (available.length || hasBase) {
      log(`Generating ${args.k} continuation(s) × ${prompts.length} prompts × ${available.length + (hasBase ? 1 : 0)} models …`);
      const settings: GenerateSettings = { memory: args.memory, temperature: args.temperature, keyStrength: args.keyStrength, endOnTonic: args.endOnTonic };
      const pool = args.jobs > 1 ? createGeneratePool(args.modelsDir, args.jobs, settings) : undefined;
      try {
        const generate = pool ? pool.generate : await composeGenerator(args.modelsDir, settings);
        const plan = { prompts, k: args.k, seconds: args.seconds, seed: args.seed, styles: available as Style[], includeBase: hasBase, generate, concurrency: args.jobs, log };
        continuations.push(...(await generateAll(plan)));
      } finally {
        pool?.close();
      }
    }
  } else notes.push('generation skipped (--no-generate)');

  const selfCheck = memorisationSelfCheck(corpus, ctx.trainIndex);
  const realReference = realReferenceOverlaps(corpus, ctx.realHeldOut, classifier.file.clipSeconds);
  const keySpan = { promptSec: medianPromptSeconds(prompts), seconds: args.seconds };
  const keyReference = realKeyReference(corpus, keySpan.promptSec, keySpan.seconds);
  log('Scoring …');
  const results = scoreAll(continuations, ctx, THESIS_PROMPT);
  const meta: Record<string, string> = {
    prompts: `${prompts.length} from ../shared/prompts${skipped.length ? ` (unreadable: ${skipped.join('; ')})` : ''}`,
    'continuations per prompt and style': String(args.k),
    seconds: String(args.seconds),
    sampling: `${args.temperature === undefined ? `default settings: temperature ${DEFAULT_SAMPLING.temperature}` : `temperature ${args.temperature} (--temperature; served: ${DEFAULT_SAMPLING.temperature})`} and top-p ${DEFAULT_SAMPLING.topP} on the pitch, the rhythm from the model's own distribution, at most ${MAX_POLYPHONY} notes sounding at once; ${args.keyStrength === undefined ? `key strength ${DEFAULT_KEY_STRENGTH}` : `key strength ${args.keyStrength} (--key-strength; served: ${DEFAULT_KEY_STRENGTH})`}, ${args.endOnTonic ? 'ending on the key\'s tonic where it can (up to a quarter longer, 2–8 s)' : 'stopping at the length asked (--no-tonic-ending)'}; ${args.memory ? 'style models with their memories of the training performances (as served)' : 'style models without their memories (--no-memory)'}`,
    'note cap': `${noteCap(args.seconds)} notes per continuation (one more than the wall-of-notes limit of ${LIMITS.maxNotesPerSec} notes/s, so a capped continuation is invalid either way)`,
    seed: String(args.seed),
    'held-out and training files': corpus.manifests.length
      ? `thesis protocol + dataset manifests (${corpus.manifests.map((m) => path.relative(repoRoot, m)).join(', ')})`
      : 'thesis protocol (no dataset manifests in data/)',
    "thesis' outputs": `${continuations.filter((c) => c.system === 'thesis').length} files (Für Elise)`,
    'memorisation detector self-check': `30 s of ${selfCheck.file} (${selfCheck.style} training data) copied verbatim → longest copy ${selfCheck.longestCopyNotes} notes, ${selfCheck.longestCopyBars.toFixed(1)} bars, ${selfCheck.flagged ? 'flagged' : 'NOT flagged'}`,
    ...(notes.length ? { notes: notes.join('; ') } : {}),
  };
  const markdown = formatReport(results, classifier.file, meta, { overlaps: realReference, key: keyReference, keySpan, playing: realPlaying.reference });
  fs.mkdirSync(args.reportDir, { recursive: true });
  fs.writeFileSync(path.join(args.reportDir, 'report.md'), `${markdown}\n![style accuracy](style-accuracy.png)\n`);
  fs.writeFileSync(path.join(args.reportDir, 'report.json'), `${JSON.stringify({ meta, goals: checkGoals(results, keyReference), classifier: classifier.file.training, realReferenceOverlaps: realReference, realKeyReference: { ...keySpan, ...keyReference }, realPlayingReference: realPlaying.reference, ...results }, null, 1)}\n`);
  fs.writeFileSync(path.join(args.reportDir, 'style-accuracy.png'), styleChartPng(results));
  io.out(`${markdown}\n`);
  log(`Report written to ${args.reportDir} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return 0;
}
