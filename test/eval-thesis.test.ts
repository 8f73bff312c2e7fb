import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateThesis, formatThesisTable, THESIS_RESULTS } from '../src/cli/eval.js';
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
});
