/**
 * `maestro eval --thesis [--models DIR] [--data DIR]` — the thesis' validation protocol, side by side
 * with its Tables 3.2–3.4: for each style, the 50 thesis files encoded whole and concatenated in
 * zip_order, the last 10 % of tokens held out, cut into consecutive 128-token windows (inputs
 * x[i..i+128), targets x[i+1..i+129)); mean cross-entropy (nats/token) and accuracy over all positions.
 * `maestro eval --report DIR` runs the music metrics report (src/eval).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend } from '../model/backend.js';
import { loadModel, readCard, writeCard } from '../model/store.js';
import { evaluateInThreads } from '../../training/eval-threads.js';
import { DEFAULT_MODELS_DIR, REPO_ROOT } from '../compose.js';
import { int, parse, UsageError } from './args.js';
import { streamFields, TOKEN_FIELDS, type TokenField } from '../music/tokenizer.js';

/** The thesis' published validation numbers (UPM 2023, Tables 3.2–3.4). */
export const THESIS_RESULTS: Record<string, { loss: number; accuracy: number }> = {
  baroque: { loss: 1.49, accuracy: 0.532 },
  romantic: { loss: 1.41, accuracy: 0.562 },
  vanguard: { loss: 1.612, accuracy: 0.521 },
};

export const SHARED_DIR = process.env.MAESTRO_SHARED ?? resolve(REPO_ROOT, '../shared');

const HELP = `usage: maestro eval --thesis [--models DIR] [--data DIR] [--write-cards] [--by-field] [--threads N]
       maestro eval --report OUT_DIR [options of the music report]

  --thesis        validation loss/accuracy with the thesis protocol, per style, next to the thesis' numbers
  --models DIR    models directory (default ./models)
  --data DIR      built corpora (thesis-<style>/val.bin); built from ../shared into a temp dir if absent
  --write-cards   record the results in each model's card.json
  --by-field      also split loss and accuracy by token field (dt, dur, pitch, sep), next to a unigram baseline
  --threads N     spread each style's windows over N threads, one core each (default: this machine's cores)
  --report DIR    the music metrics report (style classifier, key, memorisation, validity)
`;

export interface ThesisRow {
  style: string;
  loss: number;
  accuracy: number;
  windows: number;
  tokens: number;
  thesisLoss: number;
  thesisAccuracy: number;
  /** With --by-field: per token field (dt, dur, pitch, sep), the model's loss and accuracy and a context-free baseline. */
  byField?: FieldRow[];
}

export interface FieldRow {
  field: TokenField;
  /** Share of the validation targets in this field. */
  share: number;
  loss: number;
  accuracy: number;
  /** Loss of the field's unigram distribution in the style's training tokens: what ignoring context costs. */
  unigramLoss: number;
}

export async function runEval(argv: string[]): Promise<number> {
  if (argv.includes('--report')) {
    const { runEvalReport } = await import('./eval-music.js');
    return runEvalReport(argv);
  }
  let values;
  let threads: number;
  try {
    values = parse(argv, {
      thesis: { type: 'boolean' }, models: { type: 'string' }, data: { type: 'string' },
      'write-cards': { type: 'boolean' }, 'by-field': { type: 'boolean' }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    }, false).values;
    threads = int(values.threads, 'threads', availableParallelism(), [1, 64])!;
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (!values.thesis) throw new UsageError('say what to evaluate: --thesis or --report DIR');
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`maestro eval: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
  const rows = await evaluateThesis(values.models ?? DEFAULT_MODELS_DIR, values.data, { byField: values['by-field'], threads });
  console.log(formatThesisTable(rows));
  if (values['by-field']) console.log(`\n${formatFieldTable(rows)}`);
  if (values['write-cards']) {
    for (const r of rows) {
      const dir = join(values.models ?? DEFAULT_MODELS_DIR, r.style);
      const card = readCard(dir);
      if (!card) continue;
      card.metrics = { ...(card.metrics ?? {}), thesisProtocol: { valLoss: r.loss, valAccuracy: r.accuracy, windows: r.windows, tokens: r.tokens, thesisValLoss: r.thesisLoss, thesisValAccuracy: r.thesisAccuracy, ...(r.byField ? { byField: r.byField.map(roundField) } : {}) } };
      writeCard(dir, card);
    }
  }
  return 0;
}

export async function evaluateThesis(modelsDir: string, dataDir?: string, opts: { byField?: boolean; threads?: number } = {}): Promise<ThesisRow[]> {
  await initBackend();
  const data = dataDir ?? (existsSync(join(REPO_ROOT, 'data', 'thesis-baroque', 'val.bin')) ? join(REPO_ROOT, 'data') : await buildThesisCorpora());
  const rows: ThesisRow[] = [];
  for (const [style, thesis] of Object.entries(THESIS_RESULTS)) {
    const modelDir = join(modelsDir, style);
    const valPath = join(data, `thesis-${style}`, 'val.bin');
    if (!existsSync(join(modelDir, 'config.json'))) {
      console.error(`maestro eval: no model for ${style} in ${modelsDir}; skipped`);
      continue;
    }
    if (!existsSync(valPath)) throw new Error(`missing ${valPath}: build it with "maestro dataset build --thesis"`);
    const model = loadModel(modelDir);
    const val = new Uint8Array(readFileSync(valPath));
    const fields = opts.byField ? streamFields(val) : undefined;
    const r = await evaluateInThreads(model, val, 128, { threads: opts.threads ?? 1, ...(fields ? { groupOf: fields } : {}) });
    model.dispose();
    const row: ThesisRow = { style, loss: r.loss, accuracy: r.accuracy, windows: r.windows, tokens: val.length, thesisLoss: thesis.loss, thesisAccuracy: thesis.accuracy };
    if (fields && r.groups) {
      const train = new Uint8Array(readFileSync(join(data, `thesis-${style}`, 'train.bin')));
      const trainFields = streamFields(train);
      const targets = r.windows * 128;
      row.byField = r.groups.flatMap((g, id) =>
        g.tokens ? [{ field: TOKEN_FIELDS[id], share: g.tokens / targets, loss: g.loss, accuracy: g.accuracy, unigramLoss: unigramLoss(train, trainFields, val, fields, id, targets) }] : [],
      );
    }
    rows.push(row);
  }
  return rows;
}

/**
 * Cross-entropy of val targets 1..targets in field `field` under that field's token frequencies in `train`
 * (add-one smoothed over the 128 ids): the loss of a model that knows the field but ignores all context.
 */
export function unigramLoss(train: Uint8Array, trainFields: Uint8Array, val: Uint8Array, valFields: Uint8Array, field: number, targets: number): number {
  const counts = new Float64Array(128).fill(1);
  for (let i = 0; i < train.length; i++) if (trainFields[i] === field) counts[train[i]]++;
  const total = counts.reduce((a, b) => a + b, 0);
  let sum = 0;
  let n = 0;
  for (let i = 1; i <= targets && i < val.length; i++) {
    if (valFields[i] !== field) continue;
    sum -= Math.log(counts[val[i]] / total);
    n++;
  }
  return n ? sum / n : NaN;
}

/** Build the thesis corpora from ../shared into a temporary directory (a fresh clone has no data/). */
async function buildThesisCorpora(): Promise<string> {
  const maestroDir = join(SHARED_DIR, 'datasets', 'maestro-thesis');
  if (!existsSync(maestroDir)) throw new Error(`no thesis data: ${maestroDir} does not exist (set MAESTRO_SHARED)`);
  const { buildDatasets } = await import('../../training/dataset/build.js');
  const out = mkdtempSync(join(tmpdir(), 'maestro-thesis-'));
  buildDatasets({ outDir: out, stylesFile: join(REPO_ROOT, 'training', 'styles.json'), maestroDir, thesis: true, log: () => {} });
  return out;
}

function roundField(f: FieldRow): FieldRow {
  const r = (x: number) => Math.round(x * 1e4) / 1e4;
  return { field: f.field, share: r(f.share), loss: r(f.loss), accuracy: r(f.accuracy), unigramLoss: r(f.unigramLoss) };
}

/** Per style and token field: the model's loss and accuracy next to the context-free unigram baseline. */
export function formatFieldTable(rows: ThesisRow[]): string {
  const lines = ['| style | field | share of targets | loss (ours) | unigram loss | accuracy (ours) |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    for (const f of r.byField ?? []) {
      lines.push(`| ${r.style} | ${f.field} | ${(100 * f.share).toFixed(1)} % | ${f.loss.toFixed(3)} | ${f.unigramLoss.toFixed(3)} | ${f.accuracy.toFixed(3)} |`);
    }
  }
  return lines.join('\n');
}

export function formatThesisTable(rows: ThesisRow[]): string {
  const lines = [
    '| style | val loss (ours) | val loss (thesis) | Δ loss | accuracy (ours) | accuracy (thesis) | windows |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const delta = r.loss - r.thesisLoss;
    lines.push(`| ${r.style} | ${r.loss.toFixed(3)} | ${r.thesisLoss.toFixed(3)} | ${delta >= 0 ? '+' : ''}${delta.toFixed(3)} ${delta <= 0 ? '✓' : '✗'} | ${r.accuracy.toFixed(3)} | ${r.thesisAccuracy.toFixed(3)} | ${r.windows} |`);
  }
  return lines.join('\n');
}
