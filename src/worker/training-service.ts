// The TrainingService over the project's own CLIs: `maestro dataset build` (music engineer) and
// `maestro train` (lead), with the same directories the CLI docs use. Dataset builds and training
// runs are child processes: hours of CPU never block this worker's event loop (BullMQ keeps the job's
// lock), their progress lines become Discord progress, and a worker shutdown stops them cleanly (the
// trainer checkpoints on SIGTERM). If the training modules cannot be loaded here, the worker reports
// "not available" instead of pretending.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DatasetSummary } from '../cli/dataset.js';
import type { WorkerConfig } from '../config.js';
import type { JobProgress, TrainingService } from '../queue/jobs.js';
import { viewArgs } from '../model/views.js';
import type { SeenInPretraining } from '../model/pretraining.js';
import { cardCorpus } from '../model/card.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(REPO_ROOT, 'src/cli/main.ts');

export interface TrainingPaths {
  dataDir: string;
  runsDir: string;
  modelsDir: string;
  /** Pre-trained model fine-tunes start from, if present. */
  baseModel: string;
}

export function trainingPaths(config: WorkerConfig, overrides: Partial<TrainingPaths> = {}): TrainingPaths {
  const root = path.dirname(config.modelsDir);
  return {
    dataDir: path.resolve(process.env.DATA_DIR ?? path.join(root, 'data')),
    runsDir: path.resolve(process.env.RUNS_DIR ?? path.join(root, 'runs')),
    modelsDir: config.modelsDir,
    baseModel: path.join(config.modelsDir, 'base'),
    ...overrides,
  };
}

/** Threads per fine-tune: TRAIN_THREADS, else the cores this machine offers (1, 2, 4 or 8: 8 sequences split evenly). */
export function trainingThreads(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): number {
  const wanted = Number(env.TRAIN_THREADS ?? cores);
  return [8, 4, 2, 1].find((t) => t <= wanted) ?? 1;
}

function latestRun(runsDir: string, style: string): string | null {
  if (!existsSync(runsDir)) return null;
  const runs = readdirSync(runsDir).filter((d) => d.startsWith(`${style}-`) && existsSync(path.join(runsDir, d, 'model', 'config.json'))).sort();
  return runs.length ? path.join(runsDir, runs[runs.length - 1], 'model') : null;
}

/** "step 120/1000 loss 2.345 …" from the trainer's progress line, as job progress. */
export function parseTrainLine(line: string): JobProgress | null {
  const m = /step (\d+)\/(\d+) loss ([\d.]+)(?: val ([\d.]+))?/.exec(line);
  if (!m) return null;
  const [step, total] = [Number(m[1]), Number(m[2])];
  return { stage: 'training', fraction: total ? step / total : 0, detail: `step ${step}/${total}, loss ${m[3]}${m[4] ? `, validation ${m[4]}` : ''}` };
}

class CliRunner {
  private readonly children = new Set<ChildProcess>();
  constructor(private readonly log: (line: string) => void) {}

  /**
   * Runs `maestro <args>`; every output line goes to the log and to `onLine` (with the stream it came
   * from). Resolves the exit code.
   */
  run(args: string[], onLine: (line: string, stream: 'stdout' | 'stderr') => void, stop?: AbortSignal): Promise<number> {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    // As at a worker shutdown: the trainer finishes its step, checkpoints, saves the model so far and exits with 130.
    stop?.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
    const forward = (stream: 'stdout' | 'stderr') => {
      // A chunk can end mid-line: keep the tail until its line is complete.
      let partial = '';
      const emit = (line: string) => {
        if (!line.trim()) return;
        this.log(line);
        onLine(line, stream);
      };
      child[stream]!.on('data', (chunk: Buffer) => {
        // Progress bars redraw with \r; each redraw is a line for us.
        const lines = (partial + String(chunk)).split(/[\r\n]+/);
        partial = lines.pop()!;
        lines.forEach(emit);
      });
      child[stream]!.on('end', () => emit(partial));
    };
    forward('stdout');
    forward('stderr');
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      // 'close' (not 'exit'): both streams have ended, so every line has been seen.
      child.once('close', (code, signal) => {
        this.children.delete(child);
        resolve(code ?? (signal ? 128 + 15 : 1));
      });
    });
  }

  /** Asks running commands to stop (the trainer finishes its step and checkpoints). */
  stopAll(): void {
    for (const c of this.children) c.kill('SIGTERM');
  }
}

export async function loadTrainingService(
  config: WorkerConfig,
  paths: Partial<TrainingPaths> = {},
  log: (line: string) => void = () => {},
): Promise<{ service: TrainingService | null; reason?: string }> {
  let cli;
  try {
    // Loaded here too: promote/rollback run in-process, and a broken install is reported up front.
    const [train, store, memoryStore, soup] = await Promise.all([import('../cli/train.js'), import('../model/store.js'), import('../model/memory-store.js'), import('../../training/soup.js'), import('../cli/dataset.js')]);
    cli = { promote: train.promote, seenWarning: train.seenWarning, performanceFile: store.PERFORMANCE_FILE, rollbackModel: store.rollbackModel, firstModelBaseWeights: soup.FIRST_MODEL_BASE_WEIGHTS, readCard: store.readCard, cardValLoss: store.cardValLoss, readMemoryFile: memoryStore.readMemoryFile };
  } catch (err) {
    return { service: null, reason: `the training modules could not be loaded (${(err as Error).message})` };
  }
  const runner = new CliRunner(log);
  const p = trainingPaths(config, paths);
  /** The outcome of a run an operator stopped: the model it saved on stopping, and how to serve it. */
  const stoppedRun = (style: string, out: string, last: JobProgress | null): { summary: string } => {
    const loss = cli.cardValLoss(cli.readCard(path.join(out, 'model')));
    const at = last ? ` at ${last.detail}` : ' before its first step';
    const saved = Number.isFinite(loss)
      ? `the model so far is saved in ${path.join(out, 'model')} (validation loss ${loss.toFixed(4)}): /admin promote serves it if it validates no worse than the served one`
      : `its checkpoint is in ${path.join(out, 'checkpoint')}`;
    return { summary: `Stopped training ${style} on request${at}; ${saved}.` };
  };
  const service: TrainingService = {
    async rebuildDataset(style, onProgress) {
      onProgress({ stage: 'dataset', fraction: 0, detail: 'all corpora' });
      // The thesis corpora for the thesis' styles; any style an admin added to the styles config is
      // selected from its composers (see training/dataset/build.ts). One build: every style's validation
      // pieces must be known to keep them all out of the pre-training corpus.
      const summaries: DatasetSummary[] = [];
      // The served base, so that an added style is validated on pieces it never trained on (see maestro dataset build --base).
      const base = existsSync(path.join(p.baseModel, 'card.json')) ? ['--base', p.baseModel] : ['--base', 'none'];
      const code = await runner.run(['dataset', 'build', '--thesis', '--json', '--styles', config.stylesFile, '--out', p.dataDir, ...base], (line, stream) => {
        if (stream === 'stdout' && line.startsWith('{')) summaries.push(JSON.parse(line) as DatasetSummary);
        else onProgress({ stage: 'dataset', fraction: 0, detail: line.slice(0, 120) });
      });
      if (code !== 0) throw new Error(`dataset build exited with code ${code} (see the worker log)`);
      const summary = summaries.at(-1);
      if (!summary) throw new Error('dataset build finished without its summary (see the worker log)');
      const built = summary.corpora.map(
        (c) => `• ${c.name}: ${c.files} files, ${c.trainTokens.toLocaleString('en-US')} training + ${c.valTokens.toLocaleString('en-US')} validation tokens`,
      );
      const note = style ? ` (all styles are built together, ${style} included)` : '';
      return { summary: `Rebuilt the corpora in ${p.dataDir}${note}:\n${built.join('\n')}` };
    },
    async train(style, steps, onProgress, stop) {
      // The thesis corpus, not thesis-<style>-plus: a fine-tune on the composer's other performances served no better on
      // its own unless followed by a second stage on the thesis corpus (docs/training-log.md, sessions 20–21), and the
      // memory fitted at promotion holds the run's corpus, which must be the thesis one (a plus-corpus memory is worse).
      const corpus = [path.join(p.dataDir, `thesis-${style}`), path.join(p.dataDir, style)].find((d) => existsSync(path.join(d, 'train.bin')));
      if (!corpus) throw new Error(`no dataset for ${style} in ${p.dataDir}: run /admin dataset-rebuild first`);
      const out = path.join(p.runsDir, `${style}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      onProgress({ stage: 'training', fraction: 0, detail: `run ${path.basename(out)}` });
      // Steps of 8 sequences, spread over the machine's cores (data parallel, one core per thread).
      const threads = trainingThreads();
      const args = ['--data', corpus, '--out', out, '--steps', String(steps ?? 1000), '--name', style, '--batch', String(8 / threads), '--accumulate', String(threads), '--threads', String(threads)];
      if (existsSync(path.join(p.baseModel, 'config.json'))) args.push('--init', p.baseModel);
      let last = null as JobProgress | null;
      let said = '';
      const code = await runner.run(['train', ...args], (line, stream) => {
        const progress = parseTrainLine(line);
        if (progress) onProgress((last = progress));
        if (stream === 'stderr' && line.startsWith('maestro train: ')) said = line.slice('maestro train: '.length);
      }, stop);
      // 130: stopped cleanly after writing a checkpoint and saving the model so far — on request, or at a worker shutdown.
      if (code === 130 && stop?.aborted) return stoppedRun(style, out, last);
      if (code === 130) throw new Error(`training was stopped because the worker shut down; its checkpoint is in ${out}`);
      // 2: refused before training (an empty corpus, say), with its reason as the trainer's last line.
      if (code === 2 && said) throw new Error(`training refused: ${said}`);
      if (code !== 0) throw new Error(`training exited with code ${code} (see the worker log)`);
      const card = cli.readCard(path.join(out, 'model'));
      const loss = (card?.metrics as Record<string, unknown> | undefined)?.valLoss128;
      const lastStep = last ? ` (${last.detail})` : '';
      const seen = card?.data?.seenInPretraining as SeenInPretraining | undefined;
      const caveat = seen?.files.length ? ` Caution: ${cli.seenWarning(seen)}.` : '';
      return { summary: `Trained ${style} → ${out}${typeof loss === 'number' ? `, validation loss ${loss.toFixed(4)}` : ''}${lastStep}. Use /admin promote to serve it.${caveat}` };
    },
    async promote(style) {
      const candidate = latestRun(p.runsDir, style);
      if (!candidate) throw new Error(`no finished training run for ${style} in ${p.runsDir}`);
      const live = path.join(p.modelsDir, style);
      const card = cli.readCard(candidate);
      const alone = cli.cardValLoss(card);
      let chosen = { dir: candidate, loss: alone };
      let how = '';
      // One fine-tune rarely beats a served model soup; the fine-tune added to it (the uniform soup of n + 1, see
      // training/soup.ts) often does, and averaging two fine-tunes of one base beats either. So the run is also
      // tried averaged with the served model, and the better of the two is the candidate.
      if (existsSync(path.join(live, 'config.json'))) {
        const soup = path.join(path.dirname(candidate), 'soup-with-served');
        const corpus = cardCorpus(card);
        // A served soup moved toward the base (maestro soup --base-weight) needs that base to take it back out; its
        // card may name it by a path relative to wherever the soup was made, so name the served one here.
        const moved = cli.readCard(live)?.training?.baseMix !== undefined;
        const args = ['soup', '--out', soup, live, candidate, ...(moved ? ['--base', path.join(p.modelsDir, 'base')] : []), ...(typeof corpus === 'string' ? ['--data', corpus] : [])];
        const code = await runner.run(args, () => {});
        // Exit 2: not averageable (another architecture, or the base it was moved toward changed); the run is promoted alone.
        const averaged = code === 0 ? cli.cardValLoss(cli.readCard(soup)) : Infinity;
        if (averaged < alone) {
          chosen = { dir: soup, loss: averaged };
          how = ` averaged with the served model (validation loss ${averaged.toFixed(4)}; the run alone ${alone.toFixed(4)})`;
        }
      } else if (existsSync(path.join(p.baseModel, 'config.json')) && typeof cardCorpus(card) === 'string') {
        // A style's first model has no served one to average with: it is tried moved toward its base (WiSE-FT; see
        // FIRST_MODEL_BASE_WEIGHTS for why).
        for (const weight of cli.firstModelBaseWeights) {
          const moved = path.join(path.dirname(candidate), `toward-base-${weight}`);
          const code = await runner.run(['soup', '--out', moved, candidate, '--base', p.baseModel, '--base-weight', String(weight), '--data', cardCorpus(card)!], () => {});
          const loss = code === 0 ? cli.cardValLoss(cli.readCard(moved)) : Infinity;
          if (loss < chosen.loss) {
            chosen = { dir: moved, loss };
            how = ` moved ${Math.round(weight * 100)} % of the way back to the base (validation loss ${loss.toFixed(4)}; the run alone ${alone.toFixed(4)})`;
          }
        }
      }
      // A style is served with its memory (0.13–0.25 nats better than its GPT alone on the thesis' styles), from its
      // first promotion on: the candidate gets the memory fitted against it first (in a child process: minutes of work),
      // on the corpus the run was trained on; where a served model has one, promote then compares the two mixes.
      let memory = '';
      let withMemory = false;
      const corpus = cardCorpus(card);
      const memoryCorpus = [corpus ?? null, path.join(p.dataDir, `thesis-${style}`), path.join(p.dataDir, style)].find(
        (d): d is string => d !== null && existsSync(path.join(d, 'train.bin')) && existsSync(path.join(d, 'val.bin')),
      );
      if (memoryCorpus) {
        let fitted = '';
        // The style's chord gap and views, as served (a first memory: the defaults).
        const served = cli.readMemoryFile(live)?.settings;
        const args = [...(served?.chordGap !== undefined ? ['--chord-gap', String(served.chordGap)] : []), ...viewArgs(served?.views)];
        const code = await runner.run(['memory', '--data', memoryCorpus, '--model', chosen.dir, ...args], (line) => {
          const m = /GPT alone ([\d.]+), with memory ([\d.]+)/.exec(line);
          if (m) fitted = `${m[2]} with it, ${m[1]} without`;
        });
        withMemory = code === 0;
        memory = withMemory ? ` Its memory was fitted for it (validation loss ${fitted}).` : ` Fitting the style memory for it failed (exit ${code}; see the worker log): it keeps the memory's previous weights.`;
      }
      const ok = cli.promote(chosen.dir, live, chosen.loss, { fitMemory: false });
      if (!ok) return { summary: `Not promoted: the served ${style} model validates better than the run alone and averaged with it${withMemory ? ' (both with the style memory)' : ''}.` };
      // How the style's performers pedal and voice notes belongs to the style and is kept by promote; a style's first
      // model (one an admin added to the styles config) has none yet, and would be played dry with simulated velocities.
      let performance = '';
      if (!existsSync(path.join(live, cli.performanceFile))) {
        let pedal = '';
        const code = await runner.run(['performance', '--style', style, '--models', p.modelsDir, '--data', p.dataDir], (line, stream) => {
          if (stream === 'stdout' && line.startsWith(`${style} pedal: `)) pedal = line.slice(`${style} pedal: `.length).split(';')[0]!;
        });
        performance =
          code === 0
            ? ` How its pianists play was fitted on their recordings (pedal: ${pedal}; dynamics: learnt).`
            : ` How its pianists pedal and voice notes could not be fitted (maestro performance exited ${code}; see the worker log): it is played dry, with simulated velocities.`;
      }
      return { summary: `Promoted ${candidate}${how} to ${style} (previous kept for rollback). Inference workers serve it from their next job.${memory}${performance}` };
    },
    async rollback(style) {
      const live = path.join(p.modelsDir, style);
      if (!existsSync(`${live}.previous`)) throw new Error(`there is no previous ${style} model to roll back to`);
      cli.rollbackModel(live);
      return { summary: `Rolled ${style} back to the previous model (the replaced one is now ${path.basename(live)}.previous). Inference workers serve it from their next job.` };
    },
  };
  service.shutdown = () => runner.stopAll();
  return { service };
}
