import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifierEntries, loadCorpus, parseCsv } from '../src/eval/corpus.js';

/** A datasets folder with only the two catalogues (no MIDI files: token counts are injected). */
function fakeDatasets(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maestro-datasets-'));
  fs.mkdirSync(path.join(dir, 'maestro-thesis'));
  const thesis = [
    'style,zip_order,canonical_composer,canonical_title,split,midi_filename,duration',
    'baroque,0,Johann Sebastian Bach,"Prelude and Fugue in C Major, WTC I, BWV 846",train,a.midi,100',
    'baroque,1,Johann Sebastian Bach,"Partita No. 2 in C Minor, I. Sinfonia",train,b.midi,100',
    'baroque,2,Johann Sebastian Bach,"Prelude and Fugue in C Major, WTC I",train,c.midi,100',
    'baroque,3,Johann Sebastian Bach,"French Suite No. 5 in G Major",train,d.midi,100',
    'romantic,0,Frédéric Chopin,"Etude Op. 10 No. 1",train,e.midi,100',
    'romantic,1,Frédéric Chopin,"Barcarolle, Op. 60",train,f.midi,100',
    'vanguard,0,Sergei Rachmaninoff,"Prelude Op. 23 No. 4",train,g.midi,100',
    'vanguard,1,Sergei Rachmaninoff,"Elegie Op. 3 No. 1",train,h.midi,100',
  ];
  const index = [
    'source,path,composer,title,style,seconds,notes,has_pedal,maestro_midi_filename,excerpt_of_maestro,license',
    'asap,asap/Bach/Fugue/bwv_846/X.mid,Bach,Fugue_bwv_846,baroque,1,1,1,,0,x',
    'asap,asap/Bach/Partita/Y.mid,Bach,Partita_2,baroque,1,1,1,b.midi,1,x',
    'asap,asap/Chopin/Barcarolle/Z.mid,Chopin,Barcarolle,romantic,1,1,1,,0,x',
    'asap,asap/Liszt/W.mid,Liszt,Sonata,,1,1,1,,0,x',
  ];
  fs.writeFileSync(path.join(dir, 'maestro-thesis/thesis-selection.csv'), thesis.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'index.csv'), index.join('\r\n'));
  return dir;
}

describe('real-data catalogue', () => {
  it('parses quoted CSV fields', () => {
    expect(parseCsv('a,b\n"x, ""y""",2\n')).toEqual([{ a: 'x, "y"', b: '2' }]);
  });

  it("marks the files in the last 10 % of each style's zip-order stream as validation, and their pieces everywhere", () => {
    const dir = fakeDatasets();
    // Baroque: 4 files of 100 tokens, the last 10 % (40 tokens) lies in d. Romantic: f is 5 % of the stream, so the tail
    // cuts into e too. Vanguard: h alone.
    const tokens: Record<string, number> = { 'a.midi': 100, 'b.midi': 100, 'c.midi': 100, 'd.midi': 100, 'e.midi': 190, 'f.midi': 10, 'g.midi': 100, 'h.midi': 100 };
    const corpus = loadCorpus(dir, { tokenCount: (rel) => tokens[path.basename(rel)] });
    const role = (suffix: string) => corpus.entries.find((e) => e.relPath.endsWith(suffix))!.role;
    expect(role('d.midi')).toBe('style-validation');
    expect(role('c.midi')).toBe('style-train');
    expect(role('e.midi')).toBe('style-validation');
    expect(role('f.midi')).toBe('style-validation');
    expect(role('Z.mid')).toBe('validation-piece'); // another performance of the Barcarolle
    expect(role('h.midi')).toBe('style-validation');
    // The same MAESTRO performance reached through ASAP is not counted twice; unstyled rows are left out.
    expect(corpus.entries.some((e) => e.relPath.endsWith('Y.mid'))).toBe(false);
    expect(corpus.entries.some((e) => e.composer === 'Liszt')).toBe(false);
    // WTC I C major with and without its BWV number, and the ASAP fugue, are one piece.
    const piece = (suffix: string) => corpus.entries.find((e) => e.relPath.endsWith(suffix))!.pieceId;
    expect(piece('a.midi')).toBe(piece('c.midi'));
    expect(piece('X.mid')).toBe(piece('a.midi'));
    expect(classifierEntries(corpus).map((e) => path.basename(e.relPath)).sort()).toEqual(['X.mid', 'a.midi', 'b.midi', 'c.midi', 'g.midi']);
    // Training stream: files with any token before the cut (d straddles it: its head was trained on).
    expect(corpus.trainingFiles.baroque.map((f) => path.basename(f))).toEqual(['a.midi', 'b.midi', 'c.midi', 'd.midi']);
    expect(corpus.trainingFiles.romantic.map((f) => path.basename(f))).toEqual(['e.midi']);
    fs.rmSync(dir, { recursive: true });
  });
});
