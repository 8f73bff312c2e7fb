// The TrainingService over the project's own CLIs: `maestro dataset build` (music engineer) and
// `maestro train` (lead), with the same directories the CLI docs use. Output of those commands goes
// to this worker's log; Discord gets the summary. If the training modules cannot be loaded here,
// the worker reports "not available" instead of pretending.
import { existsSync, readdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import type { WorkerConfig } from '../config.js';
import type { TrainingService } from '../queue/jobs.js';

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

function latestRun(runsDir: string, style: string): string | null {
  if (!existsSync(runsDir)) return null;
  const runs = readdirSync(runsDir).filter((d) => d.startsWith(`${style}-`) && existsSync(path.join(runsDir, d, 'model', 'config.json'))).sort();
  return runs.length ? path.join(runsDir, runs[runs.length - 1], 'model') : null;
}

export async function loadTrainingService(config: WorkerConfig, paths: Partial<TrainingPaths> = {}): Promise<{ service: TrainingService | null; reason?: string }> {
  let cli;
  try {
    const [dataset, train, store] = await Promise.all([import('../cli/dataset.js'), import('../cli/train.js'), import('../model/store.js')]);
    cli = { runDataset: dataset.runDataset, runTrain: train.runTrain, promote: train.promote, readCard: store.readCard };
  } catch (err) {
    return { service: null, reason: `the training modules could not be loaded (${(err as Error).message})` };
  }
  const p = trainingPaths(config, paths);
  const service: TrainingService = {
    async rebuildDataset(style, onProgress) {
      onProgress({ stage: 'dataset', fraction: 0, detail: 'thesis corpora' });
      const code = await cli.runDataset(['build', '--thesis', '--out', p.dataDir]);
      if (code !== 0) throw new Error(`dataset build exited with code ${code} (see the worker log)`);
      return { summary: `Rebuilt the thesis corpora in ${p.dataDir}${style ? ' (all styles are built together)' : ''}.` };
    },
    async train(style, steps, onProgress) {
      const corpus = [path.join(p.dataDir, `thesis-${style}`), path.join(p.dataDir, style)].find((d) => existsSync(path.join(d, 'train.bin')));
      if (!corpus) throw new Error(`no dataset for ${style} in ${p.dataDir}: run /admin dataset-rebuild first`);
      const out = path.join(p.runsDir, `${style}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      onProgress({ stage: 'training', fraction: 0, detail: `run ${path.basename(out)}` });
      const args = ['--data', corpus, '--out', out, '--steps', String(steps ?? 1000), '--name', style];
      if (existsSync(path.join(p.baseModel, 'config.json'))) args.push('--init', p.baseModel);
      const code = await cli.runTrain(args);
      // 130: stopped cleanly (the worker got SIGTERM) after writing a checkpoint.
      if (code === 130) throw new Error(`training was stopped because the worker shut down; its checkpoint is in ${out}`);
      if (code !== 0) throw new Error(`training exited with code ${code} (see the worker log)`);
      const card = cli.readCard(path.join(out, 'model'));
      const loss = (card?.metrics as Record<string, unknown> | undefined)?.valLoss128;
      return { summary: `Trained ${style} → ${out}${typeof loss === 'number' ? `, validation loss ${loss.toFixed(4)}` : ''}. Use /admin promote to serve it.` };
    },
    async promote(style) {
      const candidate = latestRun(p.runsDir, style);
      if (!candidate) throw new Error(`no finished training run for ${style} in ${p.runsDir}`);
      const loss = Number((cli.readCard(candidate)?.metrics as Record<string, unknown> | undefined)?.valLoss128 ?? Infinity);
      const ok = cli.promote(candidate, path.join(p.modelsDir, style), loss);
      return { summary: ok ? `Promoted ${candidate} to ${style} (previous kept for rollback). Restart inference workers to load it.` : `Not promoted: the served ${style} model validates better.` };
    },
    async rollback(style) {
      const live = path.join(p.modelsDir, style);
      const previous = `${live}.previous`;
      if (!existsSync(previous)) throw new Error(`there is no previous ${style} model to roll back to`);
      const swap = `${live}.rollback-${Date.now()}`;
      if (existsSync(live)) renameSync(live, swap);
      renameSync(previous, live);
      if (existsSync(swap)) renameSync(swap, previous);
      return { summary: `Rolled ${style} back to the previous model (the replaced one is now ${path.basename(previous)}). Restart inference workers to load it.` };
    },
  };
  return { service };
}
