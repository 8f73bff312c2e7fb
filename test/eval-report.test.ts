import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Note, NoteSequence } from '../src/music/note-sequence.js';
import { trainLogistic, predictClass } from '../src/eval/logistic.js';
import { generateAll, lastChordBass, noteCap, scoreAll, type EvalContext, type GenerateFn, type Prompt } from '../src/eval/runner.js';
import { NgramIndex, noteKeys } from '../src/eval/memorisation.js';
import { meanHistograms } from '../src/eval/distribution.js';
import { meanPlaying, playingHistograms } from '../src/eval/playing.js';
import { loadClassifier, DEFAULT_CLASSIFIER_DIR } from '../src/eval/style-classifier.js';
import { extractFeatures } from '../src/eval/features.js';
import { formatReport, checkGoals } from '../src/eval/report-format.js';
import { runEvalReport } from '../src/cli/eval-music.js';
import { sharedDir } from '../src/eval/corpus.js';
import { openingPair } from '../src/eval/context.js';
import { mulberry32 as rng } from '../src/util/rng.js';
import { createTinyModelsDir } from './support/tiny-model.js';
import { DEFAULT_KEY_STRENGTH, DEFAULT_SAMPLING } from '../src/model/sampling-defaults.js';

const repoRoot = path.resolve(import.meta.dirname, '..');
const quiet = { out: () => {}, err: () => {} };

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

describe('logistic regression', () => {
  const blobs = (seed: number, n: number) => {
    const r = rng(seed);
    const centres = [
      [2, 0, 0, 0, 0],
      [0, 2, 0, 0, 0],
      [0, 0, 2, 0, 0],
    ];
    const rows: number[][] = [];
    const labels: number[] = [];
    for (let i = 0; i < n; i++) {
      const c = i % 3;
      rows.push(centres[c].map((m) => m + 0.7 * gaussian(r)));
      labels.push(c);
    }
    return { rows, labels };
  };
  const names = ['a', 'b', 'c', 'd', 'e'];

  it('beats chance by far on a separable synthetic problem, on held-out points', () => {
    const train = blobs(1, 300);
    const test = blobs(2, 300);
    const model = trainLogistic(train.rows, train.labels, ['x', 'y', 'z'], names);
    const acc = test.rows.filter((row, i) => predictClass(model, row) === test.labels[i]).length / test.rows.length;
    expect(acc).toBeGreaterThan(0.9);
  });

  it('stays near chance when the labels carry no information', () => {
    const train = blobs(3, 300);
    const r = rng(4);
    const shuffled = train.labels.map(() => Math.floor(r() * 3));
    const model = trainLogistic(train.rows, shuffled, ['x', 'y', 'z'], names);
    const test = blobs(5, 600);
    const acc = test.rows.filter((row, i) => predictClass(model, row) === test.labels[i]).length / test.rows.length;
    expect(acc).toBeLessThan(0.5);
  });

  it('is deterministic and standardises constant features safely', () => {
    const train = blobs(6, 90);
    train.rows.forEach((row) => row.push(5));
    const a = trainLogistic(train.rows, train.labels, ['x', 'y', 'z'], [...names, 'const']);
    const b = trainLogistic(train.rows, train.labels, ['x', 'y', 'z'], [...names, 'const']);
    expect(a).toEqual(b);
    expect(a.weights.flat().every(Number.isFinite)).toBe(true);
  });
});

const C_MAJOR = [0, 2, 4, 5, 7, 9, 11];

/** A fake model: a seeded random walk on the C major scale, so tests run without a trained network. */
const fakeGenerate: GenerateFn = async (req) => {
  if (req.model === 'vanguard') throw new Error('no vanguard model here');
  return req.items.map(({ prompt, seed }) => fakeContinuations(req.model, prompt, seed, req.count, req.seconds));
};

function fakeContinuations(model: string, prompt: Prompt, seed: number, count: number, seconds: number): NoteSequence[] {
  const req = { model, prompt, seed, count, seconds };
  return Array.from({ length: req.count }, (_, k) => {
    const r = rng(req.seed * 1000 + k * 7 + req.prompt.name.length + (req.model === 'base' ? 500 : req.model.length));
    const notes: Note[] = [];
    let degree = 14;
    for (let t = 0.2; t < req.seconds; t += 0.25 + Math.floor(r() * 2) * 0.25) {
      degree = Math.max(0, Math.min(27, degree + Math.floor(r() * 5) - 2));
      const pitch = 48 + 12 * Math.floor(degree / 7) + C_MAJOR[degree % 7];
      notes.push({ pitch, velocity: 80, startSec: t, endSec: t + 0.3 });
    }
    // A held C major triad in the bass every 2 s anchors the key, as a real accompaniment would.
    for (let t = 0; t < req.seconds; t += 2) for (const p of [36, 43, 52]) notes.push({ pitch: p, velocity: 70, startSec: t, endSec: t + 1.8 });
    notes.sort((a, b) => a.startSec - b.startSec || b.pitch - a.pitch);
    return { notes, pedals: [], tempos: [{ timeSec: 0, bpm: 120 }], source: {} } satisfies NoteSequence;
  });
}

function scalePrompt(name: string): Prompt {
  const notes = C_MAJOR.map((pc, i) => ({ pitch: 60 + pc, velocity: 80, startSec: i * 0.5, endSec: i * 0.5 + 0.5 }));
  return { name, midi: new Uint8Array(), seq: { notes, pedals: [], tempos: [{ timeSec: 0, bpm: 120 }], source: { name } } };
}

function context(): EvalContext {
  const classifier = loadClassifier(path.join(repoRoot, DEFAULT_CLASSIFIER_DIR));
  const r = rng(11);
  const training: Note[] = Array.from({ length: 300 }, (_, i) => ({ pitch: 40 + Math.floor(r() * 40), velocity: 80, startSec: i * 0.25, endSec: i * 0.25 + 0.25 }));
  const index = new NgramIndex();
  index.add(noteKeys({ notes: training, pedals: [], tempos: [], source: {} }));
  const hist = meanHistograms([training]);
  return { classifier, trainIndex: { baroque: index, romantic: index, vanguard: index }, realHeldOut: { baroque: hist, romantic: hist, vanguard: hist } };
}

describe('evaluation runner', () => {
  const prompts = [scalePrompt('scale_a.mid'), scalePrompt('scale_bb.mid')];
  const run = async (seed: number) => {
    const cont = await generateAll({ prompts, k: 2, seconds: 20, seed, generate: fakeGenerate, includeBase: true });
    return scoreAll(cont, context(), 'scale_a.mid');
  };

  it('gives the same results and report for the same seed, and different ones for another seed', async () => {
    const a = await run(1);
    const b = await run(1);
    const c = await run(2);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(c.items)).not.toBe(JSON.stringify(a.items));
    const file = context().classifier.file;
    expect(formatReport(a, file, { seed: '1' })).toBe(formatReport(b, file, { seed: '1' }));
  });

  it('scores every continuation, records failures as undecoded, and checks the goals', async () => {
    const res = await run(1);
    // 2 prompts × 2 seeds × (3 styles + base)
    expect(res.items).toHaveLength(16);
    const vanguard = res.groups.find((g) => g.system === 'ours' && g.requested === 'vanguard')!;
    expect(vanguard.decodedShare).toBe(0);
    expect(res.items.filter((i) => i.requested === 'vanguard').every((i) => i.error === 'no vanguard model here')).toBe(true);
    const baroque = res.groups.find((g) => g.system === 'ours' && g.requested === 'baroque')!;
    expect(baroque.validShare).toBe(1);
    // The walk stays on C major: its key agrees with the C major prompt most of the time.
    expect(baroque.keyAgreement).toBeGreaterThanOrEqual(0.75);
    expect(baroque.overlap?.pitchClass).toBeGreaterThan(0);
    expect(res.thesisPromptGroups.every((g) => g.n === 2)).toBe(true);
    const goals = checkGoals(res);
    expect(goals.find((g) => g.goal.startsWith('0 invalid'))!.met).toBe(false);
  });

  it("compares key agreement with real music's, over the styles that were generated", async () => {
    const generated = await run(1);
    // Ours, as if baroque were in the prompt's key 40 % of the time (related 80 %) and romantic 60 % (90 %).
    const shares: Record<string, [number, number]> = { baroque: [0.4, 0.8], romantic: [0.6, 0.9] };
    const res = {
      ...generated,
      groups: generated.groups.map((g) => (g.system === 'ours' && shares[g.requested] ? { ...g, keyAgreement: shares[g.requested][0], relatedKeyShare: shares[g.requested][1] } : g)),
    };
    const ref = (key: number, related: number) => ({ pairs: 10, keyAgreement: key, relatedKeyShare: related, meanKeyCorrelation: 0.5, endsOnTonicShare: 0.25 });
    const goal = (reference: Parameters<typeof checkGoals>[1]) => checkGoals(res, reference).find((g) => g.goal.includes('as often as real music'))!;
    // Ours: 50 % / 85 % pooled. Vanguard produced nothing here, so its reference must not count.
    const vanguard = ref(1, 1);
    expect(goal({ baroque: ref(0.3, 0.8), romantic: ref(0.7, 0.9), vanguard })).toEqual({
      goal: "… in the prompt's key, and in it or a related one, at least as often as real music of the style (section 2)",
      measured: 'ours 50 % / 85 % vs real 50 % / 85 %',
      met: true,
    });
    expect(goal({ baroque: ref(0.3, 0.8), romantic: ref(0.8, 0.9), vanguard }).met).toBe(false);
    expect(goal({ baroque: ref(0.3, 0.9), romantic: ref(0.7, 0.9), vanguard }).met).toBe(false);
    expect(goal({}).met).toBeUndefined();
    expect(formatReport(res, context().classifier.file, {}, { key: { vanguard }, keySpan: { promptSec: 12.5, seconds: 30 } })).toContain('| real openings / vanguard (reference) | 10 | 100 % | 100 % | 0.50 | 25 % |');
  });

  it("scores how our continuations are played — notes sounding and velocities — against the style's performances", async () => {
    const cont = await generateAll({ prompts, k: 2, seconds: 20, seed: 1, generate: fakeGenerate });
    const baroque = cont.filter((c) => c.requested === 'baroque');
    expect(baroque.every((c) => c.pedals !== undefined)).toBe(true);
    const asPlayed = (pedalled: boolean) => meanPlaying(baroque.map((c) => playingHistograms(c.notes!, pedalled ? [{ startSec: 0, endSec: c.seconds }] : [], c.seconds)))!;
    const scored = (real: ReturnType<typeof asPlayed>) => scoreAll(cont, { ...context(), realPlaying: { baroque: real, romantic: undefined, vanguard: undefined } }).groups.find((g) => g.system === 'ours' && g.requested === 'baroque')!.playing!;
    // Against pianists who play them exactly so: identical.
    expect(scored(asPlayed(false))).toEqual({ sounding: expect.closeTo(1, 9), velocity: expect.closeTo(1, 9), meanSounding: asPlayed(false).meanSounding });
    // Against pianists who hold the pedal down throughout, the same notes ring fuller than ours; the velocities still match.
    const pedalled = scored(asPlayed(true));
    expect(asPlayed(true).meanSounding).toBeGreaterThan(asPlayed(false).meanSounding + 1);
    expect(pedalled.sounding).toBeLessThan(0.7);
    expect(pedalled.velocity).toBeCloseTo(1, 9);
    const res = scoreAll(cont, { ...context(), realPlaying: { baroque: asPlayed(true), romantic: undefined, vanguard: undefined } });
    expect(formatReport(res, context().classifier.file, {}, { playing: { baroque: { sounding: 0.8, velocity: 0.9, meanSounding: 6.5 } } })).toMatch(
      new RegExp(`\\| real other performances / baroque \\(reference\\) \\| 6.50 \\| 80 % \\| 90 % \\|\n\\| ours / baroque \\| ${pedalled.meanSounding.toFixed(2)} \\| ${(pedalled.sounding * 100).toFixed(0)} % \\| 100 % \\|`),
    );
  });
});

describe('real music as the key reference', () => {
  const note = (pitch: number, startSec: number, endSec: number) => ({ pitch, velocity: 80, startSec, endSec });

  it("cuts a performance's opening from the first note, without letting the continuation into the prompt", () => {
    const notes = [note(60, 2, 3), note(64, 5, 9), note(67, 7, 7.5), note(72, 12, 13), note(48, 40, 41)];
    const pair = openingPair(notes, 5, 30)!;
    // The cut is 5 s after the first note (at 7 s): the E held across it is clipped there, the G starts after it.
    expect(pair.prompt).toEqual([note(60, 0, 1), note(64, 3, 5)]);
    expect(pair.continuation).toEqual([note(67, 0, 0.5), note(72, 5, 6)]);
    expect(openingPair(notes, 5, 34)).toBeUndefined();
    expect(openingPair([note(60, 0, 1), note(62, 20, 21)], 5, 10)).toBeUndefined();
    expect(openingPair([], 5, 10)).toBeUndefined();
  });

  it("finds the last chord's bass: the lowest note sounding at the last onset, held ones included", () => {
    // The chord is the notes within one onset quantum (16 ms) of the last onset; the 40 has ended by then.
    expect(lastChordBass([note(40, 0, 1), note(67, 2, 3), note(55, 2.01, 3)])).toBe(55);
    expect(lastChordBass([note(40, 0, 1), note(67, 2, 3), note(55, 2.01, 3), note(48, 1.9, 3)])).toBe(48);
    expect(lastChordBass([note(72, 0, 1)])).toBe(72);
  });
});

describe('style accuracy', () => {
  it('never counts a pathological continuation as a success', () => {
    const wall: Note[] = Array.from({ length: 1500 }, (_, i) => ({ pitch: 30 + ((i * 7) % 60), velocity: 90, startSec: (i % 750) * 0.04, endSec: (i % 750) * 0.04 + 0.5 }));
    const res = scoreAll([{ system: 'ours', prompt: 'p', requested: 'vanguard', id: 'w', notes: wall, seconds: 30, promptNotes: [] }], context());
    const g = res.groups[0];
    expect(res.items[0].validity.pathologies).toContain('wall-of-notes');
    expect(g.styleAccuracy).toBe(0);
  });

  it('caps generation at the first note count that is already a wall of notes', async () => {
    const seconds = 30;
    const cap = noteCap(seconds);
    const evenly = (n: number): Note[] => Array.from({ length: n }, (_, i) => ({ pitch: 40 + (i % 40), velocity: 80, startSec: (i * seconds) / n, endSec: (i * seconds) / n + 0.05 }));
    const scored = (n: number) => scoreAll([{ system: 'ours', prompt: 'p', requested: 'romantic', id: String(n), notes: evenly(n), seconds, promptNotes: [] }], context()).items[0];
    expect(scored(cap).validity.pathologies).toContain('wall-of-notes');
    // Stopped at the cap 10 s early: a wall, but the 10 s it never generated are not "silence".
    const early = evenly(cap).map((n) => ({ ...n, startSec: n.startSec * (20 / seconds), endSec: n.startSec * (20 / seconds) + 0.05 }));
    const capped = scoreAll([{ system: 'ours', prompt: 'p', requested: 'romantic', id: 'c', notes: early, seconds, promptNotes: [] }], context()).items[0];
    expect(capped.validity.pathologies).toEqual(['wall-of-notes']);
    expect(scored(cap - 1).validity.pathologies).not.toContain('wall-of-notes');
    // The runner asks every batch for that cap, and batches a model's prompts together.
    const seen: { maxNotes: number; prompts: number }[] = [];
    const spy: GenerateFn = async (req) => {
      seen.push({ maxNotes: req.maxNotes, prompts: req.items.length });
      return fakeGenerate({ ...req, model: 'baroque' });
    };
    const prompts = ['a.mid', 'b.mid', 'c.mid'].map(scalePrompt);
    await generateAll({ prompts, k: 1, seconds, seed: 1, styles: ['baroque'], generate: spy, concurrency: 2 });
    expect(seen).toEqual([
      { maxNotes: cap, prompts: 2 },
      { maxNotes: cap, prompts: 1 },
    ]);
    // The same batches with one lane or four: batched decoding's numerics depend on the batch, so the split must
    // not follow --jobs (or the same seed would write other continuations on another machine).
    for (const concurrency of [1, 4]) {
      seen.length = 0;
      await generateAll({ prompts, k: 1, seconds, seed: 1, styles: ['baroque'], generate: spy, concurrency });
      expect(seen.map((s) => s.prompts)).toEqual([2, 1]);
    }
  });
});

const shared = sharedDir(repoRoot);
const haveShared = fs.existsSync(path.join(shared, 'datasets/index.csv'));

describe.skipIf(!haveShared)('maestro eval --report on the real data (needs ../shared)', () => {
  it('scores the thesis outputs without a model and writes markdown, JSON and a PNG', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'maestro-eval-'));
    const code = await runEvalReport(['--report', out, '--no-generate'], repoRoot, quiet);
    expect(code).toBe(0);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
    const thesis = json.items.filter((i: { system: string }) => i.system === 'thesis');
    expect(thesis).toHaveLength(6);
    expect(thesis.every((i: { validity: { decoded: boolean } }) => i.validity.decoded)).toBe(true);
    expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).toContain('## 3. Memorisation');
    // Real music's key consistency, from the opening of every piece of each style.
    for (const style of ['baroque', 'romantic', 'vanguard']) expect(json.realKeyReference[style].pairs).toBeGreaterThan(10);
    expect(json.realKeyReference.promptSec).toBeGreaterThan(2);
    // The detector finds a verbatim copy of real training data.
    expect(json.meta['memorisation detector self-check']).toMatch(/, flagged$/);
    expect(fs.readFileSync(path.join(out, 'style-accuracy.png')).subarray(1, 4).toString()).toBe('PNG');
    fs.rmSync(out, { recursive: true });
  });

  it('generates with compose() from a models folder; the same seed gives the same report, in 1 or 2 processes (batches of 2 or 1 prompts)', async () => {
    const models = await createTinyModelsDir(['baroque', 'romantic', 'vanguard', 'base']);
    const reports: string[] = [];
    for (const jobs of ['1', '2']) {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'maestro-eval-'));
      const argv = ['--report', out, '--models', models, '--prompts', 'inicio_para_elisa,c_major_scale', '--k', '2', '--seconds', '4', '--seed', '3', '--jobs', jobs];
      expect(await runEvalReport(argv, repoRoot, quiet)).toBe(0);
      reports.push(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
      fs.rmSync(out, { recursive: true });
    }
    expect(reports[1]).toBe(reports[0]);
    const json = JSON.parse(reports[0]);
    // 6 thesis files + 2 prompts × 2 continuations × (3 styles + base), all decoded.
    expect(json.items).toHaveLength(22);
    expect(json.items.every((i: { validity: { decoded: boolean } }) => i.validity.decoded)).toBe(true);
    expect(json.thesisPromptGroups.map((g: { system: string }) => g.system)).toEqual(['thesis', 'thesis', 'thesis', 'ours', 'ours', 'ours', 'base']);
    fs.rmSync(models, { recursive: true });
  });

  it('--temperature, --key-strength and --no-tonic-ending reach the sampler, in 1 process and in 2, and the report says which was used', async () => {
    const models = await createTinyModelsDir(['baroque', 'romantic', 'vanguard']);
    const run = async (jobs: string, extra: string[]) => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'maestro-eval-'));
      const argv = ['--report', out, '--models', models, '--prompts', 'c_major_scale', '--k', '2', '--seconds', '4', '--seed', '3', '--no-base', '--jobs', jobs, ...extra];
      expect(await runEvalReport(argv, repoRoot, quiet)).toBe(0);
      const json = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
      fs.rmSync(out, { recursive: true });
      return json;
    };
    const served = await run('2', []);
    const cold = await run('2', ['--temperature', '0.3']);
    const coldOne = await run('1', ['--temperature', '0.3']);
    const notes = (r: { items: { system: string; notes?: number }[] }) => JSON.stringify(r.items.filter((i) => i.system !== 'thesis'));
    expect(notes(coldOne)).toBe(notes(cold));
    expect(notes(cold)).not.toBe(notes(served));
    expect(cold.meta.sampling).toContain(`temperature 0.3 (--temperature; served: ${DEFAULT_SAMPLING.temperature})`);
    expect(served.meta.sampling).toContain(`default settings: temperature ${DEFAULT_SAMPLING.temperature}`);
    expect(await runEvalReport(['--report', 'x', '--temperature', '0'], repoRoot, quiet)).toBe(2);
    expect(await runEvalReport(['--report', 'x', '--temperature', 'hot'], repoRoot, quiet)).toBe(2);
    const free = await run('2', ['--key-strength', '0']);
    const freeOne = await run('1', ['--key-strength', '0']);
    expect(notes(freeOne)).toBe(notes(free));
    expect(notes(free)).not.toBe(notes(served));
    expect(free.meta.sampling).toContain(`key strength 0 (--key-strength; served: ${DEFAULT_KEY_STRENGTH})`);
    expect(served.meta.sampling).toContain(`key strength ${DEFAULT_KEY_STRENGTH}, ending on the key's tonic`);
    const cut = await run('2', ['--no-tonic-ending']);
    expect(notes(await run('1', ['--no-tonic-ending']))).toBe(notes(cut));
    expect(notes(cut)).not.toBe(notes(served));
    expect(cut.meta.sampling).toContain('stopping at the length asked (--no-tonic-ending)');
    expect(await runEvalReport(['--report', 'x', '--key-strength', '-1'], repoRoot, quiet)).toBe(2);
    expect(await runEvalReport(['--report', 'x', '--key-strength', 'firm'], repoRoot, quiet)).toBe(2);
    fs.rmSync(models, { recursive: true });
  }, 180_000);

  it('ships a classifier that matches the current features and is clearly above chance', () => {
    const c = loadClassifier(path.join(repoRoot, DEFAULT_CLASSIFIER_DIR));
    expect(c.file.model.featureNames).toEqual(extractFeatures([], 1).names);
    expect(c.file.training.crossValidation.balancedAccuracy).toBeGreaterThan(0.6);
  });
});

describe('maestro eval --report arguments', () => {
  it('rejects bad arguments with exit code 2', async () => {
    expect(await runEvalReport([], repoRoot, quiet)).toBe(2);
    let help = '';
    expect(await runEvalReport(['--report', 'x', '--help'], repoRoot, { out: (s) => (help += s), err: () => {} })).toBe(0);
    expect(help).toContain('--no-generate');
    expect(await runEvalReport(['--report', 'x', '--k', 'two'], repoRoot, quiet)).toBe(2);
    expect(await runEvalReport(['--report', 'x', '--bogus'], repoRoot, quiet)).toBe(2);
    let said = '';
    expect(await runEvalReport(['--report', new URL('../README.md', import.meta.url).pathname, '--no-generate'], repoRoot, { out: () => {}, err: (s) => (said += s) })).toBe(2);
    expect(said).toContain('is a file; give a directory');
    if (haveShared) expect(await runEvalReport(['--report', 'x', '--prompts', 'no_such_prompt', '--no-generate'], repoRoot, quiet)).toBe(2);
  });
});
