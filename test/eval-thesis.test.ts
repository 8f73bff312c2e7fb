import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateThesis, runEval, formatFieldTable, formatPieceTable, formatPositionTable, formatThesisTable, THESIS_RESULTS, unigramLoss } from '../src/cli/eval.js';
import { windowLogProbs } from '../training/evaluate.js';
import { loadModel } from '../src/model/store.js';
import { streamFields, TOKEN_FIELDS } from '../src/music/tokenizer.js';
import { createTinyModelsDir } from './support/tiny-model.js';
import { Rng } from '../src/util/rng.js';

describe('maestro eval --thesis', () => {
  it('scores each style model on its held-out stream in 128-token windows, beside the thesis numbers', async () => {
    const models = await createTinyModelsDir(['baroque', 'romantic', 'vanguard'], { blockSize: 128, maxRelDist: 128 });
    const data = mkdtempSync(join(tmpdir(), 'maestro-thesisdata-'));
    const rng = new Rng(1);
    for (const style of ['baroque', 'romantic', 'vanguard']) {
      mkdirSync(join(data, `thesis-${style}`));
      writeFileSync(join(data, `thesis-${style}`, 'val.bin'), Uint8Array.from({ length: 129 * 3 + 5 }, () => rng.int(128)));
    }
    const rows = await evaluateThesis(models, data);
    expect(rows.map((r) => r.style)).toEqual(['baroque', 'romantic', 'vanguard']);
    for (const r of rows) {
      expect(r.windows).toBe(3);
      // A random tiny model is near chance: ln(128) ≈ 4.85 nats.
      expect(r.loss).toBeGreaterThan(4);
      expect(r.thesisLoss).toBe(THESIS_RESULTS[r.style].loss);
    }
    const table = formatThesisTable(rows);
    expect(table).toContain('| baroque |');
    expect(table).toContain('1.490');
  });

  it('--by-field splits loss by token field (weights add up to the total) beside a unigram baseline', async () => {
    const models = await createTinyModelsDir(['baroque'], { blockSize: 128, maxRelDist: 128 });
    const data = mkdtempSync(join(tmpdir(), 'maestro-thesisdata-'));
    const rng = new Rng(2);
    // Well-formed notes [127, dt, dur, pitch], cut mid-note at the start as a real 90 % split is.
    const notes = (n: number) => Array.from({ length: n }, () => [127, rng.int(20), 1 + rng.int(30), 40 + rng.int(40)]).flat();
    mkdirSync(join(data, 'thesis-baroque'));
    writeFileSync(join(data, 'thesis-baroque', 'val.bin'), Uint8Array.from(notes(200).slice(2)));
    writeFileSync(join(data, 'thesis-baroque', 'train.bin'), Uint8Array.from(notes(2000)));
    const [row] = await evaluateThesis(models, data, { byField: true });
    expect(row.byField!.map((f) => f.field).sort()).toEqual([...TOKEN_FIELDS].sort());
    expect(row.byField!.reduce((a, f) => a + f.share, 0)).toBeCloseTo(1, 10);
    expect(row.byField!.reduce((a, f) => a + f.share * f.loss, 0)).toBeCloseTo(row.loss, 4);
    // Uniform pitches over 40 values: the unigram baseline is close to ln 40; the separator is certain.
    const pitch = row.byField!.find((f) => f.field === 'pitch')!;
    expect(pitch.unigramLoss).toBeGreaterThan(Math.log(40) - 0.05);
    expect(pitch.unigramLoss).toBeLessThan(Math.log(40) + 0.1); // + smoothing of the 88 unseen ids
    expect(row.byField!.find((f) => f.field === 'sep')!.unigramLoss).toBeLessThan(0.1); // only smoothing
    expect(formatFieldTable([row])).toContain('| baroque | pitch |');
  });

  it('--by-piece splits loss by validation file and counts the same piece in the training part; --by-position by place in the window', async () => {
    const models = await createTinyModelsDir(['baroque'], { blockSize: 128, maxRelDist: 128 });
    const data = mkdtempSync(join(tmpdir(), 'maestro-thesisdata-'));
    const rng = new Rng(3);
    const stream = Uint8Array.from(Array.from({ length: 250 }, () => [127, rng.int(20), 1 + rng.int(30), 40 + rng.int(40)]).flat());
    // Train = stream[0, 700); the 90 % cut falls inside the second file, as in the real corpora.
    const file = (title: string, split: string, streamRange: [number, number]) => ({ id: `x:${title}`, source: 'maestro', composer: 'Johann Sebastian Bach', title, split, streamRange, tokens: streamRange[1] - streamRange[0], notes: 0, seconds: 0, fileSha256: '', contentSha256: '' });
    const manifest = {
      train: { file: 'train.bin', tokens: 700 },
      files: [
        file('Prelude and Fugue in G Minor, WTC II, BWV 885', 'train', [0, 300]),
        file('Prelude and Fugue in C-sharp Minor, WTC I', 'train+val', [300, 750]),
        file('Prelude & Fugue in G Minor, WTK II', 'val', [750, 900]),
        file('Prelude and Fugue in F Minor, WTC I, BWV 857', 'val', [900, 1000]),
      ],
    };
    mkdirSync(join(data, 'thesis-baroque'));
    writeFileSync(join(data, 'thesis-baroque', 'train.bin'), stream.subarray(0, 700));
    writeFileSync(join(data, 'thesis-baroque', 'val.bin'), stream.subarray(700));
    writeFileSync(join(data, 'thesis-baroque', 'manifest.json'), JSON.stringify(manifest));
    const [plain] = await evaluateThesis(models, data);
    const [row] = await evaluateThesis(models, data, { byPiece: true, byField: true, byPosition: true });
    expect(row.loss).toBeCloseTo(plain.loss, 5);
    // The spans of window positions hold 4, 12, 16, 32 and 64 of each window's 128 targets.
    expect(row.byPosition!.map((p) => [p.from, p.to, p.share])).toEqual([[0, 4, 4 / 128], [4, 16, 12 / 128], [16, 32, 16 / 128], [32, 64, 32 / 128], [64, 128, 64 / 128]]);
    expect(row.byPosition!.reduce((a, p) => a + p.share * p.loss, 0)).toBeCloseTo(row.loss, 4);
    expect(formatPositionTable([row])).toContain('| baroque | 1–4 | 3.1 % |');
    // The first span by hand: the targets of input positions 0..3 of both windows, from the GPT's log-probabilities.
    const lp = windowLogProbs(loadModel(join(models, 'baroque')), stream.subarray(700), 128, [0, 128]);
    const first = [0, 1].flatMap((w) => [0, 1, 2, 3].map((t) => -lp[(w * 128 + t) * 128 + stream[700 + w * 128 + t + 1]]));
    expect(row.byPosition![0].loss).toBeCloseTo(first.reduce((a, x) => a + x, 0) / 8, 4);
    // 300 val tokens = 2 windows of 128 (targets 1..256): 49 in the cut file, 150 in the G minor, 57 in the F minor.
    expect(row.byPiece!.map((p) => [p.title, p.tokens, p.sameInTrain])).toEqual([
      ['Prelude and Fugue in C-sharp Minor, WTC I', 49, 400],
      ['Prelude & Fugue in G Minor, WTK II', 150, 300],
      ['Prelude and Fugue in F Minor, WTC I, BWV 857', 57, 0],
    ]);
    expect(row.byPiece!.reduce((a, p) => a + p.tokens * p.loss, 0) / 256).toBeCloseTo(row.loss, 4);
    expect(row.byField!.reduce((a, f) => a + f.share * f.loss, 0)).toBeCloseTo(row.loss, 4); // both splits from one pass
    const table = formatPieceTable([row]);
    expect(table).toContain('| baroque | Prelude & Fugue in G Minor, WTK II | 150 | 300 |');
    expect(table).toMatch(/baroque: pieces also in training: 199 targets, loss \d\.\d{3}; pieces not in training: 57 targets/);
  });

  it('a models directory without any style model, or --data without the corpora, is an error (exit 2), not an empty table or a stack trace', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'maestro-nomodels-'));
    const errors: string[] = [];
    const log = console.error;
    console.error = (msg: string) => errors.push(msg);
    try {
      expect(await runEval(['--thesis', '--models', empty])).toBe(2);
    } finally {
      console.error = log;
    }
    expect(errors.join('\n')).toContain('holds no style model to evaluate');
    const models = await createTinyModelsDir(['baroque'], { blockSize: 128, maxRelDist: 128 });
    console.error = (msg: string) => errors.push(msg);
    try {
      expect(await runEval(['--thesis', '--models', models, '--data', empty])).toBe(2);
    } finally {
      console.error = log;
    }
    expect(errors.at(-1)).toContain('has no thesis-baroque/val.bin: build them with "maestro dataset build --thesis');
  });

  it('reads token fields of a stream cut mid-note', () => {
    const f = streamFields(Uint8Array.from([30, 64, 127, 0, 12, 60, 127, 3]));
    expect(Array.from(f, (i) => TOKEN_FIELDS[i])).toEqual(['dur', 'pitch', 'sep', 'dt', 'dur', 'pitch', 'sep', 'dt']);
    // Two pieces concatenated: the first ends with a lone 127, the second's first note follows.
    const joined = streamFields(Uint8Array.from([127, 0, 12, 60, 127, 127, 4, 10, 62, 127]));
    expect(Array.from(joined, (i) => TOKEN_FIELDS[i])).toEqual(['sep', 'dt', 'dur', 'pitch', 'sep', 'sep', 'dt', 'dur', 'pitch', 'sep']);
    // A hand-made unigram: a field whose tokens are all one value costs nothing.
    const train = Uint8Array.from([127, 5, 9, 60, 127, 5, 9, 62]);
    const val = Uint8Array.from([127, 5, 9, 60, 127]);
    expect(unigramLoss(train, streamFields(train), val, streamFields(val), TOKEN_FIELDS.indexOf('dt'), 4)).toBeCloseTo(-Math.log(3 / 130), 6);
  });
});
