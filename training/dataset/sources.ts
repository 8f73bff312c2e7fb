/**
 * Input catalogs → a flat list of candidate MIDI files.
 *  - a MAESTRO-layout folder: `maestro-v3.0.0.csv` with MIDIs at `midi_filename` (partial downloads
 *    are normal: rows whose file is absent are skipped, counted, and reported in one warning line);
 *    optionally `thesis-selection.csv` (the thesis' 150 files, with style and `zip_order`);
 *  - a catalog csv like `datasets/index.csv` (source, path relative to the csv's folder, composer,
 *    title, style, maestro_midi_filename, excerpt_of_maestro, ...).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCsv } from './csv.js';

export interface SourceFile {
  /** Stable, machine-independent id: `maestro:<midi_filename>` or `catalog:<path>`. */
  id: string;
  source: string;
  absPath: string;
  composer: string;
  title: string;
  /** The MAESTRO performance this file is (or is an excerpt of), as a `midi_filename`. */
  maestroFile?: string;
  excerptOfMaestro: boolean;
}

export interface ThesisEntry extends SourceFile {
  style: string;
  zipOrder: number;
}

export interface LoadResult<T> {
  files: T[];
  missing: number;
}

export const MAESTRO_CSV = 'maestro-v3.0.0.csv';
const THESIS_CSV = 'thesis-selection.csv';

export function maestroId(midiFilename: string): string {
  return `maestro:${midiFilename}`;
}

export function loadMaestro(dir: string): LoadResult<SourceFile> {
  const csvPath = path.join(dir, MAESTRO_CSV);
  if (!existsSync(csvPath)) throw new Error(`${dir} is not a MAESTRO folder: ${MAESTRO_CSV} not found`);
  const rows = parseCsv(readFileSync(csvPath, 'utf8'), ['canonical_composer', 'canonical_title', 'midi_filename'], csvPath);
  const files: SourceFile[] = [];
  let missing = 0;
  for (const r of rows) {
    const file = maestroFile(dir, r);
    if (file) files.push(file);
    else missing += 1;
  }
  return { files, missing };
}

/** A MAESTRO csv row as a source file, or null when its MIDI is not on disk (a partial download). */
function maestroFile(dir: string, r: Record<string, string>): SourceFile | null {
  const absPath = path.join(dir, r.midi_filename!);
  if (!existsSync(absPath)) return null;
  return {
    id: maestroId(r.midi_filename!),
    source: 'maestro',
    absPath,
    composer: r.canonical_composer!,
    title: r.canonical_title!,
    maestroFile: r.midi_filename!,
    excerptOfMaestro: false,
  };
}

/** The thesis' own selection, in the order it concatenated the files (per style, by `zip_order`). */
export function loadThesisSelection(dir: string): LoadResult<ThesisEntry> {
  const csvPath = path.join(dir, THESIS_CSV);
  if (!existsSync(csvPath)) throw new Error(`--thesis needs ${THESIS_CSV} in ${dir}`);
  const rows = parseCsv(
    readFileSync(csvPath, 'utf8'),
    ['style', 'zip_order', 'canonical_composer', 'canonical_title', 'midi_filename'],
    csvPath,
  );
  const files: ThesisEntry[] = [];
  let missing = 0;
  for (const r of rows) {
    const file = maestroFile(dir, r);
    if (!file) {
      missing += 1;
      continue;
    }
    const zipOrder = Number(r.zip_order);
    if (!Number.isInteger(zipOrder)) throw new Error(`${csvPath}: zip_order "${r.zip_order}" is not an integer`);
    files.push({ ...file, style: r.style!, zipOrder });
  }
  files.sort((a, b) => a.style.localeCompare(b.style) || a.zipOrder - b.zipOrder);
  return { files, missing };
}

export function loadCatalog(csvPath: string): LoadResult<SourceFile> {
  if (!existsSync(csvPath)) throw new Error(`catalog ${csvPath} not found`);
  const rows = parseCsv(readFileSync(csvPath, 'utf8'), ['source', 'path', 'composer', 'title'], csvPath);
  const root = path.dirname(csvPath);
  const files: SourceFile[] = [];
  let missing = 0;
  for (const r of rows) {
    const absPath = path.join(root, r.path!);
    if (!existsSync(absPath)) {
      missing += 1;
      continue;
    }
    const maestro = (r.maestro_midi_filename ?? '').replace(/^\{maestro\}\//, '');
    files.push({
      id: `catalog:${r.path}`,
      source: r.source!,
      absPath,
      composer: r.composer!,
      title: r.title!,
      ...(maestro ? { maestroFile: maestro } : {}),
      excerptOfMaestro: r.excerpt_of_maestro === '1',
    });
  }
  return { files, missing };
}
