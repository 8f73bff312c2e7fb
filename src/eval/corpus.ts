/**
 * The real performances the evaluation learns from and compares against, read from `../shared/datasets`.
 *
 * Roles (thesis protocol): each style model is fine-tuned on its 50 files of `maestro-thesis/thesis-selection.csv`
 * concatenated in `zip_order`; its validation data is the last 10 % of that token stream. Every file that has any
 * token in that last 10 % is a *validation file*, and its piece (all performances of it, in any dataset, see
 * pieces.ts) is a *validation piece*: never used to train the style classifier, and used as the "real held-out"
 * reference of the distribution distances. The other thesis files form the style's training stream, which the
 * memorisation check searches.
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
}

/**
 * Builds the catalogue. `tokenCount` gives the length of a thesis file's token stream (read from disk by default);
 * it is a parameter so tests can build a corpus without files.
 */
export function loadCorpus(datasetsDir: string, tokenCount?: (relPath: string) => number): Corpus {
  const count = tokenCount ?? ((rel: string) => gigaTokenizer.encode(readSequence(path.join(datasetsDir, rel))).length);
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
  for (const style of STYLES) {
    const files = entries.filter((e) => e.source === 'maestro-thesis' && e.style === style).sort((a, b) => a.zipOrder! - b.zipOrder!);
    const lengths = files.map((f) => count(f.relPath));
    const total = lengths.reduce((a, b) => a + b, 0);
    const boundary = total * (1 - VALIDATION_FRACTION);
    let end = 0;
    files.forEach((f, i) => {
      end += lengths[i];
      if (end > boundary) validationFiles.add(f.relPath);
    });
  }
  const validationPieces = new Set(entries.filter((e) => validationFiles.has(e.relPath)).map((e) => pieceIds[entries.indexOf(e)]));

  return {
    datasetsDir,
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
