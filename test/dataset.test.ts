import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runDataset } from '../src/cli/dataset.js';
import { readMidi, writeMidi } from '../src/music/midi.js';
import type { NoteSequence } from '../src/music/note-sequence.js';
import { gigaTokenizer } from '../src/music/tokenizer.js';
import { buildDatasets, loadTokenShard } from '../training/dataset/build.js';
import type { Manifest } from '../training/dataset/build.js';
import { CsvError, parseCsv, parseCsvRows } from '../training/dataset/csv.js';
import { pieceIdentity, samePiece } from '../training/dataset/pieces.js';
import { parseStyles, StylesConfigError } from '../training/dataset/styles.js';
import { mulberry32 } from '../src/util/rng.js';

/** A random but valid piano piece; every call with a new seed is different content. */
function piece(seed: number, notes = 80): NoteSequence {
  const rand = mulberry32(seed);
  let t = 0;
  return {
    notes: Array.from({ length: notes }, () => {
      t += 50 + Math.floor(rand() * 400);
      return { pitch: 40 + Math.floor(rand() * 40), velocity: 40 + Math.floor(rand() * 60), startSec: t / 1000, endSec: (t + 100 + Math.floor(rand() * 500)) / 1000 };
    }),
    pedals: [],
    tempos: [{ timeSec: 0, bpm: 120 }],
    source: {},
  };
}

const csvLine = (fields: (string | number)[]) => fields.map((f) => (/[",\n]/.test(String(f)) ? `"${String(f).replace(/"/g, '""')}"` : String(f))).join(',');

interface MaestroRow {
  composer: string;
  title: string;
  file: string;
  seed?: number; // undefined: row without a file (partial download)
  broken?: boolean;
}

// Bach: 8 files; WTC BWV 846 performed three times (a piece with several performances). Chopin: 6 files.
const MAESTRO_ROWS: MaestroRow[] = [
  { composer: 'Johann Sebastian Bach', title: 'Prelude and Fugue in C Major, WTC I, BWV 846', file: '2004/bach-846-a.midi', seed: 1 },
  { composer: 'Johann Sebastian Bach', title: 'Prelude and Fugue in C Major, WTC I', file: '2006/bach-846-b.midi', seed: 2 },
  { composer: 'Johann Sebastian Bach', title: 'Prelude and Fugue in D Minor, WTC I, BWV 851', file: '2006/bach-851.midi', seed: 3 },
  { composer: 'Johann Sebastian Bach', title: 'Partita No. 2 in C Minor, BWV 826', file: '2008/bach-826.midi', seed: 4 },
  { composer: 'Johann Sebastian Bach', title: 'French Suite No. 5 in G Major, BWV 816', file: '2008/bach-816.midi', seed: 5 },
  { composer: 'Johann Sebastian Bach', title: 'Italian Concerto, BWV 971', file: '2009/bach-971.midi', seed: 6 },
  { composer: 'Johann Sebastian Bach', title: 'Toccata in E Minor, BWV 914', file: '2009/bach-914.midi', seed: 7 },
  { composer: 'Johann Sebastian Bach', title: 'Prelude and Fugue in E Major, WTC I, BWV 854', file: '2011/bach-854.midi', seed: 8 },
  { composer: 'Frédéric Chopin', title: 'Etude Op. 10 No. 1', file: '2004/chopin-10-1.midi', seed: 11 },
  { composer: 'Frédéric Chopin', title: 'Etude Op. 10 No. 4 in C-sharp Minor', file: '2006/chopin-10-4.midi', seed: 12 },
  { composer: 'Frédéric Chopin', title: 'Scherzo No. 2 in B-flat Minor, Op. 31', file: '2008/chopin-31.midi', seed: 13 },
  { composer: 'Frédéric Chopin', title: 'Ballade No. 1 in G Minor, Op. 23', file: '2009/chopin-23.midi', seed: 14 },
  { composer: 'Frédéric Chopin', title: 'Barcarolle, Op. 60', file: '2011/chopin-60.midi', seed: 15 },
  { composer: 'Frédéric Chopin', title: 'Berceuse, Op. 57', file: '2013/chopin-57.midi', seed: 16 },
  // Partial download: no files for these.
  { composer: 'Frédéric Chopin', title: 'Nocturne Op. 9 No. 2', file: '2014/missing-1.midi' },
  { composer: 'Franz Liszt', title: 'Sonata in B Minor', file: '2014/missing-2.midi' },
  { composer: 'Franz Liszt', title: 'Mephisto Waltz, "No. 1"', file: '2015/missing-3.midi' },
  // A file that is not MIDI at all.
  { composer: 'Franz Schubert', title: 'Impromptu Op. 90 No. 2', file: '2015/broken.midi', seed: 99, broken: true },
  { composer: 'Franz Schubert', title: 'Impromptu Op. 90 No. 3', file: '2015/schubert-90-3.midi', seed: 21 },
];

// Thesis order: baroque last entries make up the held-out tail.
const THESIS: [style: string, file: string][] = [
  ['baroque', '2006/bach-851.midi'],
  ['baroque', '2008/bach-826.midi'],
  ['baroque', '2008/bach-816.midi'],
  ['baroque', '2009/bach-971.midi'],
  ['baroque', '2009/bach-914.midi'],
  ['baroque', '2011/bach-854.midi'],
  ['baroque', '2004/bach-846-a.midi'],
  ['romantic', '2004/chopin-10-1.midi'],
  ['romantic', '2006/chopin-10-4.midi'],
  ['romantic', '2008/chopin-31.midi'],
  ['romantic', '2009/chopin-23.midi'],
  ['romantic', '2011/chopin-60.midi'],
  ['romantic', '2013/chopin-57.midi'],
];

let root: string;
let maestroDir: string;
let catalogCsv: string;
let stylesFile: string;

function writeFixture() {
  root = mkdtempSync(path.join(tmpdir(), 'maestro-dataset-'));
  maestroDir = path.join(root, 'maestro');
  const lines = [csvLine(['canonical_composer', 'canonical_title', 'split', 'year', 'midi_filename', 'audio_filename', 'duration'])];
  for (const r of MAESTRO_ROWS) {
    lines.push(csvLine([r.composer, r.title, 'train', 2004, r.file, r.file.replace('.midi', '.wav'), 100]));
    if (r.seed === undefined) continue;
    const abs = path.join(maestroDir, r.file);
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, r.broken ? new TextEncoder().encode('this is not a MIDI file at all') : writeMidi(piece(r.seed)));
  }
  writeFileSync(path.join(maestroDir, 'maestro-v3.0.0.csv'), `${lines.join('\r\n')}\r\n`);
  const thesisLines = [csvLine(['style', 'zip_order', 'canonical_composer', 'canonical_title', 'split', 'midi_filename', 'duration'])];
  const order = new Map<string, number>();
  // Written shuffled: the builder must order by zip_order itself.
  for (const [style, file] of [...THESIS].reverse()) {
    const row = MAESTRO_ROWS.find((r) => r.file === file)!;
    const zip = THESIS.filter(([s]) => s === style).findIndex(([, f]) => f === file);
    order.set(file, zip);
    thesisLines.push(csvLine([style, zip, row.composer, row.title, 'train', file, 100]));
  }
  writeFileSync(path.join(maestroDir, 'thesis-selection.csv'), `${thesisLines.join('\n')}\n`);

  // Catalog: an ASAP-style excerpt of a thesis MAESTRO performance, another performance of BWV 846,
  // of Berceuse Op. 57, an unrelated Beethoven piece, and one missing file.
  const datasets = path.join(root, 'datasets');
  const cat = [csvLine(['source', 'path', 'composer', 'title', 'style', 'seconds', 'notes', 'has_pedal', 'maestro_midi_filename', 'excerpt_of_maestro', 'license'])];
  const addCatalog = (rel: string, composer: string, title: string, seq: NoteSequence | null, maestro = '', excerpt = 0) => {
    cat.push(csvLine(['asap', rel, composer, title, '', 10, 10, 0, maestro, excerpt, 'CC BY-NC-SA 4.0']));
    if (!seq) return;
    mkdirSync(path.dirname(path.join(datasets, rel)), { recursive: true });
    writeFileSync(path.join(datasets, rel), writeMidi(seq));
  };
  const excerpt = piece(1);
  excerpt.notes = excerpt.notes.slice(10, 70);
  addCatalog('asap/Bach/Prelude/bwv_846/Copy01M.mid', 'Bach', 'Prelude_bwv_846', excerpt, '2004/bach-846-a.midi', 1);
  addCatalog('asap/Bach/Fugue/bwv_846/Other02.mid', 'Bach', 'Fugue_bwv_846', piece(31));
  addCatalog('asap/Chopin/Berceuse_op_57/Other03.mid', 'Chopin', 'Berceuse_op_57', piece(32));
  addCatalog('asap/Bach/Prelude/bwv_875/Other05.mid', 'Bach', 'Prelude_bwv_875', piece(34));
  addCatalog('asap/Beethoven/Sonata_21/Other04.mid', 'Beethoven', 'Piano_Sonata_21_1st, "Waldstein"', piece(33));
  addCatalog('asap/Beethoven/Sonata_23/Gone.mid', 'Beethoven', 'Piano_Sonata_23_1st', null);
  catalogCsv = path.join(datasets, 'index.csv');
  writeFileSync(catalogCsv, `${cat.join('\n')}\n`);

  stylesFile = path.join(root, 'styles.json');
  writeFileSync(
    stylesFile,
    JSON.stringify({
      seed: 7,
      piecesPerStyle: 6,
      validationFraction: 0.1,
      styles: [
        { name: 'baroque', label: 'Baroque', composers: ['Johann Sebastian Bach'] },
        { name: 'romantic', label: 'Romantic', composers: ['Frédéric Chopin'], catalogComposers: ['Chopin'], validationFraction: 0.3 },
      ],
    }),
  );
}

const tokensOf = (file: string) => Uint8Array.from(gigaTokenizer.encode(readMidi(readFileSync(file))));
const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(Buffer.from(needle)) >= 0;
const manifestOf = (dir: string): Manifest => JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;

function build(out: string, thesis: boolean, log: string[] = []) {
  return buildDatasets({ outDir: path.join(root, out), stylesFile, maestroDir, catalogCsv, thesis, minNotes: 20, log: (l) => log.push(l) });
}

beforeAll(writeFixture);
afterAll(() => rmSync(root, { recursive: true, force: true }));

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

describe('dataset build', () => {
  it('is deterministic: two builds are byte-identical', () => {
    for (const thesis of [true, false]) {
      build(`det-a-${thesis}`, thesis);
      build(`det-b-${thesis}`, thesis);
      const a = path.join(root, `det-a-${thesis}`);
      const b = path.join(root, `det-b-${thesis}`);
      const files = listFiles(a);
      expect(files).toEqual(listFiles(b));
      expect(files.length).toBeGreaterThanOrEqual(9);
      expect(files.some((f) => f.endsWith('.tmp-' + process.pid))).toBe(false);
      for (const f of files) expect(readFileSync(path.join(a, f)).equals(readFileSync(path.join(b, f)))).toBe(true);
    }
  });

  it('skips missing and broken files with a count and one warning line each kind', () => {
    const log: string[] = [];
    const result = build('missing', false, log);
    const missingWarnings = log.filter((l) => /MAESTRO rows have no MIDI file/.test(l));
    expect(missingWarnings).toEqual([`warning: 3 of 19 MAESTRO rows have no MIDI file in ${maestroDir}; skipped`]);
    expect(log.filter((l) => /catalog rows/.test(l))).toHaveLength(1);
    const pretrain = result.corpora.find((c) => c.name === 'pretrain')!.manifest;
    expect(pretrain.skipped.missing).toBe(4);
    expect(pretrain.skipped.broken.map((b) => b.id)).toEqual(['maestro:2015/broken.midi']);
    expect(pretrain.skipped.broken[0]!.reason).toMatch(/not-midi/);
  });

  it('thesis protocol: zip order, validation = last 10 % of the stream, held out of pre-training by content', () => {
    const result = build('thesis', true);
    expect(result.corpora.map((c) => c.name)).toEqual(['thesis-baroque', 'thesis-romantic', 'pretrain-thesis', 'thesis-baroque-plus', 'thesis-romantic-plus']);
    const baroque = path.join(root, 'thesis', 'thesis-baroque');
    const expectedStream = Buffer.concat(THESIS.filter(([s]) => s === 'baroque').map(([, f]) => tokensOf(path.join(maestroDir, f))));
    const cut = Math.floor(expectedStream.length * 0.9);
    expect(Buffer.from(loadTokenShard(path.join(baroque, 'train.bin'))).equals(expectedStream.subarray(0, cut))).toBe(true);
    expect(Buffer.from(loadTokenShard(path.join(baroque, 'val.bin'))).equals(expectedStream.subarray(cut))).toBe(true);

    const manifest = manifestOf(baroque);
    // The last file (BWV 846, performance a) holds the tail of the stream.
    expect(manifest.validationFiles).toContain('maestro:2004/bach-846-a.midi');
    expect(manifest.files.map((f) => f.id)).toEqual(THESIS.filter(([s]) => s === 'baroque').map(([, f]) => `maestro:${f}`));

    const pretrainDir = path.join(root, 'thesis', 'pretrain-thesis');
    const pretrainTrain = loadTokenShard(path.join(pretrainDir, 'train.bin'));
    const pretrainVal = loadTokenShard(path.join(pretrainDir, 'val.bin'));
    const excluded = new Map(manifestOf(pretrainDir).excluded.map((e) => [e.id, e.reason]));
    for (const style of ['thesis-baroque', 'thesis-romantic']) {
      for (const id of manifestOf(path.join(root, 'thesis', style)).validationFiles) {
        const content = tokensOf(path.join(maestroDir, id.replace('maestro:', '')));
        expect(contains(pretrainTrain, content)).toBe(false);
        expect(contains(pretrainVal, content)).toBe(false);
        expect(excluded.get(id)).toMatch(/validation file/);
      }
    }
    // The same performance through ASAP, another performance of the same piece, and the other
    // MAESTRO performance of BWV 846 are all excluded, each with its reason.
    const datasets = path.dirname(catalogCsv);
    expect(excluded.get('catalog:asap/Bach/Prelude/bwv_846/Copy01M.mid')).toMatch(/same MAESTRO performance/);
    expect(excluded.get('catalog:asap/Bach/Fugue/bwv_846/Other02.mid')).toMatch(/same piece/);
    expect(excluded.get('maestro:2006/bach-846-b.midi')).toMatch(/same piece/);
    for (const rel of ['asap/Bach/Prelude/bwv_846/Copy01M.mid', 'asap/Bach/Fugue/bwv_846/Other02.mid']) {
      expect(contains(pretrainTrain, tokensOf(path.join(datasets, rel)))).toBe(false);
    }
    // Unrelated music is kept.
    expect(contains(pretrainTrain, tokensOf(path.join(datasets, 'asap/Beethoven/Sonata_21/Other04.mid'))) ||
      contains(pretrainVal, tokensOf(path.join(datasets, 'asap/Beethoven/Sonata_21/Other04.mid')))).toBe(true);
  });

  it('thesis-<style>-plus: the thesis corpus with the composer\'s other pre-training performances in front, the same validation, no validation piece', () => {
    build('plus', true);
    const thesis = path.join(root, 'plus', 'thesis-baroque');
    const plus = path.join(root, 'plus', 'thesis-baroque-plus');
    const thesisTrain = loadTokenShard(path.join(thesis, 'train.bin'));
    const plusTrain = loadTokenShard(path.join(plus, 'train.bin'));
    expect(readFileSync(path.join(plus, 'val.bin')).equals(readFileSync(path.join(thesis, 'val.bin')))).toBe(true);
    expect(Buffer.from(plusTrain.subarray(plusTrain.length - thesisTrain.length)).equals(Buffer.from(thesisTrain))).toBe(true);
    // Added: the unrelated Bach prelude pre-training trains on; not added: Chopin, Beethoven, or any performance of BWV 846.
    const manifest = manifestOf(plus);
    const added = manifest.files.filter((f) => f.streamRange[1] <= plusTrain.length - thesisTrain.length).map((f) => f.id);
    const pretrain = manifestOf(path.join(root, 'plus', 'pretrain-thesis'));
    const inPretrainTrain = pretrain.files.some((f) => f.id === 'catalog:asap/Bach/Prelude/bwv_875/Other05.mid' && f.split === 'train');
    expect(inPretrainTrain).toBe(true);
    expect(added).toEqual(['catalog:asap/Bach/Prelude/bwv_875/Other05.mid']);
    expect(manifest.validationFiles).toEqual(manifestOf(thesis).validationFiles);
    for (const id of manifest.validationFiles) {
      const content = tokensOf(path.join(maestroDir, id.replace('maestro:', '')));
      expect(contains(plusTrain.subarray(0, plusTrain.length - thesisTrain.length), content)).toBe(false);
    }
    for (const rel of ['asap/Bach/Prelude/bwv_846/Copy01M.mid', 'asap/Bach/Fugue/bwv_846/Other02.mid']) {
      expect(contains(plusTrain, tokensOf(path.join(path.dirname(catalogCsv), rel)))).toBe(false);
    }
    // Its manifest's stream ranges still point at each file's tokens.
    for (const f of manifest.files.filter((m) => m.split === 'train')) {
      const [a, b] = f.streamRange;
      expect(b - a).toBe(f.tokens);
    }
  });

  it('thesis build: a style added to the config (not in the thesis) is selected by piece and held out of pre-training', () => {
    const added = path.join(root, 'styles-added.json');
    const config = JSON.parse(readFileSync(stylesFile, 'utf8')) as { styles: unknown[] };
    config.styles.push({ name: 'impressionist', label: 'Impressionist', composers: ['Franz Schubert', 'Ludwig van Beethoven'], piecesPerStyle: 2, validationFraction: 0.5 });
    writeFileSync(added, JSON.stringify(config));
    const log: string[] = [];
    const result = buildDatasets({ outDir: path.join(root, 'thesis-added'), stylesFile: added, maestroDir, catalogCsv, thesis: true, minNotes: 20, log: (l) => log.push(l) });
    expect(result.corpora.map((c) => c.name)).toEqual(['thesis-baroque', 'thesis-romantic', 'impressionist', 'pretrain-thesis', 'thesis-baroque-plus', 'thesis-romantic-plus']);
    expect(log.join('\n')).toMatch(/impressionist: not in thesis-selection.csv; selecting its pieces by composer/);
    // The thesis corpora are unchanged by the extra style.
    build('thesis-plain', true);
    for (const f of ['train.bin', 'val.bin', 'manifest.json']) {
      expect(readFileSync(path.join(root, 'thesis-added', 'thesis-baroque', f)).equals(readFileSync(path.join(root, 'thesis-plain', 'thesis-baroque', f)))).toBe(true);
    }
    const m = manifestOf(path.join(root, 'thesis-added', 'impressionist'));
    expect(m.validationFiles.length).toBeGreaterThan(0);
    const excluded = new Map(manifestOf(path.join(root, 'thesis-added', 'pretrain-thesis')).excluded.map((e) => [e.id, e.reason]));
    const pretrain = loadTokenShard(path.join(root, 'thesis-added', 'pretrain-thesis', 'train.bin'));
    expect(m.files.map((f) => f.id).sort()).toEqual(['catalog:asap/Beethoven/Sonata_21/Other04.mid', 'maestro:2015/schubert-90-3.midi']);
    for (const id of m.validationFiles) {
      expect(excluded.get(id)).toMatch(/validation file/);
      const abs = id.startsWith('maestro:') ? path.join(maestroDir, id.slice(8)) : path.join(path.dirname(catalogCsv), id.slice(8));
      expect(contains(pretrain, tokensOf(abs))).toBe(false);
    }
  });

  it("an added style holds out its validation pieces among the files the served base never trained on, when it has any", () => {
    const added = path.join(root, 'styles-added-unheard.json');
    const config = JSON.parse(readFileSync(stylesFile, 'utf8')) as { styles: unknown[] };
    config.styles.push({ name: 'impressionist', label: 'Impressionist', composers: ['Franz Schubert', 'Ludwig van Beethoven'], piecesPerStyle: 2, validationFraction: 0.5 });
    writeFileSync(added, JSON.stringify(config));
    const built = (out: string, unheardByBase?: string[]) => {
      const log: string[] = [];
      buildDatasets({ outDir: path.join(root, out), stylesFile: added, maestroDir, catalogCsv, thesis: true, minNotes: 20, log: (l) => log.push(l), ...(unheardByBase ? { unheardByBase } : {}) });
      return { m: manifestOf(path.join(root, out, 'impressionist')), log: log.join('\n') };
    };
    const drawn = built('unheard-none');
    expect(drawn.m.validationFiles).toHaveLength(1);
    const other = drawn.m.files.map((f) => f.id).find((id) => id !== drawn.m.validationFiles[0])!;
    // The base never trained on the other file (and on a thesis file of another style, which changes nothing here).
    const honest = built('unheard-one', [other, 'maestro:2004/bach-846-a.midi']);
    expect(honest.m.validationFiles).toEqual([other]);
    expect((honest.m.settings as Record<string, unknown>).validationFrom).toBe('pieces the served base never trained on (1 of its validation files)');
    expect(honest.log).toMatch(/impressionist: validation pieces drawn among the 1 files of its composers the served base never trained on/);
    // Without any such file of its composers, the seeded draw is untouched, byte for byte.
    const none = built('unheard-other', ['catalog:asap/Chopin/Berceuse_op_57/Other03.mid']);
    for (const f of ['train.bin', 'val.bin', 'manifest.json']) {
      expect(readFileSync(path.join(root, 'unheard-other', 'impressionist', f)).equals(readFileSync(path.join(root, 'unheard-none', 'impressionist', f)))).toBe(true);
    }
    expect(none.m.validationFiles).toEqual(drawn.m.validationFiles);
  });

  it('warns when an added style matches no file (a misspelt composer), naming the spellings to check', () => {
    const added = path.join(root, 'styles-nobody.json');
    const config = JSON.parse(readFileSync(stylesFile, 'utf8')) as { styles: unknown[] };
    config.styles.push({ name: 'nobody', label: 'Nobody', composers: ['Wolfgang Amadeus Motzart'] });
    writeFileSync(added, JSON.stringify(config));
    const log: string[] = [];
    buildDatasets({ outDir: path.join(root, 'nobody'), stylesFile: added, maestroDir, catalogCsv, thesis: true, minNotes: 20, log: (l) => log.push(l) });
    expect(log.join('\n')).toMatch(/warning: nobody: no file by its composers \(Wolfgang Amadeus Motzart; in the catalogue: Motzart\): its corpus is empty — check the spellings/);
    expect(manifestOf(path.join(root, 'nobody', 'nobody')).files).toEqual([]);
  });

  it('by-piece protocol: a validation piece never appears in any training shard', () => {
    const result = build('bypiece', false);
    expect(result.corpora.map((c) => c.name)).toEqual(['baroque', 'romantic', 'pretrain']);
    const pretrain = loadTokenShard(path.join(root, 'bypiece', 'pretrain', 'train.bin'));
    for (const style of ['baroque', 'romantic']) {
      const dir = path.join(root, 'bypiece', style);
      const m = manifestOf(dir);
      expect(m.files.length).toBe(6);
      expect(m.validationFiles.length).toBeGreaterThan(0);
      const train = loadTokenShard(path.join(dir, 'train.bin'));
      const val = loadTokenShard(path.join(dir, 'val.bin'));
      expect(train.length + val.length).toBe(m.files.reduce((n, f) => n + f.tokens, 0));
      const trainPieces = m.files.filter((f) => f.split === 'train').map((f) => pieceIdentity(f.composer, f.title));
      for (const f of m.files.filter((x) => x.split === 'val')) {
        const abs = f.id.startsWith('maestro:') ? path.join(maestroDir, f.id.slice(8)) : path.join(path.dirname(catalogCsv), f.id.slice(8));
        const content = tokensOf(abs);
        expect(contains(val, content)).toBe(true);
        expect(contains(train, content)).toBe(false);
        expect(contains(pretrain, content)).toBe(false);
        // No other performance of the piece is on the training side.
        expect(trainPieces.some((p) => samePiece(p, pieceIdentity(f.composer, f.title)))).toBe(false);
      }
    }
  });
});

describe('loadTokenShard', () => {
  it('rejects bytes outside the vocabulary', () => {
    const file = path.join(root, 'bad.bin');
    writeFileSync(file, Uint8Array.from([127, 0, 5, 60, 200]));
    expect(() => loadTokenShard(file)).toThrow(/outside the vocabulary/);
  });
});

describe('csv', () => {
  it('handles quotes, doubled quotes, commas, newlines, CRLF and a BOM', () => {
    const text = '\ufeffa,b,c\r\n"x, y","say ""hi""","multi\nline"\r\nplain,,last\n';
    expect(parseCsvRows(text)).toEqual([
      ['a', 'b', 'c'],
      ['x, y', 'say "hi"', 'multi\nline'],
      ['plain', '', 'last'],
    ]);
    expect(parseCsv(text)[0]).toEqual({ a: 'x, y', b: 'say "hi"', c: 'multi\nline' });
  });
  it('reports missing columns, ragged rows and unterminated quotes', () => {
    expect(() => parseCsv('a,b\n1,2\n', ['path'], 'index.csv')).toThrow(/index.csv lacks column\(s\) path/);
    expect(() => parseCsv('a,b\n1,2,3\n')).toThrow(CsvError);
    expect(() => parseCsvRows('a,"b\n')).toThrow(/unterminated/);
  });
});

describe('styles.json', () => {
  it('loads the shipped config', () => {
    const shipped = parseStyles(JSON.parse(readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../training/styles.json'), 'utf8')));
    expect(shipped.map((s) => [s.name, s.composers, s.piecesPerStyle])).toEqual([
      ['baroque', ['Johann Sebastian Bach'], 50],
      ['romantic', ['Frédéric Chopin'], 50],
      ['vanguard', ['Sergei Rachmaninoff'], 50],
    ]);
  });
  it('derives catalog spellings and accepts added styles', () => {
    const [s] = parseStyles({ styles: [{ name: 'classical', label: 'Classical', composers: ['Wolfgang Amadeus Mozart', 'Joseph Haydn'] }] });
    expect(s!.catalogComposers).toEqual(['Mozart', 'Haydn']);
  });
  it('explains what is wrong', () => {
    const bad = (json: unknown) => () => parseStyles(json, 'styles.json');
    expect(bad([])).toThrow(StylesConfigError);
    expect(bad({ styles: [] })).toThrow(/"styles" must be a non-empty array/);
    expect(bad({ styles: [{ name: 'Baroque!', label: 'x', composers: ['Bach'] }] })).toThrow(/name must be a lower-case identifier/);
    expect(bad({ styles: [{ name: 'a', label: 'x', composers: [] }] })).toThrow(/"composers" must be a non-empty list/);
    expect(bad({ styles: [{ name: 'a', label: 'x', composers: ['B'] }, { name: 'a', label: 'y', composers: ['C'] }] })).toThrow(/defined twice/);
    expect(bad({ validationFraction: 2, styles: [{ name: 'a', label: 'x', composers: ['B'] }] })).toThrow(/between 0 and 1/);
  });
});

describe('maestro dataset build (CLI)', () => {
  it('refuses an --out that is a file before building anything (exit code 2)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'maestro-ds-out-'));
    writeFileSync(path.join(dir, 'maestro-v3.0.0.csv'), ''); // a MAESTRO folder as far as the arguments go
    writeFileSync(path.join(dir, 'taken'), 'a file');
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      expect(await runDataset(['build', '--maestro', dir, '--catalog', 'none', '--out', path.join(dir, 'taken')])).toBe(2);
      expect(await runDataset(['build', '--maestro', path.join(dir, 'nowhere'), '--catalog', 'none', '--out', path.join(dir, 'data')])).toBe(2);
    } finally {
      err.mockRestore();
    }
    expect(errors.join('\n')).toContain('is a file; give a directory');
    expect(errors.join('\n')).toContain('not found (give --maestro DIR)');
    expect(readFileSync(path.join(dir, 'taken'), 'utf8')).toBe('a file');
  });

  it('a --maestro folder without the MAESTRO csv is a usage error (exit code 2)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'maestro-ds-nocsv-'));
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      expect(await runDataset(['build', '--maestro', dir, '--catalog', 'none', '--out', path.join(dir, 'data')])).toBe(2);
    } finally {
      err.mockRestore();
    }
    expect(errors.join('\n')).toContain('is not a MAESTRO folder: it has no maestro-v3.0.0.csv');
  });
});

describe('piece identity', () => {
  const same = (a: [string, string], b: [string, string]) => samePiece(pieceIdentity(...a), pieceIdentity(...b));
  it('matches the same piece across MAESTRO, ASAP and piano-midi.de spellings', () => {
    expect(same(['Johann Sebastian Bach', 'Prelude and Fugue in F-sharp Minor, WTC II'], ['Bach', 'Prelude_bwv_883'])).toBe(true);
    expect(same(['Johann Sebastian Bach', 'Prelude and Fugue in C Major, WTC I'], ['Bach', 'The_Well-Tempered_Clavier_Part1_BWV_846'])).toBe(true);
    expect(same(['Frédéric Chopin', 'Scherzo No. 2 in B-flat Minor, Op.31'], ['Chopin', 'Scherzos_31'])).toBe(true);
    expect(same(['Frédéric Chopin', 'Ballade No. 1 in G Minor, Op. 23'], ['Chopin', 'Ballades_1'])).toBe(true);
    expect(same(['Frédéric Chopin', 'Etude Op. 10 No. 5 in G-flat Major'], ['Chopin', 'Etudes_Opus_10_5_Black_Key'])).toBe(true);
    expect(same(['Frédéric Chopin', '12 Etudes, Op. 25'], ['Chopin', 'Etudes_op_25_10'])).toBe(true);
    expect(same(['Sergei Rachmaninoff', 'Preludes Op. 23, Nos. 2, 4 and 5'], ['Rachmaninoff', 'Preludes_op_23_4'])).toBe(true);
    expect(same(['Sergei Rachmaninoff', 'Sonata No. 2 in B-flat Minor'], ['Sergei Rachmaninoff', 'Sonata No. 2 in B-Flat Minor Op. 36 (1913)'])).toBe(true);
  });
  it('keeps different pieces apart', () => {
    expect(same(['Frédéric Chopin', 'Etude Op. 10 No. 4 in C-sharp Minor'], ['Chopin', 'Etudes_op_10_5'])).toBe(false);
    expect(same(['Frédéric Chopin', 'Etude Op. 10 No. 4'], ['Frédéric Chopin', 'Etude Op. 25 No. 4'])).toBe(false);
    expect(same(['Johann Sebastian Bach', 'Prelude and Fugue in C Major, WTC I'], ['Bach', 'Prelude_bwv_870'])).toBe(false);
    expect(same(['Chopin', 'Etudes_op_10_5'], ['Liszt', 'Etudes_op_10_5'])).toBe(false);
  });
});
