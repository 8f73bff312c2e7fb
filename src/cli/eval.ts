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
import { loadMemory } from '../model/memory-store.js';
import { evaluateInThreads } from '../../training/eval-threads.js';
import { DEFAULT_MODELS_DIR, REPO_ROOT } from '../compose.js';
import { int, parse, UsageError } from './args.js';
import { streamFields, TOKEN_FIELDS, type TokenField } from '../music/tokenizer.js';
import type { Manifest } from '../../training/dataset/build.js';
import { pieceIdentity, samePiece } from '../../training/dataset/pieces.js';

/** The thesis' published validation numbers (UPM 2023, Tables 3.2–3.4). */
export const THESIS_RESULTS: Record<string, { loss: number; accuracy: number }> = {
  baroque: { loss: 1.49, accuracy: 0.532 },
  romantic: { loss: 1.41, accuracy: 0.562 },
  vanguard: { loss: 1.612, accuracy: 0.521 },
};

export const SHARED_DIR = process.env.MAESTRO_SHARED ?? resolve(REPO_ROOT, '../shared');

const HELP = `usage: maestro eval --thesis [--models DIR] [--data DIR] [--write-cards] [--by-field] [--by-piece] [--by-position] [--no-memory] [--threads N]
       maestro eval --report OUT_DIR [options of the music report]

  --thesis        validation loss/accuracy with the thesis protocol, per style, next to the thesis' numbers
  --models DIR    models directory (default ./models)
  --data DIR      built corpora (thesis-<style>/val.bin); built from ../shared into a temp dir if absent
  --write-cards   record the results in each model's card.json
  --by-field      also split loss and accuracy by token field (dt, dur, pitch, sep), next to a unigram baseline
  --by-piece      also split them by validation file, with how many tokens of the same piece the training part
                  holds (the thesis' split keeps other performances of validation pieces there)
  --by-position   also split them by the target's place in its window (how much context it had: 1-4, 5-16,
                  17-32, 33-64 or 65-128 tokens)
  --no-memory     the GPT alone, without the style memory (a model with a memory.json is evaluated as served:
                  GPT + memory, with the GPT alone beside it)
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
  /** When the style model has a memory: the GPT's own loss and accuracy (loss/accuracy are the served mix's). */
  gpt?: { loss: number; accuracy: number };
  /** With --by-field: per token field (dt, dur, pitch, sep), the model's loss and accuracy and a context-free baseline. */
  byField?: FieldRow[];
  /** With --by-piece: per file of the validation part. */
  byPiece?: PieceRow[];
  /** With --by-position: per span of places in the window. */
  byPosition?: PositionRow[];
}

/**
 * Where a target sits in its 128-token window, i.e. how many tokens of context it had. Every window starts from
 * nothing, so its first targets cost far more than the rest whatever the model.
 */
export interface PositionRow {
  /** Targets whose input position t (0-based; t + 1 tokens of context) is in [from, to). */
  from: number;
  to: number;
  /** Share of the validation targets here. */
  share: number;
  loss: number;
  accuracy: number;
}

/** The thesis protocol's window: 128 input tokens, each predicting the next. */
export const THESIS_WINDOW = 128;

/** The spans of `--by-position`, as input positions [from, to) in a THESIS_WINDOW-token window. */
export const POSITION_SPANS: readonly [number, number][] = [[0, 4], [4, 16], [16, 32], [32, 64], [64, THESIS_WINDOW]];

export interface PieceRow {
  id: string;
  title: string;
  /** Validation targets in this file. */
  tokens: number;
  loss: number;
  accuracy: number;
  /**
   * Tokens of the same piece in the style's training part: other performances, and this performance's own
   * opening when the 90 % cut falls inside it. The thesis' protocol allows both; they are what a model can
   * have memorised.
   */
  sameInTrain: number;
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
      'write-cards': { type: 'boolean' }, 'by-field': { type: 'boolean' }, 'by-piece': { type: 'boolean' }, 'by-position': { type: 'boolean' }, 'no-memory': { type: 'boolean' }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    }, false).values;
    threads = int(values.threads, 'threads', availableParallelism(), [1, 64])!;
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (!values.thesis) throw new UsageError('say what to evaluate: --thesis or --report DIR');
    // A table of nothing is not a result: a wrong --models must fail, not print an empty table and succeed.
    const modelsDir = values.models ?? DEFAULT_MODELS_DIR;
    if (!Object.keys(THESIS_RESULTS).some((style) => existsSync(join(modelsDir, style, 'config.json')))) {
      throw new UsageError(`${modelsDir} holds no style model to evaluate (looked for ${Object.keys(THESIS_RESULTS).map((s) => `${s}/config.json`).join(', ')})`);
    }
    const dataDir: string | undefined = values.data;
    const missing = dataDir ? Object.keys(THESIS_RESULTS).filter((style) => existsSync(join(modelsDir, style, 'config.json')) && !existsSync(join(dataDir, `thesis-${style}`, 'val.bin'))) : [];
    if (missing.length) throw new UsageError(`${dataDir} has no ${missing.map((s) => `thesis-${s}/val.bin`).join(', ')}: build them with "maestro dataset build --thesis --out ${dataDir}"`);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`maestro eval: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
  const rows = await evaluateThesis(values.models ?? DEFAULT_MODELS_DIR, values.data, { byField: values['by-field'], byPiece: values['by-piece'], byPosition: values['by-position'], memory: !values['no-memory'], threads });
  console.log(formatThesisTable(rows));
  if (values['by-field']) console.log(`\n${formatFieldTable(rows)}`);
  if (values['by-piece']) console.log(`\n${formatPieceTable(rows)}`);
  if (values['by-position']) console.log(`\n${formatPositionTable(rows)}`);
  if (values['write-cards']) {
    for (const r of rows) {
      const dir = join(values.models ?? DEFAULT_MODELS_DIR, r.style);
      const card = readCard(dir);
      if (!card) continue;
      card.metrics = { ...(card.metrics ?? {}), thesisProtocol: { valLoss: r.loss, valAccuracy: r.accuracy, windows: r.windows, tokens: r.tokens, thesisValLoss: r.thesisLoss, thesisValAccuracy: r.thesisAccuracy, ...(r.gpt ? { withMemory: true, gptValLoss: r.gpt.loss, gptValAccuracy: r.gpt.accuracy } : { withMemory: false }), ...(r.byField ? { byField: r.byField.map(roundField) } : {}), ...(r.byPiece ? { byPiece: r.byPiece.map(roundPiece) } : {}), ...(r.byPosition ? { byPosition: r.byPosition.map(roundPosition) } : {}) } };
      writeCard(dir, card);
    }
  }
  return 0;
}

export async function evaluateThesis(modelsDir: string, dataDir?: string, opts: { byField?: boolean; byPiece?: boolean; byPosition?: boolean; memory?: boolean; threads?: number } = {}): Promise<ThesisRow[]> {
  await initBackend();
  const data = dataDir ?? (existsSync(join(REPO_ROOT, 'data', 'thesis-baroque', 'val.bin')) ? join(REPO_ROOT, 'data') : await buildThesisCorpora());
  const rows: ThesisRow[] = [];
  for (const [style, thesis] of Object.entries(THESIS_RESULTS)) {
    const modelDir = join(modelsDir, style);
    const corpus = join(data, `thesis-${style}`);
    const valPath = join(corpus, 'val.bin');
    if (!existsSync(join(modelDir, 'config.json'))) {
      console.error(`maestro eval: no model for ${style} in ${modelsDir}; skipped`);
      continue;
    }
    if (!existsSync(valPath)) throw new Error(`missing ${valPath}: build it with "maestro dataset build --thesis"`);
    const model = loadModel(modelDir);
    const memory = opts.memory === false ? undefined : loadMemory(modelDir);
    const val = new Uint8Array(readFileSync(valPath));
    const fields = opts.byField ? streamFields(val) : undefined;
    const pieces = opts.byPiece ? validationPieces(JSON.parse(readFileSync(join(corpus, 'manifest.json'), 'utf8')) as Manifest, val.length) : undefined;
    // One pass over the windows, grouped by (piece, field, span of positions); each split sums over the other keys.
    const spanCount = opts.byPosition ? POSITION_SPANS.length : 1;
    const perField = spanCount;
    const perPiece = (fields ? TOKEN_FIELDS.length : 1) * perField;
    const pieceCount = pieces ? pieces.pieces.length : 1;
    if (pieceCount * perPiece > 256) throw new Error(`--by-piece with --by-field/--by-position: ${pieceCount} validation files are more than it can split`);
    // Stream position i is the target of input position (i - 1) mod THESIS_WINDOW of its window.
    const spanOf = (i: number) => (opts.byPosition ? POSITION_SPANS.findIndex(([from, to]) => (i - 1) % THESIS_WINDOW >= from && (i - 1) % THESIS_WINDOW < to) : 0);
    const groupOf = fields || pieces || opts.byPosition ? val.map((_, i) => (pieces ? pieces.groupOf[i] : 0) * perPiece + (fields ? fields[i] : 0) * perField + Math.max(0, spanOf(i))) : undefined;
    const r = await evaluateInThreads(model, val, THESIS_WINDOW, { threads: opts.threads ?? 1, ...(groupOf ? { groupOf } : {}), ...(memory ? { memory } : {}) });
    model.dispose();
    const row: ThesisRow = { style, loss: r.loss, accuracy: r.accuracy, windows: r.windows, tokens: val.length, thesisLoss: thesis.loss, thesisAccuracy: thesis.accuracy, ...(r.model ? { gpt: r.model } : {}) };
    const groups = r.groups ?? [];
    const pooled = (ids: number[]) => {
      let tokens = 0, loss = 0, correct = 0;
      for (const id of ids) {
        const g = groups[id];
        if (!g?.tokens) continue;
        tokens += g.tokens;
        loss += g.loss * g.tokens;
        correct += g.accuracy * g.tokens;
      }
      return { tokens, loss: loss / tokens, accuracy: correct / tokens };
    };
    const range = (n: number) => [...Array(n).keys()];
    const fieldCount = fields ? TOKEN_FIELDS.length : 1;
    // Every group id of piece p, field f (all spans when f is undefined, all fields when a span s is given).
    const ids = (p: number, f?: number, span?: number) =>
      (f === undefined ? range(fieldCount) : [f]).flatMap((fi) => (span === undefined ? range(spanCount) : [span]).map((si) => p * perPiece + fi * perField + si));
    if (fields) {
      const train = new Uint8Array(readFileSync(join(corpus, 'train.bin')));
      const trainFields = streamFields(train);
      const targets = r.windows * THESIS_WINDOW;
      row.byField = TOKEN_FIELDS.flatMap((field, id) => {
        const g = pooled(range(pieceCount).flatMap((p) => ids(p, id)));
        return g.tokens ? [{ field, share: g.tokens / targets, loss: g.loss, accuracy: g.accuracy, unigramLoss: unigramLoss(train, trainFields, val, fields, id, targets) }] : [];
      });
    }
    if (pieces) {
      row.byPiece = pieces.pieces.flatMap((piece, p) => {
        const g = pooled(ids(p));
        return g.tokens ? [{ ...piece, tokens: g.tokens, loss: g.loss, accuracy: g.accuracy }] : [];
      });
    }
    if (opts.byPosition) {
      row.byPosition = POSITION_SPANS.flatMap(([from, to], s) => {
        const g = pooled(range(pieceCount).flatMap((p) => range(fieldCount).flatMap((f) => ids(p, f, s))));
        return g.tokens ? [{ from, to, share: g.tokens / (r.windows * THESIS_WINDOW), loss: g.loss, accuracy: g.accuracy }] : [];
      });
    }
    rows.push(row);
  }
  return rows;
}

/**
 * The files of a thesis corpus' validation part, in stream order: which file each val.bin position belongs
 * to, and how many tokens of the same piece (pieces.ts' samePiece) the training part holds.
 */
export function validationPieces(manifest: Manifest, valLength: number): { groupOf: Uint8Array; pieces: Omit<PieceRow, 'tokens' | 'loss' | 'accuracy'>[] } {
  const trainTokens = manifest.train.tokens;
  const inVal = manifest.files.filter((f) => f.streamRange[1] > trainTokens);
  if (inVal.length > 255 / TOKEN_FIELDS.length) throw new Error(`--by-piece: ${inVal.length} validation files are more than it can split`);
  const trainPart = (f: Manifest['files'][number]) => Math.max(0, Math.min(f.streamRange[1], trainTokens) - f.streamRange[0]);
  const identity = (f: Manifest['files'][number]) => pieceIdentity(f.composer, f.title);
  const groupOf = new Uint8Array(valLength);
  const pieces = inVal.map((f, i) => {
    groupOf.fill(i, Math.max(0, f.streamRange[0] - trainTokens), Math.min(valLength, f.streamRange[1] - trainTokens));
    const piece = identity(f);
    const sameInTrain = manifest.files.filter((g) => trainPart(g) > 0 && (g === f || samePiece(identity(g), piece))).reduce((n, g) => n + trainPart(g), 0);
    return { id: f.id, title: f.title, sameInTrain };
  });
  return { groupOf, pieces };
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

/** Four decimals: what the model cards record. */
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

function roundField(f: FieldRow): FieldRow {
  return { field: f.field, share: round4(f.share), loss: round4(f.loss), accuracy: round4(f.accuracy), unigramLoss: round4(f.unigramLoss) };
}

function roundPiece(p: PieceRow): PieceRow {
  return { ...p, loss: round4(p.loss), accuracy: round4(p.accuracy) };
}

function roundPosition(p: PositionRow): PositionRow {
  return { ...p, share: round4(p.share), loss: round4(p.loss), accuracy: round4(p.accuracy) };
}

/** Per style and span of window positions: loss and accuracy by how much context the targets had. */
export function formatPositionTable(rows: ThesisRow[]): string {
  const lines = ['| style | context (tokens) | share of targets | loss (ours) | accuracy (ours) |', '|---|---|---|---|---|'];
  for (const r of rows) {
    for (const p of r.byPosition ?? []) lines.push(`| ${r.style} | ${p.from + 1}–${p.to} | ${(100 * p.share).toFixed(1)} % | ${p.loss.toFixed(3)} | ${p.accuracy.toFixed(3)} |`);
  }
  return lines.join('\n');
}

/**
 * Per style and validation file: loss beside how much of the same piece the model trained on, and the
 * loss over the files with and without such a piece.
 */
export function formatPieceTable(rows: ThesisRow[]): string {
  const lines = ['| style | validation file | targets | same piece in training (tokens) | loss (ours) | accuracy (ours) |', '|---|---|---|---|---|---|'];
  const summary: string[] = [];
  for (const r of rows) {
    for (const p of r.byPiece ?? []) {
      lines.push(`| ${r.style} | ${p.title} | ${p.tokens} | ${p.sameInTrain} | ${p.loss.toFixed(3)} | ${p.accuracy.toFixed(3)} |`);
    }
    const part = (seen: boolean) => {
      const ps = (r.byPiece ?? []).filter((p) => (p.sameInTrain > 0) === seen);
      const tokens = ps.reduce((n, p) => n + p.tokens, 0);
      return tokens ? `${tokens} targets, loss ${(ps.reduce((a, p) => a + p.loss * p.tokens, 0) / tokens).toFixed(3)}` : 'none';
    };
    if (r.byPiece) summary.push(`${r.style}: pieces also in training: ${part(true)}; pieces not in training: ${part(false)}`);
  }
  return [...lines, '', ...summary].join('\n');
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
  // With a memory, "ours" is the served model (GPT + memory) and the GPT alone stands beside it.
  const gpt = rows.some((r) => r.gpt);
  const lines = [
    `| style | val loss (ours) |${gpt ? ' GPT alone |' : ''} val loss (thesis) | Δ loss | accuracy (ours) |${gpt ? ' GPT alone |' : ''} accuracy (thesis) | windows |`,
    `|---|---|${gpt ? '---|' : ''}---|---|---|${gpt ? '---|' : ''}---|---|`,
  ];
  const alone = (r: ThesisRow, x: 'loss' | 'accuracy') => (gpt ? ` ${r.gpt ? r.gpt[x].toFixed(3) : '—'} |` : '');
  for (const r of rows) {
    const delta = r.loss - r.thesisLoss;
    lines.push(`| ${r.style} | ${r.loss.toFixed(3)} |${alone(r, 'loss')} ${r.thesisLoss.toFixed(3)} | ${delta >= 0 ? '+' : ''}${delta.toFixed(3)} ${delta <= 0 ? '✓' : '✗'} | ${r.accuracy.toFixed(3)} |${alone(r, 'accuracy')} ${r.thesisAccuracy.toFixed(3)} | ${r.windows} |`);
  }
  return lines.join('\n');
}
