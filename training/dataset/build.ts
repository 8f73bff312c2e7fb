/**
 * Tokenized training corpora: per-style fine-tuning sets and a pre-training set.
 *
 * Output layout (one folder per corpus under `--out`):
 *   <out>/<corpus>/train.bin      token ids, one byte each (vocabulary 128 fits a byte), no header
 *   <out>/<corpus>/val.bin        same format
 *   <out>/<corpus>/manifest.json  what went in: files, hours, notes, tokens, which files are
 *                                 validation, content hashes, what was excluded and why
 * Corpora: with `--thesis`: `thesis-<style>` (the thesis' 150 MAESTRO files), `pretrain-thesis`, and
 * `thesis-<style>-plus` (the thesis corpus with the composer's other pre-training performances added to its
 * training stream); a style the thesis does not have, added to styles.json, gets a by-piece `<style>` corpus.
 * Otherwise: `<style>` (selected by styles.json) and `pretrain`.
 *
 * A file's token stream is `gigaTokenizer.encode(file)`: `[127, dt, dur, pitch]…` ending with a lone
 * 127. Streams are concatenated as they are, so a piece boundary reads `…pitch, 127, 127, 0, …`.
 *
 * Validation is always held out by piece:
 *  - thesis protocol: each style's files are concatenated in `zip_order` and the last 10 % of the
 *    token stream is validation (exactly as the thesis); every file contributing a token to that
 *    tail is a *validation file* (the one straddling the cut also has its head in train.bin, as in
 *    the thesis);
 *  - otherwise: files are grouped into pieces (see pieces.ts) and whole pieces are drawn for
 *    validation with the style's seed.
 * The pre-training corpus (all piano data: MAESTRO files present, every catalog row) excludes, for
 * every style's validation files: the same file, the same MAESTRO performance reached through another
 * source (ASAP `maestro_midi_performance` / index.csv `maestro_midi_filename`, excerpts included), the
 * same content (token hash), and other performances of the same piece (catalogue-number matching).
 *
 * Same inputs ⇒ byte-identical outputs: ids are machine-independent, everything is sorted or seeded,
 * manifests carry no timestamps, and files are written to a temp name and renamed.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MidiInputError, readMidi } from '../../src/music/midi.js';
import { durationSec } from '../../src/music/note-sequence.js';
import { gigaTokenizer } from '../../src/music/tokenizer.js';
import { pieceIdentity, samePiece } from './pieces.js';
import type { PieceIdentity } from './pieces.js';
import { loadCatalog, loadMaestro, loadThesisSelection } from './sources.js';
import type { SourceFile, ThesisEntry } from './sources.js';
import { loadStyles } from './styles.js';
import { mulberry32 } from '../../src/util/rng.js';
import type { StyleDefinition } from './styles.js';
import { sha256 } from '../../src/util/sha256.js';

export const SHARD_FORMAT = 'maestro-token-shard/1';

export interface BuildOptions {
  outDir: string;
  stylesFile: string;
  maestroDir?: string;
  catalogCsv?: string;
  thesis?: boolean;
  /** Files with fewer notes are dropped (not in thesis style corpora, which are reproduced as is). */
  minNotes?: number;
  /** Share of pre-training pieces held out as the pre-training validation set. */
  pretrainValidationFraction?: number;
  pretrainSeed?: number;
  /**
   * Files the served base never trained on (its own validation files: whole pieces). A style the thesis does not have
   * holds its validation pieces out among these when it has any, so that its fine-tunes of that base are measured on
   * music the base has not heard: any other piece of it, the base was pre-trained on.
   */
  unheardByBase?: readonly string[];
  /** Progress and warnings (stderr in the CLI). */
  log?: (line: string) => void;
}

interface EncodedFile extends SourceFile {
  tokens: Uint8Array;
  notes: number;
  seconds: number;
  fileSha256: string;
  contentSha256: string;
  piece: PieceIdentity;
}

export interface ManifestFile {
  id: string;
  source: string;
  composer: string;
  title: string;
  maestroFile?: string;
  split: 'train' | 'val' | 'train+val';
  /** [start, end) of the file's tokens in the concatenated stream of its split(s) (train then val). */
  streamRange: [number, number];
  tokens: number;
  notes: number;
  seconds: number;
  fileSha256: string;
  contentSha256: string;
}

export interface ManifestExclusion {
  id: string;
  reason: string;
}

export interface SplitSummary {
  file: string;
  tokens: number;
  notes: number;
  hours: number;
  sha256: string;
}

export interface Manifest {
  format: string;
  corpus: string;
  protocol: string;
  tokenizer: { name: string; vocabSize: number };
  settings: Record<string, unknown>;
  train: SplitSummary;
  val: SplitSummary;
  files: ManifestFile[];
  validationFiles: string[];
  excluded: ManifestExclusion[];
  skipped: { missing: number; broken: ManifestExclusion[]; tooFewNotes: string[]; duplicates: ManifestExclusion[] };
  notes?: string[];
}

export interface BuildResult {
  corpora: { name: string; dir: string; manifest: Manifest }[];
}

const DATASET_LIMITS = {
  maxBytes: 64 * 1024 * 1024,
  maxTracks: 4096,
  maxEvents: 50_000_000,
  maxNotes: 10_000_000,
  maxSeconds: 24 * 3600,
  minBpm: 1,
  maxBpm: 100_000,
};

function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const rand = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Reads and tokenizes each file once; broken files are remembered with their reason. */
class Encoder {
  private cache = new Map<string, EncodedFile | null>();
  readonly broken = new Map<string, string>();
  private done = 0;
  constructor(private readonly log: (line: string) => void) {}

  encode(file: SourceFile): EncodedFile | null {
    const hit = this.cache.get(file.id);
    if (hit !== undefined) return hit;
    let result: EncodedFile | null = null;
    try {
      const bytes = readFileSync(file.absPath);
      const seq = readMidi(bytes, DATASET_LIMITS);
      const tokens = Uint8Array.from(gigaTokenizer.encode(seq));
      result = {
        ...file,
        tokens,
        notes: seq.notes.length,
        seconds: Math.round(durationSec(seq) * 1000) / 1000,
        fileSha256: sha256(bytes),
        contentSha256: sha256(tokens),
        piece: pieceIdentity(file.composer, file.title),
      };
    } catch (e) {
      const reason = e instanceof MidiInputError ? `${e.code}: ${e.message}` : `unreadable: ${(e as Error).message}`;
      this.broken.set(file.id, reason);
      this.log(`warning: skipping ${file.id} (${reason})`);
    }
    this.cache.set(file.id, result);
    this.done += 1;
    if (this.done % 100 === 0) this.log(`… tokenized ${this.done} files`);
    return result;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function writeAtomic(file: string, data: Uint8Array | string) {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/** Load a token shard (train.bin / val.bin) and check every id is inside the 128-token vocabulary. */
export function loadTokenShard(file: string, vocabSize = 128): Uint8Array {
  const buf = readFileSync(file);
  const tokens = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i]! >= vocabSize) throw new Error(`${file}: token ${tokens[i]} at ${i} is outside the vocabulary (${vocabSize})`);
  }
  return tokens;
}

interface SplitPlan {
  train: Uint8Array;
  val: Uint8Array;
  files: ManifestFile[];
  validationIds: Set<string>;
}

/** Whole files to train or val (split by piece). Train files first, then val, each in the given order. */
function planByFiles(trainFiles: EncodedFile[], valFiles: EncodedFile[]): SplitPlan {
  const files: ManifestFile[] = [];
  let at = 0;
  const entry = (f: EncodedFile, split: 'train' | 'val'): ManifestFile => {
    const m = manifestEntry(f, split, [at, at + f.tokens.length]);
    at += f.tokens.length;
    return m;
  };
  for (const f of trainFiles) files.push(entry(f, 'train'));
  for (const f of valFiles) files.push(entry(f, 'val'));
  return {
    train: concat(trainFiles.map((f) => f.tokens)),
    val: concat(valFiles.map((f) => f.tokens)),
    files,
    validationIds: new Set(valFiles.map((f) => f.id)),
  };
}

/** Thesis protocol: one stream, the last `fraction` of its tokens is validation. */
function planByStreamTail(ordered: EncodedFile[], fraction: number): SplitPlan {
  const stream = concat(ordered.map((f) => f.tokens));
  const cut = Math.floor(stream.length * (1 - fraction));
  const files: ManifestFile[] = [];
  const validationIds = new Set<string>();
  let at = 0;
  for (const f of ordered) {
    const start = at;
    const end = at + f.tokens.length;
    at = end;
    const split = end <= cut ? 'train' : start >= cut ? 'val' : 'train+val';
    if (split !== 'train') validationIds.add(f.id);
    files.push(manifestEntry(f, split, [start, end]));
  }
  return { train: stream.slice(0, cut), val: stream.slice(cut), files, validationIds };
}

function manifestEntry(f: EncodedFile, split: ManifestFile['split'], streamRange: [number, number]): ManifestFile {
  return {
    id: f.id,
    source: f.source,
    composer: f.composer,
    title: f.title,
    ...(f.maestroFile ? { maestroFile: f.maestroFile } : {}),
    split,
    streamRange,
    tokens: f.tokens.length,
    notes: f.notes,
    seconds: f.seconds,
    fileSha256: f.fileSha256,
    contentSha256: f.contentSha256,
  };
}

function summary(file: string, tokens: Uint8Array, plan: SplitPlan, split: 'train' | 'val', all: Map<string, EncodedFile>): SplitSummary {
  // Notes and hours of a file straddling the thesis cut are shared in proportion to its tokens.
  let notes = 0;
  let seconds = 0;
  const [lo, hi] = split === 'train' ? [0, plan.train.length] : [plan.train.length, plan.train.length + plan.val.length];
  for (const m of plan.files) {
    const overlap = Math.max(0, Math.min(hi, m.streamRange[1]) - Math.max(lo, m.streamRange[0]));
    if (overlap === 0) continue;
    const share = overlap / m.tokens;
    notes += share === 1 ? m.notes : Math.round(m.notes * share);
    seconds += (all.get(m.id)?.seconds ?? 0) * share;
  }
  return { file, tokens: tokens.length, notes, hours: Math.round((seconds / 3600) * 1000) / 1000, sha256: sha256(tokens) };
}

function writeCorpus(
  outDir: string,
  name: string,
  protocol: string,
  plan: SplitPlan,
  all: Map<string, EncodedFile>,
  extra: Pick<Manifest, 'settings' | 'excluded' | 'skipped'> & { notes?: string[] },
): { name: string; dir: string; manifest: Manifest } {
  const dir = path.join(outDir, name);
  mkdirSync(dir, { recursive: true });
  writeAtomic(path.join(dir, 'train.bin'), plan.train);
  writeAtomic(path.join(dir, 'val.bin'), plan.val);
  const manifest: Manifest = {
    format: SHARD_FORMAT,
    corpus: name,
    protocol,
    tokenizer: { name: gigaTokenizer.name, vocabSize: gigaTokenizer.vocabSize },
    settings: extra.settings,
    train: summary('train.bin', plan.train, plan, 'train', all),
    val: summary('val.bin', plan.val, plan, 'val', all),
    files: plan.files,
    validationFiles: [...plan.validationIds].sort(),
    excluded: [...extra.excluded].sort(byId),
    skipped: extra.skipped,
    ...(extra.notes ? { notes: extra.notes } : {}),
  };
  writeAtomic(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return { name, dir, manifest };
}

/** Union-find over "same piece" so a piece's performances always land on one side of a split. */
function groupByPiece(files: EncodedFile[]): EncodedFile[][] {
  const parent = files.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  for (let i = 0; i < files.length; i++) {
    for (let j = i + 1; j < files.length; j++) {
      if (samePiece(files[i]!.piece, files[j]!.piece) || files[i]!.contentSha256 === files[j]!.contentSha256) {
        parent[find(i)] = find(j);
      }
    }
  }
  const groups = new Map<number, EncodedFile[]>();
  files.forEach((f, i) => {
    const root = find(i);
    const g = groups.get(root);
    if (g) g.push(f);
    else groups.set(root, [f]);
  });
  // Deterministic order of groups: by their smallest id.
  return [...groups.values()].map((g) => g.sort(byId)).sort((a, b) => byId(a[0]!, b[0]!));
}

/**
 * Draw whole pieces for validation (in seeded order) until `fraction` of the files are held out.
 * Pieces that would overshoot the target are passed over, so one piece with many performances
 * cannot swallow the validation set; if every piece is too big, the smallest one is used.
 */
function splitByPiece(files: EncodedFile[], fraction: number, seed: number, eligible: (f: EncodedFile) => boolean = () => true): { train: EncodedFile[]; val: EncodedFile[] } {
  const groups = seededShuffle(groupByPiece(files), seed);
  if (groups.length < 2) return { train: groups.flat(), val: [] };
  const target = Math.max(1, Math.round(files.length * fraction));
  // Only whole pieces all of whose files are eligible may be held out (if none are, any may).
  const candidates = groups.some((g) => g.every(eligible)) ? groups.filter((g) => g.every(eligible)) : groups;
  const valGroups = new Set<EncodedFile[]>();
  let held = 0;
  for (const g of candidates) {
    if (held >= target) break;
    if (held + g.length > target) continue;
    valGroups.add(g);
    held += g.length;
  }
  if (valGroups.size === 0) valGroups.add(candidates.reduce((a, b) => (b.length < a.length ? b : a)));
  return { train: groups.filter((g) => !valGroups.has(g)).flat(), val: groups.filter((g) => valGroups.has(g)).flat() };
}

interface HeldOut {
  file: EncodedFile;
  style: string;
  /** Catalogue identities learnt for a validation file whose own title has none (see addAliases). */
  aliases: PieceIdentity[];
}

/**
 * A validation title without catalogue number ("Sonata No. 2 in B-flat Minor") is matched by words;
 * the files it matches that do carry numbers ("…, Op. 36 (1913)") tell us its catalogue identity,
 * so other performances titled only "Sonata Op. 36" are caught too. One step only, no chains.
 */
function addAliases(heldOut: HeldOut[], pool: readonly EncodedFile[]) {
  for (const h of heldOut) {
    if (h.file.piece.catalogued) continue;
    for (const f of pool) if (f.piece.catalogued && samePiece(h.file.piece, f.piece)) h.aliases.push(f.piece);
  }
}

/** Why a pre-training candidate must stay out, or undefined if it may be used. */
function exclusionReason(candidate: EncodedFile, heldOut: readonly HeldOut[]): string | undefined {
  for (const { file: v, style } of heldOut) {
    if (candidate.id === v.id) return `${style} validation file`;
    if (candidate.maestroFile && v.maestroFile && candidate.maestroFile === v.maestroFile) {
      return `same MAESTRO performance as ${style} validation file ${v.id}${candidate.excerptOfMaestro ? ' (excerpt)' : ''}`;
    }
    if (candidate.contentSha256 === v.contentSha256) return `same content as ${style} validation file ${v.id}`;
    if (samePiece(candidate.piece, v.piece)) return `same piece as ${style} validation file ${v.id} ("${v.title}")`;
  }
  for (const { file: v, style, aliases } of heldOut) {
    const via = aliases.find((a) => samePiece(candidate.piece, a));
    if (via) return `same piece as ${style} validation file ${v.id} ("${v.title}", identified as ${[...via.keys, ...via.wholeWorks].join(' ')})`;
  }
  return undefined;
}

function encodeAll(files: readonly SourceFile[], encoder: Encoder): EncodedFile[] {
  return files.map((f) => encoder.encode(f)).filter((f): f is EncodedFile => f !== null);
}

export function buildDatasets(opts: BuildOptions): BuildResult {
  const log = opts.log ?? (() => {});
  const styles = loadStyles(opts.stylesFile);
  const minNotes = opts.minNotes ?? 50;
  const encoder = new Encoder(log);
  const corpora: BuildResult['corpora'] = [];

  let maestro: SourceFile[] = [];
  let maestroMissing = 0;
  if (opts.maestroDir) {
    const loaded = loadMaestro(opts.maestroDir);
    maestro = loaded.files.sort(byId);
    maestroMissing = loaded.missing;
    if (loaded.missing > 0) {
      log(`warning: ${loaded.missing} of ${loaded.missing + loaded.files.length} MAESTRO rows have no MIDI file in ${opts.maestroDir}; skipped`);
    }
  }
  let catalog: SourceFile[] = [];
  let catalogMissing = 0;
  if (opts.catalogCsv) {
    const loaded = loadCatalog(opts.catalogCsv);
    catalog = loaded.files.sort(byId);
    catalogMissing = loaded.missing;
    if (loaded.missing > 0) log(`warning: ${loaded.missing} catalog rows of ${opts.catalogCsv} have no MIDI file; skipped`);
  }
  if (!opts.maestroDir && !opts.catalogCsv) throw new Error('nothing to build from: give a MAESTRO folder and/or a catalog csv');

  const unheardByBase = new Set(opts.unheardByBase ?? []);
  const heldOut: HeldOut[] = [];
  const allEncoded = new Map<string, EncodedFile>();
  const remember = (fs: EncodedFile[]) => fs.forEach((f) => allEncoded.set(f.id, f));
  const brokenOf = (ids: readonly string[]): ManifestExclusion[] =>
    ids.filter((id) => encoder.broken.has(id)).map((id) => ({ id, reason: encoder.broken.get(id)! })).sort(byId);

  /** A style's pieces drawn from its composers (styles.json), whole pieces held out for validation. */
  const buildByPiece = (style: (typeof styles)[number]) => {
    const composers = new Set(style.composers);
    const catalogComposers = new Set(style.catalogComposers);
    const fromMaestro = maestro.filter((f) => composers.has(f.composer));
    const maestroFiles = new Set(fromMaestro.map((f) => f.maestroFile));
    // An ASAP copy of a MAESTRO performance we already have adds nothing.
    const duplicates: ManifestExclusion[] = [];
    const fromCatalog = catalog.filter((f) => {
      if (!catalogComposers.has(f.composer)) return false;
      if (f.maestroFile && maestroFiles.has(f.maestroFile)) {
        duplicates.push({ id: f.id, reason: `copy of maestro:${f.maestroFile}` });
        return false;
      }
      return true;
    });
    log(`${style.name}: tokenizing ${fromMaestro.length + fromCatalog.length} candidate files`);
    if (fromMaestro.length + fromCatalog.length === 0) {
      log(`warning: ${style.name}: no file by its composers (${style.composers.join(', ')}; in the catalogue: ${style.catalogComposers.join(', ')}): its corpus is empty — check the spellings against MAESTRO's canonical_composer and the catalogue's composer column`);
    }
    const candidates = encodeAll([...fromMaestro, ...fromCatalog], encoder);
    const seen = new Map<string, string>();
    const tooFew: string[] = [];
    const usable = candidates.filter((f) => {
      if (f.notes < minNotes) {
        tooFew.push(f.id);
        return false;
      }
      const dup = seen.get(f.contentSha256);
      if (dup) {
        duplicates.push({ id: f.id, reason: `same content as ${dup}` });
        return false;
      }
      seen.set(f.contentSha256, f.id);
      return true;
    });
    // The base's unheard files of these composers always come in (they are the only honest validation pieces); the
    // rest of the selection is drawn by seed as before.
    const unheard = usable.filter((f) => unheardByBase.has(f.id));
    const drawn = seededShuffle(unheard.length ? usable.filter((f) => !unheardByBase.has(f.id)) : usable, style.seed);
    const chosen = [...unheard, ...drawn].slice(0, Math.max(style.piecesPerStyle, unheard.length));
    if (unheard.length) log(`${style.name}: validation pieces drawn among the ${unheard.length} files of its composers the served base never trained on`);
    remember(chosen);
    const { train, val } = splitByPiece(chosen, style.validationFraction, style.seed, (f) => unheard.length === 0 || unheardByBase.has(f.id));
    for (const f of val) heldOut.push({ file: f, style: style.name, aliases: [] });
    const plan = planByFiles(train, val);
    corpora.push(
      writeCorpus(opts.outDir, style.name, `by piece: ${style.piecesPerStyle} files drawn with seed ${style.seed}; whole pieces held out`, plan, allEncoded, {
        settings: {
          style: style.name,
          label: style.label,
          composers: style.composers,
          catalogComposers: style.catalogComposers,
          piecesPerStyle: style.piecesPerStyle,
          seed: style.seed,
          validationFraction: style.validationFraction,
          minNotes,
          ...(unheard.length ? { validationFrom: `pieces the served base never trained on (${unheard.length} of its validation files)` } : {}),
        },
        excluded: [],
        skipped: {
          missing: maestroMissing + catalogMissing,
          broken: brokenOf([...fromMaestro, ...fromCatalog].map((f) => f.id)),
          tooFewNotes: tooFew.sort(),
          duplicates: duplicates.sort(byId),
        },
      }),
    );
  };

  /** Each thesis style's split, for its `-plus` corpus. */
  const thesisPlans = new Map<string, SplitPlan>();
  if (opts.thesis) {
    if (!opts.maestroDir) throw new Error('--thesis needs the MAESTRO folder holding thesis-selection.csv');
    const selection = loadThesisSelection(opts.maestroDir);
    if (selection.missing > 0) log(`warning: ${selection.missing} thesis files are missing; the thesis corpora will not be exact`);
    for (const style of styles) {
      const entries: ThesisEntry[] = selection.files.filter((e) => e.style === style.name);
      if (entries.length === 0) {
        // A style an admin added to styles.json: not in the thesis, so it is selected the by-piece way.
        log(`${style.name}: not in thesis-selection.csv; selecting its pieces by composer from the styles config`);
        buildByPiece(style);
        continue;
      }
      log(`thesis-${style.name}: tokenizing ${entries.length} files in zip order`);
      const encoded = encodeAll(entries, encoder);
      remember(encoded);
      const plan = planByStreamTail(encoded, style.validationFraction);
      thesisPlans.set(style.name, plan);
      for (const f of encoded) if (plan.validationIds.has(f.id)) heldOut.push({ file: f, style: style.name, aliases: [] });
      const same = encoded.filter((f) => !plan.validationIds.has(f.id) && encoded.some((v) => plan.validationIds.has(v.id) && samePiece(f.piece, v.piece)));
      corpora.push(
        writeCorpus(opts.outDir, `thesis-${style.name}`, 'thesis: files concatenated in zip_order; validation = last 10% of the token stream', plan, allEncoded, {
          settings: { style: style.name, label: style.label, validationFraction: style.validationFraction, files: entries.length },
          excluded: [],
          skipped: { missing: selection.missing, broken: brokenOf(entries.map((e) => e.id)), tooFewNotes: [], duplicates: [] },
          notes: [
            'Reproduces the thesis exactly, including its leak: other performances of validation pieces remain in train.bin.',
            ...same.map((f) => `same piece as a validation file, kept in train as the thesis did: ${f.id} ("${f.title}")`),
          ],
        }),
      );
    }
  } else {
    for (const style of styles) buildByPiece(style);
  }

  /**
   * `thesis-<style>-plus`: the thesis style corpus with, in front of its training stream, every other performance by
   * the style's composers that pre-training trains on (so no validation piece of any style, by the same rules). Its
   * validation stream is the thesis one, byte for byte, so models fine-tuned on it are measured exactly as the thesis'.
   */
  const addComposerCorpus = (style: (typeof styles)[number], pretrainTrain: readonly EncodedFile[]) => {
    const thesisPlan = thesisPlans.get(style.name);
    const thesis = corpora.find((c) => c.name === `thesis-${style.name}`);
    if (!thesisPlan || !thesis) return;
    const thesisIds = new Set(thesisPlan.files.map((f) => f.id));
    const composers = new Set([...style.composers, ...style.catalogComposers]);
    const added = pretrainTrain.filter((f) => composers.has(f.composer) && !thesisIds.has(f.id));
    const prefix = planByFiles(added, []);
    const addedTokens = prefix.train.length;
    const plan: SplitPlan = {
      train: concat([prefix.train, thesisPlan.train]),
      val: thesisPlan.val,
      files: [...prefix.files, ...thesisPlan.files.map((f): ManifestFile => ({ ...f, streamRange: [f.streamRange[0] + addedTokens, f.streamRange[1] + addedTokens] }))],
      validationIds: thesisPlan.validationIds,
    };
    corpora.push(
      writeCorpus(opts.outDir, `thesis-${style.name}-plus`, `thesis-${style.name} with every other performance by its composers that pre-training trains on in front of its training stream; validation = thesis-${style.name}'s`, plan, allEncoded, {
        settings: { ...thesis.manifest.settings, extends: `thesis-${style.name}`, composers: [...composers].sort(), addedFiles: added.length, addedTokens },
        excluded: [],
        skipped: thesis.manifest.skipped,
        notes: thesis.manifest.notes,
      }),
    );
  };

  // Pre-training: all piano data minus every style's validation pieces.
  log(`pretrain: tokenizing ${maestro.length + catalog.length} files`);
  const pool = encodeAll([...maestro, ...catalog], encoder);
  addAliases(heldOut, pool);
  const excluded: ManifestExclusion[] = [];
  const duplicates: ManifestExclusion[] = [];
  const tooFew: string[] = [];
  const pooledMaestro = new Set(pool.filter((f) => f.source === 'maestro').map((f) => f.maestroFile));
  const seen = new Map<string, string>();
  const kept: EncodedFile[] = [];
  for (const f of pool) {
    const reason = exclusionReason(f, heldOut);
    if (reason) {
      excluded.push({ id: f.id, reason });
      continue;
    }
    if (f.source !== 'maestro' && f.maestroFile && pooledMaestro.has(f.maestroFile)) {
      duplicates.push({ id: f.id, reason: `copy of maestro:${f.maestroFile}` });
      continue;
    }
    if (f.notes < minNotes) {
      tooFew.push(f.id);
      continue;
    }
    const dup = seen.get(f.contentSha256);
    if (dup) {
      duplicates.push({ id: f.id, reason: `same content as ${dup}` });
      continue;
    }
    seen.set(f.contentSha256, f.id);
    kept.push(f);
  }
  remember(kept);
  const pretrainSeed = opts.pretrainSeed ?? 1;
  const pretrainFraction = opts.pretrainValidationFraction ?? 0.02;
  const { train, val } = splitByPiece(kept, pretrainFraction, pretrainSeed);
  const plan = planByFiles(train, val);
  const name = opts.thesis ? 'pretrain-thesis' : 'pretrain';
  corpora.push(
    writeCorpus(
      opts.outDir,
      name,
      'all piano data except every style validation piece (same file, same MAESTRO performance via any source, same content, same piece by catalogue number); its own validation = whole pieces drawn by seed',
      plan,
      allEncoded,
      {
        settings: {
          heldOutFrom: opts.thesis ? 'thesis style corpora' : 'style corpora',
          heldOutFiles: heldOut.map((h) => h.file.id).sort(),
          seed: pretrainSeed,
          validationFraction: pretrainFraction,
          minNotes,
        },
        excluded,
        skipped: {
          missing: maestroMissing + catalogMissing,
          broken: brokenOf([...maestro, ...catalog].map((f) => f.id)),
          tooFewNotes: tooFew.sort(),
          duplicates: duplicates.sort(byId),
        },
      },
    ),
  );
  if (opts.thesis) {
    // In the pool's order (sorted by id), as the pre-training split found them.
    const inTrain = new Set(train);
    const pretrainTrain = kept.filter((f) => inTrain.has(f));
    for (const style of styles) addComposerCorpus(style, pretrainTrain);
  }
  for (const c of corpora) {
    log(`${c.name}: train ${c.manifest.train.tokens} tokens (${c.manifest.train.hours} h), val ${c.manifest.val.tokens} tokens (${c.manifest.val.hours} h) → ${c.dir}`);
  }
  return { corpora };
}

export type { StyleDefinition };
