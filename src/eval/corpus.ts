/**
 * The real performances the evaluation learns from and compares against, read from `../shared/datasets`.
 *
 * Roles (thesis protocol): each style model is fine-tuned on its 50 files of `maestro-thesis/thesis-selection.csv`
 * concatenated in `zip_order`; its validation data is the last 10 % of that token stream. Every file that has any
 * token in that last 10 % is a *validation file*, and its piece (all performances of it, in any dataset, see
 * pieces.ts) is a *validation piece*: never used to train the style classifier, and used as the "real held-out"
 * reference of the distribution distances. The other thesis files form the style's training stream, which the
 * memorisation check searches.
 *
 * When the dataset builder's manifests are there (`data/<style>/manifest.json` for the by-piece corpora,
 * `data/thesis-<style>/manifest.json` for the thesis protocol; `maestro dataset build`), their validation files
 * are validation files too and their training files join the style's training stream: the shipped models may
 * have been fine-tuned on either corpus, so both are held out and both are searched for copies.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readMidi } from '../music/midi.js';
import { gigaTokenizer } from '../music/tokenizer.js';
import type { NoteSequence } from '../music/note-sequence.js';
import { groupPieces, STYLES, type Style } from './pieces.js';

/** Generous limits: MAESTRO performances run up to ~30 minutes and 30k notes. */
const CORPUS_MIDI_LIMITS = { maxBytes: 16 * 1024 * 1024, maxNotes: 200_000, maxEvents: 2_000_000, maxSeconds: 7200, minBpm: 1, maxBpm: 100_000 };
export const VALIDATION_FRACTION = 0.1;

export interface CorpusEntry {
  /** Path relative to shared/datasets. */
  relPath: string;
  source: 'maestro-thesis' | 'asap' | 'piano-midi-de';
  composer: string;
  title: string;
  style: Style;
  /** Position in the thesis' zip for this style (thesis files only). */
  zipOrder?: number;
  pieceId: string;
  role: 'style-train' | 'style-validation' | 'validation-piece' | 'other';
}

/**
 * A style's recorded performances in the catalogue (the thesis' MAESTRO files and ASAP's; piano-midi.de's are sequenced
 * by hand), by role: those no style model validates on (its training files and the composer's other pieces), and the
 * validation pieces' performances. How the style's pianists play is fitted on the first and checked on the second.
 */
export function stylePerformances(corpus: Pick<Corpus, 'entries'>, style: string): { fit: CorpusEntry[]; heldOut: CorpusEntry[] } {
  const performed = corpus.entries.filter((e) => e.style === style && (e.source === 'maestro-thesis' || e.source === 'asap'));
  return {
    fit: performed.filter((e) => e.role === 'style-train' || e.role === 'other'),
    heldOut: performed.filter((e) => e.role === 'style-validation' || e.role === 'validation-piece'),
  };
}

/** RFC 4180 CSV (quoted fields, doubled quotes) into records keyed by the header row. */
export function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (row.some((f) => f !== '')) rows.push(row);
      row = [];
    } else field += ch;
  }
  row.push(field);
  if (row.some((f) => f !== '')) rows.push(row);
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
}

export function sharedDir(repoRoot: string = process.cwd()): string {
  return process.env.MAESTRO_SHARED ?? path.resolve(repoRoot, '../shared');
}

export function readSequence(absPath: string): NoteSequence {
  return readMidi(new Uint8Array(fs.readFileSync(absPath)), { ...CORPUS_MIDI_LIMITS, name: path.basename(absPath) });
}

/**
 * What the model can see of a performance: the GIGA encode→decode round trip (16 ms onsets, 32 ms durations
 * capped at ~4 s, velocity re-derived from pitch). Real clips are compared with generated ones only in this view.
 */
export function modelView(seq: NoteSequence): NoteSequence {
  return gigaTokenizer.decode(gigaTokenizer.encode(seq));
}

export interface Corpus {
  datasetsDir: string;
  entries: CorpusEntry[];
  /** Per style: the files (relPaths) its model may have trained on — searched by the memorisation check. */
  trainingFiles: Record<Style, string[]>;
  /** Manifests that were read (paths), for the report. */
  manifests: string[];
}

interface ManifestLike {
  files: { id: string; split: string; maestroFile?: string }[];
  validationFiles: string[];
}

/** The by-piece and thesis-protocol corpora of each style, as the dataset builder names them. */
function styleCorpusNames(style: Style): string[] {
  return [style, `thesis-${style}`];
}

/** A manifest id ("maestro:<midi_filename>" or "catalog:<path under datasets>") as a path under datasets/. */
function manifestIdToRelPath(id: string, thesisFiles: Set<string>, maestroAliases: Map<string, string>): string | undefined {
  if (id.startsWith('catalog:')) return id.slice('catalog:'.length);
  if (id.startsWith('maestro:')) {
    const file = id.slice('maestro:'.length);
    if (thesisFiles.has(file)) return path.posix.join('maestro-thesis', file);
    return maestroAliases.get(file);
  }
  return undefined;
}

/**
 * Builds the catalogue. `tokenCount` gives the length of a thesis file's token stream (read from disk by default);
 * it is a parameter so tests can build a corpus without files.
 */
export function loadCorpus(datasetsDir: string, opts: { tokenCount?: (relPath: string) => number; dataDir?: string } = {}): Corpus {
  const count = opts.tokenCount ?? ((rel: string) => gigaTokenizer.encode(readSequence(path.join(datasetsDir, rel))).length);
  const thesisRows = parseCsv(fs.readFileSync(path.join(datasetsDir, 'maestro-thesis/thesis-selection.csv'), 'utf8'));
  const indexRows = parseCsv(fs.readFileSync(path.join(datasetsDir, 'index.csv'), 'utf8'));

  const entries: Omit<CorpusEntry, 'pieceId' | 'role'>[] = [];
  const thesisFiles = new Set<string>();
  for (const r of thesisRows) {
    thesisFiles.add(r.midi_filename);
    entries.push({
      relPath: path.posix.join('maestro-thesis', r.midi_filename),
      source: 'maestro-thesis',
      composer: r.canonical_composer,
      title: r.canonical_title,
      style: r.style as Style,
      zipOrder: Number(r.zip_order),
    });
  }
  for (const r of indexRows) {
    if (!STYLES.includes(r.style as Style)) continue;
    // The same MAESTRO performance is already in the thesis selection: do not count it twice.
    if (r.maestro_midi_filename && thesisFiles.has(r.maestro_midi_filename)) continue;
    entries.push({ relPath: r.path, source: r.source as CorpusEntry['source'], composer: r.composer, title: r.title, style: r.style as Style });
  }

  const pieceIds = groupPieces(entries);
  const validationFiles = new Set<string>();
  const trainingFiles = Object.fromEntries(STYLES.map((s) => [s, new Set<string>()])) as Record<Style, Set<string>>;
  const manifests: string[] = [];
  if (opts.dataDir) {
    const maestroAliases = new Map<string, string>();
    for (const r of indexRows) if (r.maestro_midi_filename && !maestroAliases.has(r.maestro_midi_filename)) maestroAliases.set(r.maestro_midi_filename, r.path);
    for (const style of STYLES) {
      for (const name of styleCorpusNames(style)) {
        const file = path.join(opts.dataDir, name, 'manifest.json');
        if (!fs.existsSync(file)) continue;
        manifests.push(file);
        const m = JSON.parse(fs.readFileSync(file, 'utf8')) as ManifestLike;
        for (const id of m.validationFiles) {
          const rel = manifestIdToRelPath(id, thesisFiles, maestroAliases);
          if (rel) validationFiles.add(rel);
        }
        for (const f of m.files) {
          const rel = f.split !== 'val' ? manifestIdToRelPath(f.id, thesisFiles, maestroAliases) : undefined;
          if (rel) trainingFiles[style].add(rel);
        }
      }
    }
  }
  for (const style of STYLES) {
    const files = entries.filter((e) => e.source === 'maestro-thesis' && e.style === style).sort((a, b) => a.zipOrder! - b.zipOrder!);
    const lengths = files.map((f) => count(f.relPath));
    const total = lengths.reduce((a, b) => a + b, 0);
    const boundary = total * (1 - VALIDATION_FRACTION);
    let end = 0;
    files.forEach((f, i) => {
      // A file with any token in the validation tail is a validation file; one with any before it was trained on.
      if (end < boundary) trainingFiles[style].add(f.relPath);
      end += lengths[i];
      if (end > boundary) validationFiles.add(f.relPath);
    });
  }
  const validationPieces = new Set(entries.filter((e) => validationFiles.has(e.relPath)).map((e) => pieceIds[entries.indexOf(e)]));

  return {
    datasetsDir,
    manifests,
    trainingFiles: Object.fromEntries(STYLES.map((s) => [s, [...trainingFiles[s]].sort()])) as Record<Style, string[]>,
    entries: entries.map((e, i) => ({
      ...e,
      pieceId: pieceIds[i],
      role: validationFiles.has(e.relPath)
        ? 'style-validation'
        : validationPieces.has(pieceIds[i])
          ? 'validation-piece'
          : e.source === 'maestro-thesis'
            ? 'style-train'
            : 'other',
    })),
  };
}

/** Performances the style classifier may learn from: everything not of a style model's validation piece. */
export function classifierEntries(corpus: Corpus): CorpusEntry[] {
  return corpus.entries.filter((e) => e.role === 'style-train' || e.role === 'other');
}
