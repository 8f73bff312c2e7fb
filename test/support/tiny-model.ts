/**
 * Tiny randomly initialised models for tests (real code paths, seconds of CPU): until trained models
 * exist, and so tests never depend on the shipped weights.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/model/backend.js';
import { GPT } from '../../src/model/gpt.js';
import type { ModelConfig } from '../../src/model/config.js';
import { saveModel } from '../../src/model/store.js';

export const TINY_CONFIG: ModelConfig = {
  vocabSize: 128,
  blockSize: 64,
  nLayer: 2,
  nHead: 2,
  nEmbd: 32,
  mlpDim: 64,
  maxRelDist: 64,
  dropout: 0,
  tokenizer: 'giga-piano',
};

export async function createTinyModel(seed = 1, config: Partial<ModelConfig> = {}): Promise<GPT> {
  process.env.MAESTRO_QUIET ??= '1';
  await initBackend();
  return new GPT({ ...TINY_CONFIG, ...config }, undefined, seed);
}

/** A models directory with the given styles, each a tiny random model saved the real way. */
export async function createTinyModelsDir(styles = ['baroque', 'romantic', 'vanguard', 'base'], config: Partial<ModelConfig> = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'maestro-models-'));
  for (const [i, style] of styles.entries()) {
    const model = await createTinyModel(100 + i, config);
    saveModel(join(dir, style), model, { name: style, description: 'tiny random model for tests', licence: 'test only' });
    model.dispose();
  }
  return dir;
}
