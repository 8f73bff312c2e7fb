/**
 * `maestro dataset build [--thesis] [--maestro DIR] [--catalog CSV] [--styles FILE] [--out DIR]`
 * Builds tokenized corpora (see training/dataset/build.ts for the output format). Progress and
 * warnings go to stderr; the final summary to stdout.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDatasets } from '../../training/dataset/build.js';
import { StylesConfigError } from '../../training/dataset/styles.js';
import { CsvError } from '../../training/dataset/csv.js';
import { MAESTRO_CSV } from '../../training/dataset/sources.js';
import { int, num, parse, prepareOutDir, UsageError } from './args.js';
import { unheardInPretraining } from '../model/pretraining.js';
import { readCard } from '../model/card.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sharedDir = () => process.env.MAESTRO_SHARED ?? path.resolve(repoRoot, '../shared');

const USAGE = `usage: maestro dataset build [--thesis] [--maestro DIR] [--catalog CSV] [--styles FILE] [--out DIR] [--base DIR] [--json]

  --thesis        reproduce the thesis: its 150 MAESTRO files (thesis-selection.csv) per style,
                  concatenated in zip_order, validation = last 10% of each style's token stream; also
                  thesis-<style>-plus: the same with the composer's other performances that pre-training
                  trains on (no validation piece) added to the training stream, the same validation
  --maestro DIR   MAESTRO-layout folder (default ../shared/datasets/maestro-thesis)
  --catalog CSV   catalog of other piano MIDIs (default ../shared/datasets/index.csv); "none" to skip
  --styles FILE   style definitions (default training/styles.json)
  --out DIR       output folder (default data/)
  --min-notes N   drop files with fewer notes (default 50; not applied to thesis corpora)
  --pretrain-val F  share of pre-training pieces held out for its own validation (default 0.02)
  --base DIR      the served base (default models/base; "none" to ignore it): a style the thesis does not have holds
                  out its validation pieces among the files this base never trained on, when it has any of them, so
                  that fine-tunes of it are measured on music it has not heard
  --json          print the summary as one JSON line (DatasetSummary) instead of a table`;

/** What `--json` prints: the contract the training worker reads (src/worker/training-service.ts). */
export interface DatasetSummary {
  corpora: { name: string; dir: string; trainTokens: number; valTokens: number; files: number; excluded: number }[];
}

export async function runDataset(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    console.log(USAGE);
    return 0;
  }
  try {
    if (sub !== 'build') throw new UsageError(sub ? `unknown dataset command "${sub}"` : 'missing dataset command');
    const { values, positionals } = parse(rest, {
      thesis: { type: 'boolean' },
      maestro: { type: 'string' },
      catalog: { type: 'string' },
      styles: { type: 'string' },
      out: { type: 'string' },
      'min-notes': { type: 'string' },
      'pretrain-val': { type: 'string' },
      json: { type: 'boolean' },
      base: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const maestroDir = values.maestro ?? path.join(sharedDir(), 'datasets/maestro-thesis');
    const catalogCsv = values.catalog === 'none' ? undefined : (values.catalog ?? path.join(sharedDir(), 'datasets/index.csv'));
    const stylesFile = values.styles ?? path.join(repoRoot, 'training/styles.json');
    if (!existsSync(maestroDir)) throw new UsageError(`MAESTRO folder ${maestroDir} not found (give --maestro DIR)`);
    if (!existsSync(path.join(maestroDir, MAESTRO_CSV))) throw new UsageError(`${maestroDir} is not a MAESTRO folder: it has no ${MAESTRO_CSV}`);
    if (catalogCsv && !existsSync(catalogCsv)) throw new UsageError(`catalog ${catalogCsv} not found (give --catalog CSV or --catalog none)`);
    const outDir = path.resolve(values.out ?? path.join(repoRoot, 'data'));
    prepareOutDir(outDir);
    // The served base's unheard files: a style the thesis does not have is validated among them (see BuildOptions).
    const baseDir = values.base === 'none' ? undefined : (values.base ?? path.join(process.env.MAESTRO_MODELS_DIR ?? path.join(repoRoot, 'models'), 'base'));
    const unheardByBase = unheardInPretraining(baseDir ? readCard(baseDir) : undefined);
    if (values.base && values.base !== 'none' && !unheardByBase) process.stderr.write(`warning: --base ${values.base}: its card does not say which files its pre-training left out; a style the thesis does not have is validated on pieces drawn by seed\n`);
    const result = buildDatasets({
      thesis: values.thesis ?? false,
      maestroDir,
      ...(catalogCsv ? { catalogCsv } : {}),
      stylesFile,
      outDir,
      minNotes: int(values['min-notes'], 'min-notes', 50, [0, 1_000_000])!,
      pretrainValidationFraction: num(values['pretrain-val'], 'pretrain-val', 0.02, [0.001, 0.5])!,
      ...(unheardByBase ? { unheardByBase } : {}),
      log: (line) => process.stderr.write(`${line}\n`),
    });
    const summary: DatasetSummary = {
      corpora: result.corpora.map(({ name, dir, manifest: m }) => ({
        name,
        dir,
        trainTokens: m.train.tokens,
        valTokens: m.val.tokens,
        files: m.files.length,
        excluded: m.excluded.length,
      })),
    };
    if (values.json) console.log(JSON.stringify(summary));
    else for (const c of summary.corpora) console.log(`${c.dir}\ttrain ${c.trainTokens} tokens\tval ${c.valTokens} tokens\t${c.files} files\t${c.excluded} excluded`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof StylesConfigError || err instanceof CsvError) {
      console.error(`maestro dataset: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}
