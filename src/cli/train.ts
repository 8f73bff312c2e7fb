/**
 * `maestro train --data <corpus dir> --out <run dir> [--preset small|tiny|giga] [--init <model dir>] …`
 * Trains (or fine-tunes from --init) on a corpus built by `maestro dataset build` (train.bin/val.bin),
 * checkpointing to the run directory; `--resume` continues a stopped run exactly. Ctrl-C stops cleanly
 * after the current step with a checkpoint. With `--promote <model dir>` the result replaces the served
 * model only if its validation loss is not worse (the old one is kept as <dir>.previous for rollback).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { initBackend, isWasmHeapExhausted, WASM_HEAP_LIMIT_GB } from '../model/backend.js';
import { KnownError } from '../util/known-error.js';
import { GIGA_PIANO, MAESTRO_SMALL, parameterCount, type ModelConfig } from '../model/config.js';
import { copyMemory, readMemoryFile } from '../model/memory-store.js';
import { DEFAULT_MEMORY_SETTINGS } from '../model/memory.js';
import { viewArgs } from '../model/views.js';
import { cardStyle, cardValLoss, corpusStyle, loadModel, readManifestSummary, ModelLoadError, PERFORMANCE_FILE, readCard, roundMetric, saveModel, writeCard, type ModelCard, type RunRecord, type TrainingRecord } from '../model/store.js';
import { seenInPretraining, type SeenInPretraining } from '../model/pretraining.js';
import { cardCorpus } from '../model/card.js';
import { GPT } from '../model/gpt.js';
import { deepen } from '../model/grow.js';
import { checkpointConfig, train, type TrainOptions } from '../../training/trainer.js';
import { evaluateInThreads } from '../../training/eval-threads.js';
import { fitMemoryInto, fittedMemoryLoss } from '../../training/memory-fit.js';
import { sha256 } from '../util/sha256.js';
import { findLearningRate } from '../../training/lr-finder.js';
import { lineChart, lossCurve } from '../../training/plot.js';
import { parse, num, int, checkModelDir, prepareOutDir, UsageError } from './args.js';

const PRESETS: Record<string, ModelConfig> = {
  small: MAESTRO_SMALL,
  tiny: { ...MAESTRO_SMALL, nLayer: 2, nEmbd: 64, nHead: 2, mlpDim: 128, blockSize: 128, maxRelDist: 128 },
  giga: GIGA_PIANO,
};

const HELP = `usage: maestro train --data DIR --out RUN_DIR [options]

  --data DIR          corpus directory with train.bin and val.bin (from "maestro dataset build")
  --out DIR           run directory: checkpoint/, metrics.jsonl, model/
  --preset NAME       small (default) | tiny | giga — architecture for a fresh model
  --init DIR          start from this model directory (fine-tuning) instead of a fresh model
  --layers N          deepen the --init model to N transformer blocks first; the added blocks start as the
                      identity (copies of the block before them with zeroed output projections), so training
                      continues from the same function with more capacity
  --train-layers N    fine-tune only the last N transformer blocks (+ final norm and head)
  --steps N           optimizer steps (default 1000)
  --batch N           sequences per micro-batch (default 8)
  --accumulate N      micro-batches per step (default 1)
  --threads N         compute the micro-batches on N threads, one core each (default 1; needs --accumulate ≥ N):
                      --batch 4 --accumulate 2 --threads 2 trains the same 8-sequence steps ~2x faster on 2 cores;
                      the final validation is spread over the same N threads
  --seq N             tokens per sequence (default: the model's block size)
  --lr X|auto         peak learning rate (default 1e-3; 3e-4 when fine-tuning); auto = half the LR finder's suggestion
  --find-lr           only run the learning-rate range test: writes lr-finder.json and lr-finder.png to --out
  --schedule NAME     cosine (default) | one-cycle
  --warmup N          warm-up steps for cosine (default 5 % of steps)
  --dropout X         dropout (default: the preset's, or the --init model's)
  --transpose K       pitch-shift each training window by a random -K..K semitones (augmentation; default 0)
  --stretch S         play each training window a random factor within 1 ± S slower or faster (augmentation;
                      default 0; 0.05 made the base worse in session 27, see docs/training-log.md)
  --eval-every N      validate every N steps (default 100)
  --val-windows N     validation windows per evaluation (default 200)
  --checkpoint-min M  checkpoint at least every M minutes (default 5)
  --seed N            seed (default 1)
  --resume            continue the run in --out from its checkpoint
  --promote DIR       after training, replace the model in DIR if validation loss is not worse (with the
                      style memory when DIR has one: it is fitted against the new model first)
  --name NAME         model card name (default: the --out folder name)
`;

export async function runTrain(argv: string[]): Promise<number> {
  let o;
  try {
    o = parse(argv, {
      data: { type: 'string' }, out: { type: 'string' }, preset: { type: 'string' }, init: { type: 'string' },
      layers: { type: 'string' }, 'train-layers': { type: 'string' }, steps: { type: 'string' }, batch: { type: 'string' }, accumulate: { type: 'string' }, threads: { type: 'string' },
      seq: { type: 'string' }, lr: { type: 'string' }, schedule: { type: 'string' }, warmup: { type: 'string' },
      dropout: { type: 'string' }, transpose: { type: 'string' }, stretch: { type: 'string' }, 'eval-every': { type: 'string' }, 'val-windows': { type: 'string' },
      'checkpoint-min': { type: 'string' }, seed: { type: 'string' }, resume: { type: 'boolean' },
      promote: { type: 'string' }, name: { type: 'string' }, 'find-lr': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    }, false).values;
    if (o.help) {
      console.log(HELP);
      return 0;
    }
    if (!o.data || !o.out) throw new UsageError('--data and --out are required');
    for (const f of ['train.bin', 'val.bin']) if (!existsSync(join(o.data, f))) throw new UsageError(`${o.data} has no ${f}: build it with "maestro dataset build"`);
    prepareOutDir(o.out); // before anything is trained: checkpoints and the model go there
    if (o.promote) {
      checkModelDir(o.promote, 'promote');
      const trainedOn = corpusStyle(o.data);
      checkSameStyle(o.promote, trainedOn, `${o.data} is the ${trainedOn} corpus`);
    }
    if (o.preset && !PRESETS[o.preset]) throw new UsageError(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`);
    if (o.layers && !o.init) throw new UsageError('--layers deepens an existing model: it needs --init');
    if (o.schedule && o.schedule !== 'cosine' && o.schedule !== 'one-cycle') throw new UsageError('--schedule must be cosine or one-cycle');
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`maestro train: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }

  try {
    const backend = await initBackend();
    const trainTokens = new Uint8Array(readFileSync(join(o.data, 'train.bin')));
    const valTokens = new Uint8Array(readFileSync(join(o.data, 'val.bin')));
    const fineTune = Boolean(o.init);
    const dropout = num(o.dropout, 'dropout', undefined, [0, 0.9]);
    let deepenedFrom: number | undefined; // the --init model's depth, when --layers grows it
    const startingModel = (dir: string) => {
      const model = withDropout(loadModel(dir), dropout);
      const grown = deepenTo(model, o.layers);
      if (grown !== model) deepenedFrom = model.config.nLayer;
      return grown;
    };
    // A resumed run continues from its checkpoint, which holds the configuration: the --init weights are not
    // needed (and that model may have been replaced or removed since the run started).
    const resumedConfig = o.resume ? checkpointConfig(o.out) : undefined;
    // Starting afresh under --resume would look like a continued run while discarding the one meant.
    if (o.resume && !resumedConfig) throw new UsageError(`--resume: ${o.out} holds no checkpoint to continue (leave out --resume to start a new run there)`);
    // And a new run must not overwrite the checkpoint of one that was meant to be continued.
    if (!o.resume && !o['find-lr'] && checkpointConfig(o.out)) throw new UsageError(`${o.out} already holds a run's checkpoint: continue it with --resume, or give another --out`);
    const init = resumedConfig ?? (o.init ? startingModel(o.init) : { ...PRESETS[o.preset ?? 'small'], dropout: dropout ?? PRESETS[o.preset ?? 'small'].dropout });
    const config = 'config' in init ? init.config : init;
    const steps = int(o.steps, 'steps', 1000, [1, 1e7])!;
    const trainLayers = int(o['train-layers'], 'train-layers', undefined, [0, config.nLayer]);
    const opts: TrainOptions = {
      runDir: o.out,
      train: trainTokens,
      val: valTokens,
      seqLen: int(o.seq, 'seq', config.blockSize, [8, config.blockSize])!,
      batchSize: int(o.batch, 'batch', 8, [1, 512])!,
      accumulate: int(o.accumulate, 'accumulate', 1, [1, 1024])!,
      threads: int(o.threads, 'threads', 1, [1, 64])!,
      steps,
      lr: o.lr === 'auto' ? NaN : num(o.lr, 'lr', fineTune ? 3e-4 : 1e-3, [1e-7, 1])!,
      minLr: 0,
      warmup: int(o.warmup, 'warmup', Math.max(1, Math.round(steps * 0.05)), [0, steps])!,
      schedule: (o.schedule as TrainOptions['schedule']) ?? 'cosine',
      weightDecay: 0.1,
      clipNorm: 1,
      seed: int(o.seed, 'seed', 1, [0, 2 ** 31 - 1])!,
      evalEvery: int(o['eval-every'], 'eval-every', 100, [0, 1e7])!,
      valWindows: int(o['val-windows'], 'val-windows', 200, [1, 1e7])!,
      checkpointSeconds: num(o['checkpoint-min'], 'checkpoint-min', 5, [0.01, 1e4])! * 60,
      transpose: int(o.transpose, 'transpose', 0, [0, 24])!,
      stretch: num(o.stretch, 'stretch', 0, [0, 0.5])!,
      trainable: trainLayers === undefined ? undefined : lastLayers(config, trainLayers),
    };
    // An empty or tiny corpus (a style whose composers matched no file, say) is refused before any work, in one line.
    if (trainTokens.length < opts.seqLen + 1) throw new UsageError(`${o.data}/train.bin holds ${trainTokens.length} tokens, too few to train on (at least ${opts.seqLen + 1}): is the corpus empty? (a style's composers must match the data's spellings; see the dataset build's warnings)`);
    if (valTokens.length < Math.min(128, opts.seqLen) + 1) throw new UsageError(`${o.data}/val.bin holds ${valTokens.length} tokens, too few for one validation window (at least ${Math.min(128, opts.seqLen) + 1})`);
    if (opts.threads! > opts.accumulate) throw new UsageError(`--threads ${opts.threads} needs at least as many micro-batches per step (--accumulate ${opts.threads})`);
    if (o['find-lr'] || Number.isNaN(opts.lr)) {
      // The range test runs on a throw-away copy of the starting weights.
      const copy = o.init ? startingModel(o.init) : new GPT(init as ModelConfig, undefined, opts.seed);
      const found = findLearningRate(copy, { train: trainTokens, seqLen: opts.seqLen, batchSize: opts.batchSize, seed: opts.seed, trainable: opts.trainable });
      copy.dispose();
      mkdirSync(o.out, { recursive: true });
      writeFileSync(join(o.out, 'lr-finder.json'), JSON.stringify(found, null, 2) + '\n');
      writeFileSync(join(o.out, 'lr-finder.png'), lineChart(
        [{ label: 'smoothed loss', colour: '#1f77b4', points: found.points.map((p) => [p.lr, p.smoothed]) }],
        { title: `LR range test — suggestion ${found.suggestion.toExponential(2)}`, xLabel: 'learning rate (log)', yLabel: 'loss', logX: true },
      ));
      console.log(`LR finder: suggested learning rate ${found.suggestion.toExponential(2)} (minimum loss / 10); see ${join(o.out, 'lr-finder.png')}`);
      if (o['find-lr']) return 0;
      opts.lr = found.suggestion / 2; // the thesis trained at half the suggestion
    }
    opts.minLr = opts.lr / 10;

    const parent = o.init ? parentCard(opts.runDir, o.init) : undefined; // snapshot before training starts
    const parentLayers = (parent?.architecture as Partial<ModelConfig> | undefined)?.nLayer;
    if (resumedConfig && o.layers && parentLayers !== undefined && parentLayers < config.nLayer) deepenedFrom = parentLayers;
    const continuing = parent?.data?.corpus === o.data; // more training on the parent's own corpus, not a fine-tune
    const stop = stopHandler({ checkpointDir: join(opts.runDir, 'checkpoint'), log: (m) => console.error(m), exit: (c) => process.exit(c) });
    const onSignal = stop.onSignal;
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    opts.shouldStop = () => stop.state.stopping;

    const starting = o.resume ? `resuming ${o.out}` : continuing ? `continuing ${o.init}` : fineTune ? `fine-tuning ${o.init}` : `fresh ${o.preset ?? 'small'} model`;
    console.error(`maestro train: ${starting} (${(parameterCount(config) / 1e6).toFixed(2)} M params) on ${trainTokens.length.toLocaleString()} tokens, backend ${backend}`);
    const manifest = readManifestSummary(o.data);
    const seen = seenInPretraining(parent, manifest);
    if (seen?.files.length) console.error(`maestro train: warning: ${seenWarning(seen)}`);
    const result = await train(init as never, opts, Boolean(o.resume)).catch((err: unknown) => {
      // The run is over: a later Ctrl-C (in a process that goes on, such as a test runner's) is not for it.
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (backend === 'wasm' && isWasmHeapExhausted(err)) throw new KnownError(heapExhaustedMessage(config, opts, opts.runDir));
      throw err;
    });
    stop.state.checkpointed = true;
    if (result.stoppedEarly) {
      console.error(`checkpoint written at step ${result.checkpoint.step}; evaluating on the validation set to save the model (Ctrl-C to skip this)…`);
    } else {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }

    const val = await evaluateInThreads(result.model, valTokens, Math.min(128, opts.seqLen), { threads: opts.threads! });
    const command = ['maestro', 'train', ...argv.filter((a) => a !== '--resume')].map(shellQuote).join(' ');
    const card: ModelCard = {
      name: o.name ?? o.out.split('/').filter(Boolean).pop()!,
      description: continuing ? parent!.description : fineTune ? `fine-tuned from ${o.init}${parent ? ` (${parent.name})` : ''} on ${o.data}${corpusProtocol(o.data)}` : 'trained from scratch',
      licence: 'CC BY-NC-SA 4.0 (inherits the licence of the MAESTRO/ASAP training data: non-commercial, share-alike)',
      architecture: { ...config, parameters: parameterCount(config) },
      data: { corpus: o.data, manifest, trainTokens: trainTokens.length, valTokens: valTokens.length, ...(seen?.files.length ? { seenInPretraining: seen } : {}) },
      training: {
        init: o.init ?? null, ...(deepenedFrom !== undefined ? { deepenedFrom } : {}), steps: result.checkpoint.step, tokensSeen: result.checkpoint.tokensSeen,
        wallSeconds: Math.round(result.checkpoint.wallSeconds), backend, batch: opts.batchSize, accumulate: opts.accumulate, threads: opts.threads,
        seqLen: opts.seqLen, lr: opts.lr, schedule: opts.schedule, trainLayers: trainLayers ?? 'all', transpose: opts.transpose, ...(opts.stretch ? { stretch: opts.stretch } : {}), seed: opts.seed,
        finished: !result.stoppedEarly,
        command,
        ...lineage(parent, { steps: result.checkpoint.step, tokensSeen: result.checkpoint.tokensSeen, wallSeconds: Math.round(result.checkpoint.wallSeconds), lr: opts.lr, command }),
      },
      metrics: { valLoss128: roundMetric(val.loss), valAccuracy128: roundMetric(val.accuracy), valWindows128: val.windows },
    };
    saveModel(join(o.out, 'model'), result.model, card);
    writeLossCurve(o.out, join(o.out, 'model'), card.name);
    console.log(`saved ${join(o.out, 'model')}: validation loss ${val.loss.toFixed(4)} nats/token, accuracy ${val.accuracy.toFixed(4)} (128-token windows)${seen?.files.length ? ` — optimistic: ${seenWarning(seen)}` : ''}`);
    if (o.promote) promote(join(o.out, 'model'), o.promote, val.loss);
    return result.stoppedEarly ? 130 : 0;
  } catch (err) {
    // Values checked while building the options (numbers, --init model): one line, exit 2, no stack trace.
    if (err instanceof UsageError || err instanceof ModelLoadError) {
      console.error(`maestro train: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

/** Signals closer together than this are one keypress delivered twice. */
const SIGNAL_ECHO_MS = 1000;

/**
 * Ctrl-C handling: the first signal asks the trainer to stop after the current step (it then checkpoints); a
 * second one aborts, or, once the checkpoint is written, skips only the final evaluation. Ctrl-C in a terminal
 * reaches every process of the group and `npx` forwards it too, so the same keypress can arrive twice within
 * milliseconds: only a signal SIGNAL_ECHO_MS later counts as "again".
 */
export function stopHandler(io: { checkpointDir: string; log: (message: string) => void; exit: (code: number) => void; now?: () => number }) {
  const now = io.now ?? Date.now;
  const state = { stopping: false, stoppingAt: 0, checkpointed: false };
  const onSignal = () => {
    if (state.stopping && now() - state.stoppingAt < SIGNAL_ECHO_MS) return;
    if (state.checkpointed) {
      // The checkpoint is on disk: skipping the final evaluation loses nothing --resume needs.
      io.log(`\nskipped saving the model; the checkpoint in ${io.checkpointDir} is complete (continue with --resume)`);
      return io.exit(130);
    }
    if (state.stopping) return io.exit(130);
    state.stopping = true;
    state.stoppingAt = now();
    io.log('\nstopping after this step (a checkpoint will be written; Ctrl-C again to abort)…');
  };
  return { state, onSignal };
}

/** What a validation loss measured on files the base pre-trained on is worth, and how to get one that is not. */
export function seenWarning(seen: SeenInPretraining): string {
  return (
    `the base pre-trained on ${seen.files.length} of ${seen.corpus}'s ${seen.of} validation files (it was pre-trained before the style was added to the styles config), ` +
    `so this validation loss is not a measure of music the model has not seen; pre-training a base on the corpus maestro dataset build makes now (pretrain-thesis), which holds them out, gives an honest one`
  );
}

/**
 * The --init model's card. It is copied into the run directory at the first launch, so a resumed run records the
 * lineage it started from even if the init model has been replaced (promoted) since.
 */
function parentCard(runDir: string, initDir: string): ModelCard | undefined {
  const snapshot = join(runDir, 'init-card.json');
  if (existsSync(snapshot)) return JSON.parse(readFileSync(snapshot, 'utf8')) as ModelCard;
  const card = readCard(initDir);
  if (card) {
    mkdirSync(runDir, { recursive: true });
    writeFileSync(snapshot, JSON.stringify(card, null, 2) + '\n');
  }
  return card;
}

/** This run, as the card records it (every field known). */
type RunSummary = Required<Pick<RunRecord, 'steps' | 'tokensSeen' | 'wallSeconds' | 'lr' | 'command'>>;

/**
 * Every run behind a model, oldest first (the parent's history plus the parent's own run), and totals over
 * them and this run: a model continued or fine-tuned over several sessions states all the compute behind it.
 */
export function lineage(parent: ModelCard | undefined, run: RunSummary): Pick<TrainingRecord, 'history' | 'stepsTotal' | 'tokensSeenTotal' | 'wallSecondsTotal'> {
  if (!parent?.training) return {};
  const t = parent.training;
  const own: RunRecord = { model: parent.name, steps: t.steps, tokensSeen: t.tokensSeen, wallSeconds: t.wallSeconds, lr: t.lr, command: t.command ?? t.reproduce };
  const history = [...(t.history ?? []), own];
  const sum = (key: 'steps' | 'tokensSeen' | 'wallSeconds') => history.reduce((a, h) => a + (h[key] ?? 0), 0) + run[key];
  return { history, stepsTotal: sum('steps'), tokensSeenTotal: sum('tokensSeen'), wallSecondsTotal: sum('wallSeconds') };
}

/** An argument as a POSIX shell would need it to round-trip (quoted only when it has to be). */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * loss-curve.png from the run's metrics.jsonl (the whole run, across resumes), in the run directory and beside the
 * saved model, so promotion ships it with the weights.
 */
function writeLossCurve(runDir: string, modelDir: string, name: string): void {
  const records = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { tokens: number; loss: number; valLoss?: number });
  if (records.length < 2) return;
  const png = lossCurve(records, `${name}: loss per token`);
  writeFileSync(join(runDir, LOSS_CURVE), png);
  writeFileSync(join(modelDir, LOSS_CURVE), png);
}

const LOSS_CURVE = 'loss-curve.png';

/** The same weights with another dropout rate (fine-tuning small data wants more than pre-training). */
function withDropout(model: GPT, dropout: number | undefined): GPT {
  return dropout === undefined ? model : new GPT({ ...model.config, dropout }, model.weights);
}

/** `model` deepened to `layers` blocks (see src/model/grow.ts), or as it is without --layers. */
function deepenTo(model: GPT, layers: string | undefined): GPT {
  const n = int(layers, 'layers', undefined, [1, 1024]);
  if (n === undefined || n === model.config.nLayer) return model;
  if (n < model.config.nLayer) throw new UsageError(`--layers ${n} is fewer than the --init model's ${model.config.nLayer} blocks: it can only deepen`);
  const deeper = deepen(model, n);
  model.dispose();
  return deeper;
}

/** Names of the weights in the last n blocks plus the final norm and output head. */
function lastLayers(config: ModelConfig, n: number): (name: string) => boolean {
  const first = config.nLayer - n;
  return (name) => name.startsWith('lnf.') || name.startsWith('head.') || (/^h(\d+)\./.test(name) && Number(/^h(\d+)\./.exec(name)![1]) >= first);
}

/** A model is promoted only into its own style: `style` is what it was trained on, `described` says so for the error. */
function checkSameStyle(target: string, style: string | undefined, described: string): void {
  const serves = existsSync(target) ? cardStyle(readCard(target)) : undefined;
  if (style && serves && style !== serves) throw new UsageError(`--promote ${target} serves ${serves}, and ${described}: a model is promoted into its own style`);
}

/**
 * Replace `target` with the model in `candidate` unless the served one validates better. A style served with a memory
 * fitted for it is compared as it is served: the candidate gets the style's memory fitted against it first (when the
 * corpus the memory holds is found: the candidate's own corpus, or `<dataDir>/<name>` for each of `dataDirs`), and
 * the two losses with memory decide. Otherwise the GPTs alone are compared.
 */
export function promote(candidate: string, target: string, candidateLoss: number, opts: { dataDirs?: string[]; fitMemory?: boolean } = {}): boolean {
  checkModelDir(target, 'promote');
  const candidateCard = readCard(candidate);
  const from = cardStyle(candidateCard);
  checkSameStyle(target, from, `${candidate} was trained on ${from}`);
  const current = existsSync(target) ? readCard(target) : undefined;
  let mine = candidateLoss;
  let theirs = cardValLoss(current);
  let measure = 'validation loss';
  const servedWithMemory = current ? fittedMemoryLoss(target) : undefined;
  if (servedWithMemory !== undefined) {
    // Fitting takes minutes of synchronous work: a caller with an event loop to keep alive (the training worker) fits
    // in a child process first and passes fitMemory: false.
    const corpus = opts.fitMemory === false ? undefined : memoryCorpus(target, candidate, opts.dataDirs ?? ['data']);
    if (fittedMemoryLoss(candidate) === undefined && corpus) {
      console.log(`fitting the style memory (${corpus}) against ${candidate}, to compare it as it would be served…`);
      // As "maestro memory" would build it today (the current settings), with the style's chord gap and views.
      const served = readMemoryFile(target)!.settings;
      const { chordGap } = served;
      const views = served.views ?? DEFAULT_MEMORY_SETTINGS.views;
      const command = ['maestro memory --data', corpus, '--model', candidate, '--chord-gap', chordGap, ...viewArgs(views), '(by promote)'].join(' ');
      fitMemoryInto(candidate, corpus, { settings: { ...DEFAULT_MEMORY_SETTINGS, chordGap, views }, command });
    }
    const candidateWithMemory = fittedMemoryLoss(candidate);
    if (candidateWithMemory !== undefined) {
      [mine, theirs, measure] = [candidateWithMemory, servedWithMemory, 'validation loss with the style memory'];
    }
  } else if (from && opts.fitMemory !== false && !readMemoryFile(target) && fittedMemoryLoss(candidate) === undefined) {
    // A style's first memory (a style an admin added has none): it is served with one from its first promotion, and
    // is compared as it will be served.
    const own = cardCorpus(candidateCard);
    if (own && existsSync(join(own, 'train.bin')) && existsSync(join(own, 'val.bin'))) {
      console.log(`fitting ${from}'s first style memory (${own}) against ${candidate}…`);
      fitMemoryInto(candidate, own, { command: `maestro memory --data ${own} --model ${candidate} (by promote)` });
      const withMemory = fittedMemoryLoss(candidate);
      if (withMemory !== undefined) [mine, measure] = [withMemory, 'validation loss (with its new style memory)'];
    }
  }
  if (mine > theirs) {
    console.log(`not promoted: ${measure} ${mine.toFixed(4)} is worse than the served model's ${theirs.toFixed(4)}`);
    return false;
  }
  const model = loadModel(candidate);
  const card = readCard(candidate)!;
  saveModel(target, model, card);
  model.dispose();
  // saveModel writes weights, config and card; the candidate's loss curves (a soup has one per ingredient) go with them.
  for (const f of readdirSync(candidate)) if (/^loss-curve.*\.png$/.test(f)) copyFileSync(join(candidate, f), join(target, f));
  if (current && continues(card, current)) keepEarlierCurves(`${target}.previous`, target, current);
  console.log(`promoted ${candidate} → ${target} (${measure} ${mine.toFixed(4)}, served ${Number.isFinite(theirs) ? theirs.toFixed(4) : 'none'}${current ? `; previous kept as ${target}.previous` : ''})`);
  // The style's memory belongs to the style, not to one set of weights: it stays (its mix weights were fitted
  // against the model before; "maestro memory" refits them).
  if (readMemoryFile(candidate)) copyMemory(candidate, target);
  else if (copyMemory(`${target}.previous`, target)) {
    if (current?.memory) writeCard(target, { ...card, memory: { ...(current.memory as object), note: 'weights fitted against the model this one replaced; refit with maestro memory' } });
    console.log(`kept the style memory of ${target}; refit its weights for the new model: maestro memory --data <corpus> --model ${target}`);
  }
  // So does how its performers pedal and voice notes (`maestro performance`): a candidate's own, else the served one's.
  const performanceFrom = [candidate, `${target}.previous`].find((d) => existsSync(join(d, PERFORMANCE_FILE)));
  if (performanceFrom) copyFileSync(join(performanceFrom, PERFORMANCE_FILE), join(target, PERFORMANCE_FILE));
  else if (from) console.log(`${from} is played dry, with simulated velocities, until how its pianists play is fitted: maestro performance --style ${from} --models ${dirname(target)}`);
  return true;
}

/**
 * The corpus directory holding the training tokens `target`'s memory was built from (same sha256): the candidate's
 * own corpus or `<dataDir>/<corpus name>`; undefined when none is found (or it has been rebuilt since).
 */
function memoryCorpus(target: string, candidate: string, dataDirs: string[]): string | undefined {
  const source = readMemoryFile(target)?.source;
  if (!source) return undefined;
  const own = cardCorpus(readCard(candidate));
  const dirs = [...(own && basename(own) === source.corpus ? [own] : []), ...dataDirs.map((d) => join(d, source.corpus))];
  return dirs.find((d) => existsSync(join(d, 'val.bin')) && existsSync(join(d, 'train.bin')) && sha256(new Uint8Array(readFileSync(join(d, 'train.bin')))) === source.sha256);
}

/** Whether `card`'s run continued the model `served` describes (its parent is that model's run, not a fine-tune's base). */
function continues(card: ModelCard, served: ModelCard): boolean {
  const servedCommand = served.training?.command;
  return servedCommand !== undefined && card.training?.history?.at(-1)?.command === servedCommand;
}

/**
 * A continued model is still the same model: it keeps the loss curves of the runs before it
 * (loss-curve-steps-A-B.png), and the replaced model's own curve joins them under its step range.
 */
function keepEarlierCurves(previousDir: string, target: string, served: ModelCard): void {
  for (const f of readdirSync(previousDir)) if (/^loss-curve-steps-\d+-\d+\.png$/.test(f)) copyFileSync(join(previousDir, f), join(target, f));
  const t = served.training ?? {};
  const last = t.stepsTotal ?? t.steps;
  if (t.steps !== undefined && last !== undefined && existsSync(join(previousDir, LOSS_CURVE))) {
    copyFileSync(join(previousDir, LOSS_CURVE), join(target, `loss-curve-steps-${last - t.steps + 1}-${last}.png`));
  }
}

/** ' (how the corpus was drawn)', from its manifest, for the model card's description. */
function corpusProtocol(dir: string): string {
  const protocol = readManifestSummary(dir)?.protocol;
  return typeof protocol === 'string' ? ` (${protocol})` : '';
}

/** What to do when a model and batch do not fit the wasm backend's heap (a 103 M-parameter giga model at --batch 2). */
export function heapExhaustedMessage(config: ModelConfig, opts: Pick<TrainOptions, 'batchSize' | 'seqLen' | 'accumulate'>, runDir: string): string {
  const kept = checkpointConfig(runDir) ? ` The run's last checkpoint in ${join(runDir, 'checkpoint')} is intact: --resume continues from it.` : '';
  return `the WebAssembly backend ran out of memory: its heap holds at most ${WASM_HEAP_LIMIT_GB} GB, and a ${(parameterCount(config) / 1e6).toFixed(1)} M-parameter model ` +
    `trained on micro-batches of ${opts.batchSize} × ${opts.seqLen} tokens does not fit (weights, gradients, the optimizer's state and one micro-batch's activations). ` +
    `Lower --batch (raise --accumulate to keep ${opts.batchSize * opts.accumulate} sequences a step) or --seq, or train where @tensorflow/tfjs-node or tfjs-node-gpu is installed (no such limit).${kept}`;
}
