/**
 * `maestro performance [--style S]…` — fit how each style's performers play what the GIGA tokens leave out, the
 * sustain pedal and the dynamics (training/performance-fit.ts), and write it beside the style's model as
 * performance.json, which composing reads (src/music/pedal.ts, src/music/dynamics.ts). Reads the real performances
 * in ../shared/datasets; prints what it measured on performances it did not fit on. The thesis' three styles are fitted on
 * the evaluation catalogue (their 50 files and the composers' other performances); a style an admin added to the styles
 * config on its own built corpus (data/<style>/manifest.json): its training files fitted, its validation files checked.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadCorpus, sharedDir } from '../eval/corpus.js';
import { STYLES } from '../eval/pieces.js';
import { fitPerformance, manifestPerformances, performanceEntries, type PerformanceFiles } from '../../training/performance-fit.js';
import { PERFORMANCE_FILE } from '../model/store.js';
import { writeFileAtomic } from '../model/tensor-file.js';
import { jsonText } from '../util/json-text.js';
import { DEFAULT_MODELS_DIR, REPO_ROOT } from '../compose.js';
import { int, parse, UsageError } from './args.js';

const HELP = `usage: maestro performance [--style S]... [--models DIR] [--data DIR] [--maestro DIR] [--max-fit N]

Fits how each style's performers pedal and voice their notes, on real performances (MAESTRO and ASAP in
../shared/datasets; never a performance of a style model's validation piece), checks both on the validation pieces'
performances, and writes <models>/<style>/${PERFORMANCE_FILE}, which composing reads.

  --style S     a served style (default: ${STYLES.join(', ')}); a style added to the styles config is fitted on its
                built corpus, <data>/<style>
  --models DIR  where the style models are (default ${path.relative(process.cwd(), DEFAULT_MODELS_DIR) || '.'})
  --data DIR    where the built corpora are (default data)
  --maestro DIR the MAESTRO folder an added style's corpus was built from (as maestro dataset build --maestro;
                default ../shared/datasets/maestro-thesis)
  --max-fit N   fit on at most N performances per style, spread over the catalogue (default 60)
`;

const isThesisStyle = (style: string) => (STYLES as readonly string[]).includes(style);

export async function runPerformance(argv: string[]): Promise<number> {
  let styles: string[];
  let modelsDir: string;
  let maxFit: number;
  let dataDir: string;
  let maestroDir: string | undefined;
  try {
    const o = parse(argv, { style: { type: 'string', multiple: true }, models: { type: 'string' }, data: { type: 'string' }, maestro: { type: 'string' }, 'max-fit': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, false).values;
    if (o.help) {
      console.log(HELP);
      return 0;
    }
    styles = o.style ?? [...STYLES];
    modelsDir = o.models ?? DEFAULT_MODELS_DIR;
    dataDir = o.data ?? path.join(REPO_ROOT, 'data');
    maestroDir = o.maestro;
    for (const s of styles) if (!existsSync(path.join(modelsDir, s, 'config.json'))) throw new UsageError(`there is no ${s} model in ${modelsDir} to fit a performance for`);
    maxFit = int(o['max-fit'], 'max-fit', 60, [1, 100_000])!;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`maestro performance: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
  const datasets = path.join(sharedDir(REPO_ROOT), 'datasets');
  if (!existsSync(datasets)) {
    console.error(`maestro performance: no performances to fit on: ${datasets} does not exist (set MAESTRO_SHARED)`);
    return 2;
  }
  const corpus = styles.some(isThesisStyle) ? loadCorpus(datasets, { dataDir }) : undefined;
  const filesOf = (style: string): PerformanceFiles => {
    if (isThesisStyle(style)) return performanceEntries(corpus!, style);
    const built = [style, `thesis-${style}`].map((name) => path.join(dataDir, name)).find((d) => existsSync(path.join(d, 'manifest.json')));
    if (!built) throw new UsageError(`there is no built ${style} corpus in ${dataDir} to fit on: build it first (maestro dataset build --styles <your styles file>)`);
    return manifestPerformances(built, { maestroDir: maestroDir ?? path.join(datasets, 'maestro-thesis'), catalogDir: datasets });
  };
  const command = `maestro performance ${argv.join(' ')}`.trim();
  for (const style of styles) {
    const started = Date.now();
    let files: PerformanceFiles;
    try {
      files = filesOf(style);
      if (files.fit.length === 0 || files.heldOut.length === 0) {
        throw new UsageError(`${style}'s corpus has ${files.fit.length} recorded performances (MAESTRO or ASAP) to fit on and ${files.heldOut.length} to check on; both must be at least 1`);
      }
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      console.error(`maestro performance: ${err.message}`);
      return 2;
    }
    const fitted = fitPerformance(files, style, { maxFit, command, log: (s) => console.error(s) });
    writeFileAtomic(path.join(modelsDir, style, PERFORMANCE_FILE), [jsonText(fitted)]);
    const { pedal, dynamics } = fitted;
    const h = pedal.heldOut;
    const e = dynamics.heldOut.error;
    console.log(
      `${style} pedal: ${pedal.pedal ? `down, lifted at harmony changes ≥ ${pedal.pedal.harmonyChange} at most every ${pedal.pedal.minLiftGapSec} s for ${pedal.pedal.liftSec} s` : 'none (its performers\' notes ring closest dry)'}; ` +
        `held out (${h.performances} performances): notes sounding ${h.chosen.sounding.toFixed(2)} (dry ${h.dry.sounding.toFixed(2)}, the performers' pedal ${h.performersPedal.sounding.toFixed(2)}, down ${(h.performersPedal.pedalDownShare * 100).toFixed(0)} % of the time), ` +
        `error ${h.chosen.error.toFixed(2)} per frame (dry ${h.dry.error.toFixed(2)}); pressed ${h.chosen.pressesPerMin.toFixed(0)} times a minute (the performers ${h.performersPedal.pressesPerMin.toFixed(0)})`,
    );
    const v = dynamics.heldOut.spread;
    console.log(
      `${style} dynamics: held out (${dynamics.heldOut.notes} notes): the model's mean is off by ${e.model.toFixed(2)} on average (the reference's simulation ${e.simulation.toFixed(2)}, one flat velocity ${e.flat.toFixed(2)}); ` +
        `velocities vary by ${v.sampled.toFixed(1)} with its drawn expression (performers ${v.performers.toFixed(1)}, its mean alone ${v.mean.toFixed(1)}, the simulation ${v.simulation.toFixed(1)}), off by ${e.sampled.toFixed(2)} note by note; a chord's top note ${dynamics.heldOut.chordTop.sampled.toFixed(1)} louder than the rest (performers ${dynamics.heldOut.chordTop.performers.toFixed(1)}, the simulation ${dynamics.heldOut.chordTop.simulation.toFixed(1)}) — ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  }
  return 0;
}
