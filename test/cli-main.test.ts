import { describe, it, expect, vi } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';
import { createTinyModelsDir } from './support/tiny-model.js';

describe('maestro (entry point)', () => {
  it('prints a known failure (a damaged model) as its message alone, exit 1; an unknown command is exit 2', async () => {
    const models = await createTinyModelsDir(['baroque']);
    const weights = join(models, 'baroque', 'weights.mtw');
    writeFileSync(weights, readFileSync(weights).subarray(0, 200));
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      const example = new URL('../examples/ode-to-joy.mid', import.meta.url).pathname;
      expect(await main(['compose', example, '--style', 'baroque', '--models', models, '--seconds', '2', '--no-render'])).toBe(1);
      expect(errors.at(-1)).toMatch(/^maestro compose: .*weights\.mtw is truncated/);
      expect(errors.at(-1)).not.toMatch(/\n\s+at /); // no stack trace
      expect(await main(['frobnicate'])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });

  it('an input that is a folder or missing is a one-line usage error (exit 2) for tokens, compose and render', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-input-'));
    const errors: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      expect(await main(['tokens', dir])).toBe(2);
      expect(await main(['compose', dir, '--style', 'baroque'])).toBe(2);
      expect(await main(['render', dir, '--out', join(dir, 'x.ogg')])).toBe(2);
      expect(await main(['tokens', join(dir, 'missing.mid')])).toBe(2);
    } finally {
      err.mockRestore();
    }
    const said = errors.map((e) => e.split('\n')[0]).filter((l) => l.startsWith('maestro '));
    expect(said).toEqual([...['tokens', 'compose', 'render'].map((c) => `maestro ${c}: ${dir} is a folder, not a MIDI file`), `maestro tokens: no such file: ${join(dir, 'missing.mid')}`]);
  });
});
