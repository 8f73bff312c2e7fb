// /admin through the fake Discord with the real training code on a tiny run: the owner trains a
// style, promotes the result and rolls it back, and sees each outcome in Discord.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationCommandOptionType, PermissionFlagsBits } from 'discord-api-types/v10';
import { BotHarness, OWNER_ID } from './support/bot-harness.js';
import { createTinyModelsDir } from './support/tiny-model.js';
import { loadTrainingService } from '../src/worker/training-service.js';
import { loadWorkerConfig } from '../src/config.js';

let harness: BotHarness | null = null;
afterAll(async () => {
  await harness?.cleanup();
});

function tokens(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    out[i] = s % 128;
  }
  return out;
}

describe('/admin with a real (tiny) training run', () => {
  it('train → promote → rollback, each reported back to the operator', async () => {
    const modelsDir = await createTinyModelsDir(['base', 'baroque']);
    const root = mkdtempSync(path.join(tmpdir(), 'maestro-train-'));
    const corpus = path.join(root, 'data', 'thesis-baroque');
    mkdirSync(corpus, { recursive: true });
    writeFileSync(path.join(corpus, 'train.bin'), tokens(4000, 1));
    writeFileSync(path.join(corpus, 'val.bin'), tokens(1000, 2));
    const { service } = await loadTrainingService(loadWorkerConfig({ MODELS_DIR: modelsDir }), { dataDir: path.join(root, 'data'), runsDir: path.join(root, 'runs') });
    expect(service).not.toBeNull();
    harness = await new BotHarness({ workers: 0, withTrainingWorker: true, training: service }).start();
    const h = harness;
    const admin = (sub: string, options: Array<{ name: string; type: ApplicationCommandOptionType; value: string | number }>) =>
      h.fake.invokeCommand('admin', { subcommand: sub, options, permissions: PermissionFlagsBits.Administrator, user: { id: OWNER_ID } });
    const outcome = (id: string) => h.fake.waitFor(() => {
      const m = h.fake.originalMessage(id);
      return m && /finished|failed/.test(m.content) ? m.content : undefined;
    }, 60_000, 'the admin job outcome');

    const trained = await outcome(admin('train', [{ name: 'style', type: ApplicationCommandOptionType.String, value: 'baroque' }, { name: 'steps', type: ApplicationCommandOptionType.Integer, value: 2 }]).id);
    expect(trained).toMatch(/✅ `train` finished/);
    expect(trained).toMatch(/validation loss \d+\.\d{4}/);
    expect(trained).toMatch(/\(step 2\/2, loss [\d.]+/); // the trainer's progress reached the bot
    // Progress was shown while it ran (the bot edits throttle, so at least the start).
    expect(h.fake.events.some((e) => e.kind === 'message.edit' && /`train baroque`/.test(String(e.detail.content)))).toBe(true);

    const before = readFileSync(path.join(modelsDir, 'baroque', 'card.json'), 'utf8');
    const promoted = await outcome(admin('promote', [{ name: 'style', type: ApplicationCommandOptionType.String, value: 'baroque' }]).id);
    // The served tiny model has no validation metrics, so the trained one is promoted.
    expect(promoted).toMatch(/Promoted .* to baroque/);
    expect(readFileSync(path.join(modelsDir, 'baroque', 'card.json'), 'utf8')).not.toBe(before);
    const rolled = await outcome(admin('rollback', [{ name: 'style', type: ApplicationCommandOptionType.String, value: 'baroque' }]).id);
    expect(rolled).toMatch(/Rolled baroque back/);
    expect(readFileSync(path.join(modelsDir, 'baroque', 'card.json'), 'utf8')).toBe(before);
  });
});
