// /admin through the fake Discord with the real training code on a tiny run: the owner trains a
// style, promotes the result and rolls it back, and sees each outcome in Discord.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationCommandOptionType, PermissionFlagsBits } from 'discord-api-types/v10';
import { BotHarness, OWNER_ID } from './support/bot-harness.js';
import { createTinyModelsDir } from './support/tiny-model.js';
import { loadTrainingService, trainingThreads } from '../src/worker/training-service.js';
import { loadWorkerConfig } from '../src/config.js';
import { writeMidi } from '../src/music/midi.js';
import { readMemoryFile, saveMemory } from '../src/model/memory-store.js';
import { sha256 } from '../src/util/sha256.js';
import { DEFAULT_MEMORY_SETTINGS, StyleMemory } from '../src/model/memory.js';
import { defaultViews } from '../src/model/views.js';
import { readCard, readPerformance, writeCard } from '../src/model/store.js';
import { VELOCITY_FEATURE_NAMES } from '../src/music/dynamics.js';

let harness: BotHarness | null = null;
const exits: Array<() => void> = [];
const onExit = (f: () => void) => void exits.push(f);
afterAll(async () => {
  await harness?.cleanup();
  for (const f of exits) f();
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

/** Tiny base and baroque models, a baroque corpus of random tokens, and the real training service over them. */
async function tinyTraining(name: string) {
  const modelsDir = await createTinyModelsDir(['base', 'baroque']);
  const root = mkdtempSync(path.join(tmpdir(), `maestro-${name}-`));
  const corpus = path.join(root, 'data', 'thesis-baroque');
  mkdirSync(corpus, { recursive: true });
  writeFileSync(path.join(corpus, 'train.bin'), tokens(4000, 1));
  writeFileSync(path.join(corpus, 'val.bin'), tokens(1000, 2));
  const { service } = await loadTrainingService(loadWorkerConfig({ MODELS_DIR: modelsDir }), { dataDir: path.join(root, 'data'), runsDir: path.join(root, 'runs') });
  return { modelsDir, root, corpus, service };
}

describe('/admin with a real (tiny) training run', () => {
  it('train → promote → rollback, each reported back to the operator', async () => {
    const { modelsDir, root, corpus, service } = await tinyTraining('train');
    expect(service).not.toBeNull();
    // No recorded performances here (an empty shared folder): how the style is played cannot be fitted.
    const previousShared = process.env.MAESTRO_SHARED;
    process.env.MAESTRO_SHARED = mkdtempSync(path.join(tmpdir(), 'maestro-no-shared-'));
    onExit(() => (previousShared === undefined ? delete process.env.MAESTRO_SHARED : (process.env.MAESTRO_SHARED = previousShared)));
    harness = await new BotHarness({ workers: 0, withTrainingWorker: true, training: service }).start();
    const h = harness;
    const admin = (sub: string, options: Array<{ name: string; type: ApplicationCommandOptionType; value: string | number }>) =>
      h.fake.invokeCommand('admin', { subcommand: sub, options, permissions: PermissionFlagsBits.Administrator, user: { id: OWNER_ID } });
    const outcome = (id: string) => h.fake.waitFor(() => {
      const m = h.fake.originalMessage(id);
      return m && /finished|failed/.test(m.content) ? m.content : undefined;
    }, 60_000, 'the admin job outcome');

    // A corpus with nothing in it (a style whose composers matched no file) is refused with the trainer's reason.
    mkdirSync(path.join(root, 'data', 'romantic'), { recursive: true });
    writeFileSync(path.join(root, 'data', 'romantic', 'train.bin'), new Uint8Array());
    writeFileSync(path.join(root, 'data', 'romantic', 'val.bin'), new Uint8Array());
    const refused = await outcome(admin('train', [{ name: 'style', type: ApplicationCommandOptionType.String, value: 'romantic' }]).id);
    expect(refused).toMatch(/training refused: .*romantic\/train\.bin holds 0 tokens, too few to train on/);

    const trained = await outcome(admin('train', [{ name: 'style', type: ApplicationCommandOptionType.String, value: 'baroque' }, { name: 'steps', type: ApplicationCommandOptionType.Integer, value: 2 }]).id);
    expect(trained).toMatch(/✅ `train` finished/);
    expect(trained).toMatch(/validation loss \d+\.\d{4}/);
    expect(trained).toMatch(/\(step 2\/2, loss [\d.]+/); // the trainer's progress reached the bot
    // Progress was shown while it ran (the bot edits throttle, so at least the start).
    expect(h.fake.events.some((e) => e.kind === 'message.edit' && /`train baroque`/.test(String(e.detail.content)))).toBe(true);

    // The served style has a memory: promotion fits it against the candidate (and compares with it) and keeps it.
    // Its own settings (views here) carry over to the refitted memory.
    saveMemory(path.join(modelsDir, 'baroque'), new StyleMemory(tokens(4000, 3), { ...DEFAULT_MEMORY_SETTINGS, views: defaultViews(1, 0.1) }), { corpus: 'before', licence: 'test' });
    const before = readFileSync(path.join(modelsDir, 'baroque', 'card.json'), 'utf8');
    const promoted = await outcome(admin('promote', [{ name: 'style', type: ApplicationCommandOptionType.String, value: 'baroque' }]).id);
    expect(promoted).toMatch(/Its memory was fitted for it \(validation loss \d\.\d{4} with it, \d\.\d{4} without\)/);
    const refitted = readMemoryFile(path.join(modelsDir, 'baroque'))!;
    expect(refitted.settings.views).toEqual(defaultViews(1, 0.1));
    expect(refitted.source.sha256).toBe(sha256(new Uint8Array(readFileSync(path.join(corpus, 'train.bin')))));
    expect((refitted.fit as { model: { weightsSha256: string } }).model.weightsSha256).toBe(sha256(new Uint8Array(readFileSync(path.join(modelsDir, 'baroque', 'weights.mtw')))));
    // The served tiny model has no validation metrics, so the trained one is promoted.
    expect(promoted).toMatch(/Promoted .* to baroque/);
    expect(promoted).toMatch(/How its pianists pedal and voice notes could not be fitted \(maestro performance exited 2; see the worker log\): it is played dry/);
    expect(readFileSync(path.join(modelsDir, 'baroque', 'card.json'), 'utf8')).not.toBe(before);
    // The run was also tried averaged with the served model (maestro soup); the better of the two is served.
    const run = /Promoted (\S+)/.exec(promoted)![1];
    const lossIn = (dir: string) => (JSON.parse(readFileSync(path.join(dir, 'card.json'), 'utf8')) as { metrics: { valLoss128: number } }).metrics.valLoss128;
    const [alone, averaged] = [lossIn(run), lossIn(path.join(path.dirname(run), 'soup-with-served'))];
    expect(lossIn(path.join(modelsDir, 'baroque'))).toBe(Math.min(alone, averaged));
    expect(promoted.includes('averaged with the served model')).toBe(averaged < alone);
    const rolled = await outcome(admin('rollback', [{ name: 'style', type: ApplicationCommandOptionType.String, value: 'baroque' }]).id);
    expect(rolled).toMatch(/Rolled baroque back/);
    expect(readFileSync(path.join(modelsDir, 'baroque', 'card.json'), 'utf8')).toBe(before);
  });
});

describe('/admin stop', () => {
  it('stops a running fine-tune: it checkpoints, keeps the model so far and says so where it was started', async () => {
    const { service } = await tinyTraining('stop');
    const h = await new BotHarness({ workers: 0, withTrainingWorker: true, training: service }).start();
    try {
      const admin = (sub: string, options: Array<{ name: string; type: ApplicationCommandOptionType; value: string | number }> = []) =>
        h.fake.invokeCommand('admin', { subcommand: sub, options, permissions: PermissionFlagsBits.Administrator, user: { id: OWNER_ID } });
      const reply = (id: string) => h.fake.waitFor(() => h.fake.originalMessage(id)?.content, 10_000, 'the reply');

      expect(await reply(admin('stop').id)).toBe('Nothing is training right now.');

      const run = admin('train', [{ name: 'style', type: ApplicationCommandOptionType.String, value: 'baroque' }, { name: 'steps', type: ApplicationCommandOptionType.Integer, value: 100_000 }]);
      // Stop it once its progress shows it training.
      await h.fake.waitFor(() => h.fake.events.some((e) => e.kind === 'message.edit' && /step \d+\/100000/.test(String(e.detail.content))), 60_000, 'the run training');
      expect(await reply(admin('stop').id)).toBe('Asked `train baroque` to stop: it finishes its step, saves a checkpoint and the model so far, and says so where it was started.');
      const outcome = await h.fake.waitFor(() => {
        const m = h.fake.originalMessage(run.id);
        return m && /finished|failed/.test(m.content) ? m.content : undefined;
      }, 60_000, 'the stopped run');
      expect(outcome).toMatch(/✅ `train` finished/);
      const stopped = /Stopped training baroque on request at step (\d+)\/100000, loss [\d.]+.*; the model so far is saved in (\S+) \(validation loss \d\.\d{4}\): \/admin promote serves it/.exec(outcome);
      expect(stopped).not.toBeNull();
      const card = readCard(stopped![2])!;
      expect(card.training?.finished).toBe(false);
      expect(Number(card.training?.steps)).toBeGreaterThanOrEqual(Number(stopped![1]));
      expect(Number(card.training?.steps)).toBeLessThan(100_000);
      // The request is gone with the run: the next /admin stop finds nothing to stop.
      expect(await reply(admin('stop').id)).toBe('Nothing is training right now.');
    } finally {
      await h.cleanup();
    }
  }, 120_000);
});

describe('fine-tune threads', () => {
  it('use the cores (as a divisor of the 8-sequence step) unless TRAIN_THREADS says otherwise', () => {
    expect([1, 2, 3, 4, 6, 16].map((cores) => trainingThreads({}, cores))).toEqual([1, 2, 2, 4, 4, 8]);
    expect(trainingThreads({ TRAIN_THREADS: '1' }, 8)).toBe(1);
    expect(trainingThreads({ TRAIN_THREADS: 'lots' }, 8)).toBe(1);
  });
});

describe('/admin dataset-rebuild with the real dataset builder', () => {
  it('builds the thesis corpora and a style an admin added to the styles config, and says what it built; the added style trains and is served with its memory and its pianists\' playing', async () => {
    // A tiny MAESTRO-layout folder: 4 Bach files in the thesis selection, 4 Mozart files that are not.
    const shared = mkdtempSync(path.join(tmpdir(), 'maestro-shared-'));
    const maestro = path.join(shared, 'datasets', 'maestro-thesis');
    const rows = ['canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration'];
    const thesis = ['style,zip_order,canonical_composer,canonical_title,split,midi_filename,duration'];
    for (let i = 0; i < 8; i++) {
      const bach = i < 4;
      const file = `2004/${bach ? 'bach' : 'mozart'}-${i}.midi`;
      const title = bach ? `Prelude and Fugue No. ${i + 1}, BWV ${846 + i}` : `Piano Sonata No. ${i}, K. ${300 + i}`;
      const composer = bach ? 'Johann Sebastian Bach' : 'Wolfgang Amadeus Mozart';
      rows.push(`${composer},"${title}",train,2004,${file},${file.replace('.midi', '.wav')},60`);
      if (bach) thesis.push(`baroque,${i},${composer},"${title}",train,${file},60`);
      mkdirSync(path.join(maestro, '2004'), { recursive: true });
      // Chords of three, the top one louder, as a pianist voices them.
      const notes = Array.from({ length: 60 }, (_, k) => ({ pitch: 48 + ((Math.floor(k / 3) * (i + 3)) % 24) + [0, 4, 7][k % 3]!, velocity: k % 3 === 2 ? 90 : 60, startSec: Math.floor(k / 3) * 0.5, endSec: Math.floor(k / 3) * 0.5 + 0.4 }));
      writeFileSync(path.join(maestro, file), writeMidi({ notes, pedals: [], tempos: [{ timeSec: 0, bpm: 120 }], source: {} }));
    }
    writeFileSync(path.join(maestro, 'maestro-v3.0.0.csv'), `${rows.join('\n')}\n`);
    writeFileSync(path.join(maestro, 'thesis-selection.csv'), `${thesis.join('\n')}\n`);
    writeFileSync(path.join(shared, 'datasets', 'index.csv'), 'source,path,composer,title,style,seconds,notes,has_pedal,maestro_midi_filename,excerpt_of_maestro,license\n');
    const stylesFile = path.join(shared, 'styles.json');
    writeFileSync(stylesFile, JSON.stringify({
      seed: 1, piecesPerStyle: 4, validationFraction: 0.25,
      styles: [
        { name: 'baroque', label: 'Baroque', composers: ['Johann Sebastian Bach'] },
        { name: 'classical', label: 'Classical (Mozart)', composers: ['Wolfgang Amadeus Mozart'] },
      ],
    }));

    const dataDir = path.join(shared, 'data');
    const previous = process.env.MAESTRO_SHARED;
    process.env.MAESTRO_SHARED = shared; // inherited by the `maestro dataset build` child process
    const modelsDir = await createTinyModelsDir(['base']);
    const { service } = await loadTrainingService(loadWorkerConfig({ MODELS_DIR: modelsDir, STYLES_FILE: stylesFile }), { dataDir, runsDir: path.join(shared, 'runs') });
    const h = new BotHarness({ workers: 0, withTrainingWorker: true, training: service, env: { STYLES_FILE: stylesFile } });
    try {
      await h.start();
      const i = h.fake.invokeCommand('admin', { subcommand: 'dataset-rebuild', options: [], permissions: PermissionFlagsBits.Administrator, user: { id: OWNER_ID } });
      const outcome = await h.fake.waitFor(() => {
        const m = h.fake.originalMessage(i.id);
        return m && /finished|failed/.test(m.content) ? m.content : undefined;
      }, 60_000, 'the rebuild outcome');
      expect(outcome).toMatch(/✅ `dataset-rebuild` finished/);
      expect(outcome).toMatch(/• thesis-baroque: 4 files, [\d,]+ training \+ [\d,]+ validation tokens/);
      expect(outcome).toMatch(/• classical: 4 files/);
      expect(outcome).toMatch(/• pretrain-thesis: \d+ files/);
      // What it says is what is on disk: the added style can now be fine-tuned with /admin train.
      const manifest = JSON.parse(readFileSync(path.join(dataDir, 'classical', 'manifest.json'), 'utf8')) as { validationFiles: string[] };
      expect(manifest.validationFiles).toHaveLength(1);

      // The served base predates the added style: its corpus held out baroque's validation pieces only, so it
      // pre-trained on classical's. The fine-tune says so.
      const baroque = JSON.parse(readFileSync(path.join(dataDir, 'thesis-baroque', 'manifest.json'), 'utf8')) as { validationFiles: string[] };
      const base = path.join(modelsDir, 'base');
      writeCard(base, { ...readCard(base)!, data: { manifest: { corpus: 'pretrain-thesis', settings: { heldOutFiles: baroque.validationFiles } } } });
      const admin = (sub: string) =>
        h.fake.invokeCommand('admin', { subcommand: sub, options: [{ name: 'style', type: ApplicationCommandOptionType.String, value: 'classical' }, ...(sub === 'train' ? [{ name: 'steps', type: ApplicationCommandOptionType.Integer, value: 2 }] : [])], permissions: PermissionFlagsBits.Administrator, user: { id: OWNER_ID } });
      const done = (id: string) => h.fake.waitFor(() => {
        const m = h.fake.originalMessage(id);
        return m && /finished|failed/.test(m.content) ? m.content : undefined;
      }, 60_000, 'the admin job outcome');
      const trained = await done(admin('train').id);
      expect(trained).toMatch(/✅ `train` finished/);
      expect(trained).toMatch(/Caution: the base pre-trained on 1 of classical's 1 validation files/);
      // Its first promotion: there is no served classical model, memory or playing to keep, so they are made for it.
      const promoted = await done(admin('promote').id);
      expect(promoted).toMatch(/Promoted .* to classical/);
      expect(promoted).toMatch(/Its memory was fitted for it \(validation loss \d\.\d{4} with it, \d\.\d{4} without\)/);
      expect(promoted).toMatch(/How its pianists play was fitted on their recordings \(pedal: none \(its performers' notes ring closest dry\); dynamics: learnt\)/);
      // With no served model to average with, the run was also tried moved toward its base; the best of them is served.
      const runDir = path.dirname(/Promoted (\S+)/.exec(promoted)![1]!);
      const lossIn = (dir: string) => (JSON.parse(readFileSync(path.join(dir, 'card.json'), 'utf8')) as { metrics: { valLoss128: number } }).metrics.valLoss128;
      const tried = [path.join(runDir, 'model'), path.join(runDir, 'toward-base-0.5'), path.join(runDir, 'toward-base-0.8')].map(lossIn);
      const served = path.join(modelsDir, 'classical');
      expect(lossIn(served)).toBe(Math.min(...tried));
      expect(promoted.includes('of the way back to the base')).toBe(Math.min(...tried) < tried[0]!);
      expect(readMemoryFile(served)!.source.sha256).toBe(sha256(new Uint8Array(readFileSync(path.join(dataDir, 'classical', 'train.bin')))));
      const played = readPerformance(served)!;
      expect(played.pedal).toBeNull();
      // Fitted on the classical corpus' training files (3 Mozart performances), where chords' top notes are 30 louder.
      expect(played.dynamics.weights[VELOCITY_FEATURE_NAMES.indexOf('top of its chord')]).toBeGreaterThan(10);
    } finally {
      if (previous === undefined) delete process.env.MAESTRO_SHARED;
      else process.env.MAESTRO_SHARED = previous;
      await h.cleanup();
    }
  });
});
