import { describe, it, expect, beforeAll, vi } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compose, continueMany, UnknownStyleError } from '../src/compose.js';
import { readMidi, writeMidi, MidiInputError } from '../src/music/midi.js';
import { clearKey } from '../src/music/key.js';
import { lastChordBass } from '../src/eval/runner.js'; // the lowest note sounding at the last onset, held ones included
import { parseMidi } from 'midi-file';
import { runCompose } from '../src/cli/compose.js';
import { ABC_EXAMPLE, abcToMidi } from '../src/music/abc.js';
import { createTinyModelsDir } from './support/tiny-model.js';
import { endingGraceSec, NAMED_KEY_STRENGTH } from '../src/model/sampling-defaults.js';
import { pedalFor, type PedalStyle } from '../src/music/pedal.js';
import { VELOCITY_FEATURE_NAMES } from '../src/music/dynamics.js';

let modelsDir: string;
const example = readFileSync(new URL('../examples/ode-to-joy.mid', import.meta.url));

const PEDAL: PedalStyle = { harmonyChange: 0.3, minLiftGapSec: 0.25, liftSec: 0.06 };

beforeAll(async () => {
  modelsDir = await createTinyModelsDir(['baroque', 'romantic']);
  // How romantic performers play (maestro performance): with a pedal, and the highest notes around 20 louder than the
  // rest. Baroque has no performance.json: simulated dynamics, dry.
  const dynamics = { weights: VELOCITY_FEATURE_NAMES.map((f) => (f === 'highest note ±0.25 s' ? 20 : 0)), level: 60 };
  writeFileSync(join(modelsDir, 'romantic', 'performance.json'), JSON.stringify({ format: 'maestro-performance/1', style: 'romantic', pedal: { pedal: PEDAL }, dynamics: { model: dynamics } }));
});

describe('compose', () => {
  it('continues a MIDI prompt: the full piece is the prompt followed by the new notes', async () => {
    const r = await compose({ midi: example, style: 'baroque', seconds: 5, seed: 42, candidates: 2, modelsDir });
    expect(r.candidates).toHaveLength(2);
    expect(r.settings.seed).toBe(42);
    const prompt = readMidi(example);
    for (const c of r.candidates) {
      expect(c.continuation.notes.length).toBeGreaterThan(0);
      expect(c.full.notes.length).toBe(prompt.notes.length + c.continuation.notes.length);
      const lastPromptOnset = Math.max(...prompt.notes.map((n) => n.startSec));
      const newNotes = c.full.notes.filter((n) => !prompt.notes.some((p) => p.pitch === n.pitch && Math.abs(p.startSec - n.startSec) < 1e-9));
      expect(Math.min(...newNotes.map((n) => n.startSec))).toBeGreaterThanOrEqual(lastPromptOnset - 1e-9);
      // The MIDI bytes are real MIDI and hold the same notes.
      expect(readMidi(c.fullMidi).notes.length).toBe(c.full.notes.length);
      expect(readMidi(c.continuationMidi).notes.length).toBe(c.continuation.notes.length);
      // The full file is the prompt's file as sent, with the continuation as one more track (midi-continuation.ts).
      const tracks = parseMidi(c.fullMidi).tracks;
      expect(tracks).toHaveLength(parseMidi(example).tracks.length + 1);
      expect(tracks[tracks.length - 1]![0]).toMatchObject({ type: 'trackName', text: 'Maestro (baroque)' });
    }
  });

  it("continues at the prompt's loudness: the same notes, their velocities moved by how loud the prompt was played", async () => {
    const prompt = readMidi(example);
    const at = (velocity: number) => writeMidi({ ...prompt, notes: prompt.notes.map((n) => ({ ...n, velocity })) });
    const soft = (await compose({ midi: at(25), style: 'baroque', seconds: 6, seed: 4, modelsDir })).candidates[0]!.continuation.notes;
    const loud = (await compose({ midi: at(75), style: 'baroque', seconds: 6, seed: 4, modelsDir })).candidates[0]!.continuation.notes;
    const strip = (notes: typeof soft) => notes.map(({ velocity: _, ...n }) => n);
    expect(strip(soft)).toEqual(strip(loud)); // the model never sees velocity
    soft.forEach((n, i) => {
      if (loud[i]!.velocity < 127 && n.velocity > 1) expect(loud[i]!.velocity - n.velocity).toBe(50);
    });
    const median = (notes: typeof soft) => [...notes.map((n) => n.velocity)].sort((a, b) => a - b)[notes.length >> 1]!;
    expect(median(soft)).toBeLessThan(50); // decoding alone voices this register at 70-100
  });

  it("continueMany gives each prompt exactly compose()'s candidates, velocities included", async () => {
    const soft = (() => {
      const p = readMidi(example);
      return writeMidi({ ...p, notes: p.notes.map((n) => ({ ...n, velocity: 30 })) });
    })();
    const many = await continueMany({ style: 'baroque', items: [{ midi: example, seed: 7 }, { midi: soft, seed: 8 }], seconds: 4, candidates: 2, modelsDir });
    for (const [i, [midi, seed]] of ([[example, 7], [soft, 8]] as const).entries()) {
      const one = await compose({ midi, style: 'baroque', seconds: 4, seed, candidates: 2, modelsDir });
      expect(many[i]).toHaveLength(2);
      many[i]!.forEach((c, k) => expect(c.notes).toEqual(one.candidates[k]!.continuation.notes));
    }
  });

  it("puts the style's pedal under the continuation — in its MIDI track, on that track's channel — unless asked not to", async () => {
    const r = await compose({ midi: example, style: 'romantic', seconds: 6, seed: 5, modelsDir });
    expect(r.model.pedal).toBe(true);
    expect(r.model.dynamics).toBe(true);
    const c = r.candidates[0]!;
    expect(c.continuation.pedals.length).toBeGreaterThan(0);
    expect(c.continuation.pedals).toEqual(pedalFor(PEDAL, c.continuation.notes));
    // The prompt + continuation has it too, from the prompt's last onset on (Ode to Joy has no pedal of its own).
    const lastPromptOnset = Math.max(...readMidi(example).notes.map((n) => n.startSec));
    expect(c.full.pedals.map((p) => p.startSec)).toEqual(c.continuation.pedals.map((p) => p.startSec + lastPromptOnset));
    // In the files: the appended track presses and releases the sustain pedal on its own channel; the user's tracks keep none.
    const tracks = parseMidi(c.fullMidi).tracks;
    const added = tracks.at(-1)!;
    const channelOf = added.find((e) => e.type === 'noteOn')! as { channel: number };
    const pedalEvents = added.filter((e) => e.type === 'controller' && (e as { controllerType: number }).controllerType === 64) as Array<{ channel: number; value: number }>;
    expect(pedalEvents).toHaveLength(2 * c.continuation.pedals.length);
    expect(pedalEvents.every((e) => e.channel === channelOf.channel)).toBe(true);
    expect(tracks.slice(0, -1).flat().some((e) => e.type === 'controller')).toBe(false);
    expect(readMidi(c.continuationMidi).pedals).toHaveLength(c.continuation.pedals.length);

    const dry = await compose({ midi: example, style: 'romantic', seconds: 6, seed: 5, modelsDir, pedal: false });
    expect(dry.model.pedal).toBe(false);
    expect(dry.candidates[0]!.continuation.notes).toEqual(c.continuation.notes); // the pedal changes no note
    expect(dry.candidates[0]!.continuation.pedals).toEqual([]);
    expect(parseMidi(dry.candidates[0]!.fullMidi).tracks.at(-1)!.some((e) => e.type === 'controller')).toBe(false);
    // A style without a performance.json (here baroque) gets none.
    const baroque = await compose({ midi: example, style: 'baroque', seconds: 4, seed: 5, modelsDir });
    expect(baroque.model.pedal).toBe(false);
    expect(baroque.model.dynamics).toBe(false);
    expect(baroque.candidates[0]!.continuation.pedals).toEqual([]);
    // continueMany (the report's path) plays it the same way: the same pedal, the same drawn expression.
    const many = await continueMany({ style: 'romantic', items: [{ midi: example, seed: 5 }], seconds: 6, candidates: 1, modelsDir });
    expect(many[0]![0]!.pedals).toEqual(c.continuation.pedals);
    expect(many[0]![0]!.notes).toEqual(c.continuation.notes);
    // With expression drawn on top of the dynamics' mean, still the same in both, and different from the mean alone.
    const expressive = mkdtempSync(join(tmpdir(), 'maestro-models-'));
    cpSync(join(modelsDir, 'romantic'), join(expressive, 'romantic'), { recursive: true });
    const file = JSON.parse(readFileSync(join(expressive, 'romantic', 'performance.json'), 'utf8'));
    file.dynamics.model.residual = { rho: 0.4, sigma: 10 };
    writeFileSync(join(expressive, 'romantic', 'performance.json'), JSON.stringify(file));
    const drawn = (await compose({ midi: example, style: 'romantic', seconds: 6, seed: 5, modelsDir: expressive })).candidates[0]!.continuation.notes;
    const drawnMany = await continueMany({ style: 'romantic', items: [{ midi: example, seed: 5 }], seconds: 6, candidates: 1, modelsDir: expressive });
    expect(drawnMany[0]![0]!.notes).toEqual(drawn);
    expect(drawn.map((n) => n.pitch)).toEqual(c.continuation.notes.map((n) => n.pitch));
    expect(drawn.map((n) => n.velocity)).not.toEqual(c.continuation.notes.map((n) => n.velocity));
  });

  it("voices the continuation as the style's performers do, at the prompt's level", async () => {
    const r = await compose({ midi: example, style: 'romantic', seconds: 6, seed: 5, modelsDir, pedal: false });
    const notes = r.candidates[0]!.continuation.notes;
    // The model's shape: 20 louder for the highest note within 0.25 s, 0 for every other note. Ode to Joy's melody is
    // played at 80 over a bass at 60 — its last 32 notes: median 80 as played, median 20 in the model's shape — so the
    // level is 60: a highest note 80, any other 60. (Notes in the first 0.25 s may be next to the prompt's: skipped.)
    const highest = (i: number) => notes.every((m) => Math.abs(m.startSec - notes[i]!.startSec) >= 0.25 || m.pitch <= notes[i]!.pitch);
    const checked = notes.map((n, i) => [n, i] as const).filter(([n]) => n.startSec >= 0.25);
    checked.forEach(([n, i]) => expect(n.velocity).toBe(highest(i) ? 80 : 60));
    expect(checked.filter(([, i]) => !highest(i)).length).toBeGreaterThan(0);
    expect(checked.filter(([, i]) => highest(i)).length).toBeGreaterThan(0);
  });

  it('composes dry with simulated dynamics, and says why, when the style’s performance.json is damaged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-models-'));
    cpSync(join(modelsDir, 'romantic'), join(dir, 'romantic'), { recursive: true });
    writeFileSync(join(dir, 'romantic', 'performance.json'), '{ "format": "maestro-performance/1", "pedal": { "pedal": { "harmonyChange": "lots" } } }');
    const errors: string[] = [];
    const orig = console.error;
    console.error = (m: string) => void errors.push(m);
    try {
      const r = await compose({ midi: example, style: 'romantic', seconds: 4, seed: 5, modelsDir: dir });
      expect(r.model.pedal).toBe(false);
      expect(r.model.dynamics).toBe(false);
      expect(r.candidates[0]!.continuation.pedals).toEqual([]);
    } finally {
      console.error = orig;
    }
    expect(errors.join('\n')).toMatch(/romantic performance file is unusable, composing with simulated dynamics and no pedal: .*bad pedal rule.*maestro performance/);
  });

  it('is reproducible from the reported seed', async () => {
    const a = await compose({ midi: example, style: 'romantic', seconds: 4, seed: 9, modelsDir });
    const b = await compose({ midi: example, style: 'romantic', seconds: 4, seed: 9, modelsDir });
    expect(Buffer.from(a.candidates[0].fullMidi).equals(Buffer.from(b.candidates[0].fullMidi))).toBe(true);
  });

  it("keeps to the prompt's key when asked, and says which key (Ode to Joy: C major)", async () => {
    const inKey = (notes: { pitch: number }[]) => notes.filter((n) => [0, 2, 4, 5, 7, 9, 11].includes(n.pitch % 12)).length / notes.length;
    const free = await compose({ midi: example, style: 'baroque', seconds: 8, seed: 3, candidates: 2, keyStrength: 0, modelsDir });
    const kept = await compose({ midi: example, style: 'baroque', seconds: 8, seed: 3, candidates: 2, keyStrength: 4, modelsDir });
    expect(free.key).toBeUndefined();
    expect(kept.key).toBe('C major');
    expect(kept.settings.keyStrength).toBe(4);
    const share = (r: typeof free) => inKey(r.candidates.flatMap((c) => c.continuation.notes));
    expect(share(kept)).toBeGreaterThan(0.9); // the untrained model alone plays all twelve pitch classes
    expect(share(kept)).toBeGreaterThan(share(free));
    const improvised = await compose({ style: 'baroque', seconds: 3, seed: 1, keyStrength: 4, modelsDir });
    expect(improvised.key).toBeUndefined();
  });

  it("ends a continuation kept to a key on the key's tonic, going on up to a quarter longer; or stops at the length asked", async () => {
    const seconds = 16;
    const request = { midi: example, style: 'baroque', seconds, seed: 5, candidates: 4, keyStrength: 4, modelsDir };
    const ending = await compose(request);
    const cut = await compose({ ...request, endOnTonic: false });
    expect(ending.settings.endOnTonic).toBe(true);
    expect(cut.settings.endOnTonic).toBe(false);
    ending.candidates.forEach((c, i) => {
      const plain = cut.candidates[i].continuation.notes;
      // The same notes up to where the cut one stopped; then, if it did not end on C, on to a chord on C within the grace.
      expect(c.continuation.notes.slice(0, plain.length)).toEqual(plain);
      const last = Math.max(...c.continuation.notes.map((n) => n.startSec));
      expect(last).toBeLessThan(seconds + endingGraceSec(seconds));
      if (c.continuation.notes.length > plain.length) expect(lastChordBass(c.continuation.notes) % 12).toBe(0);
    });
    expect(ending.candidates.some((c, i) => c.continuation.notes.length > cut.candidates[i].continuation.notes.length)).toBe(true);
    for (const c of cut.candidates) expect(Math.max(...c.continuation.notes.map((n) => n.startSec))).toBeLessThan(seconds);
  });

  it('ends a continuation kept to no key (key strength 0) on the tonic of the key it has settled in, where that is clear', async () => {
    const seconds = 16;
    const request = { midi: example, style: 'baroque', seconds, seed: 5, candidates: 4, keyStrength: 0, modelsDir };
    const ending = await compose(request);
    const cut = await compose({ ...request, endOnTonic: false });
    expect(ending.key).toBeUndefined();
    let wentOn = 0;
    ending.candidates.forEach((c, i) => {
      const plain = cut.candidates[i].continuation.notes;
      expect(c.continuation.notes.slice(0, plain.length)).toEqual(plain);
      if (c.continuation.notes.length === plain.length) return;
      // It went on: the key of what it had played by the length asked was clear, and it ended on that key's tonic.
      wentOn++;
      const own = clearKey(plain);
      expect(own).toBeDefined();
      expect(lastChordBass(c.continuation.notes) % 12).toBe(own!.tonic);
      expect(Math.max(...c.continuation.notes.map((n) => n.startSec))).toBeLessThan(seconds + endingGraceSec(seconds));
    });
    expect(wentOn).toBeGreaterThan(0); // the untrained model settles in D-flat major once here
  });

  it('keeps to a named key instead, with or without a prompt, and refuses a name that is not a key', async () => {
    const dMinor = new Set([2, 4, 5, 7, 9, 10, 0, 1]); // D E F G A Bb C, and C# (the leading tone)
    for (const midi of [example, undefined]) {
      const r = await compose({ midi, style: 'baroque', seconds: 8, seed: 3, key: 'd minor', keyStrength: 4, modelsDir });
      expect(r.key).toBe('D minor');
      expect(r.settings.key).toBe('D minor');
      const notes = r.candidates[0].continuation.notes;
      expect(notes.filter((n) => dMinor.has(n.pitch % 12)).length / notes.length).toBeGreaterThan(0.9);
    }
    // The improvisation started from D minor's tonic chord, which is not part of it: it starts with its own first note.
    const improvised = await compose({ style: 'baroque', seconds: 4, seed: 3, key: 'D minor', modelsDir });
    expect(Math.min(...improvised.candidates[0].continuation.notes.map((n) => n.startSec))).toBe(0);
    expect(improvised.settings.keyStrength).toBe(NAMED_KEY_STRENGTH); // naming the key asks for it firmly
    const free = await compose({ midi: example, style: 'baroque', seconds: 3, seed: 3, key: 'D minor', keyStrength: 0, modelsDir });
    expect(free.key).toBeUndefined();
    await expect(compose({ style: 'baroque', seconds: 3, key: 'H major', modelsDir })).rejects.toThrow(/"H major" is not a key/);
  });

  it('improvises without a prompt, ending where its own key allows', async () => {
    const r = await compose({ style: 'baroque', seconds: 3, seed: 1, modelsDir });
    expect(r.prompt).toBeNull();
    expect(r.candidates[0].full.notes.length).toBeGreaterThan(0);
    // Past the length it may only go on (on the tonic of the key it settled in): the notes up to there are the same.
    const cut = await compose({ style: 'baroque', seconds: 3, seed: 1, modelsDir, endOnTonic: false });
    expect(r.candidates[0].continuation.notes.slice(0, cut.candidates[0].continuation.notes.length)).toEqual(cut.candidates[0].continuation.notes);
  });

  it('serves a promoted (or rolled back) model from the next request on, without a restart', async () => {
    const notes = async (style: string) => (await compose({ midi: example, style, seconds: 4, seed: 9, modelsDir })).candidates[0].continuation.notes;
    const baroque = await notes('baroque');
    const romantic = await notes('romantic');
    expect(romantic).not.toEqual(baroque);
    // Promotion swaps directories (another process may do it): baroque now holds the romantic weights.
    renameSync(join(modelsDir, 'baroque'), join(modelsDir, 'baroque.previous'));
    cpSync(join(modelsDir, 'romantic'), join(modelsDir, 'baroque'), { recursive: true });
    expect(await notes('baroque')).toEqual(romantic);
    // Rollback.
    rmSync(join(modelsDir, 'baroque'), { recursive: true });
    renameSync(join(modelsDir, 'baroque.previous'), join(modelsDir, 'baroque'));
    expect(await notes('baroque')).toEqual(baroque);
  });

  it('explains unknown styles and bad MIDI', async () => {
    await expect(compose({ midi: example, style: 'jazz', seconds: 3, modelsDir })).rejects.toBeInstanceOf(UnknownStyleError);
    await expect(compose({ midi: new TextEncoder().encode('hello'), style: 'baroque', seconds: 3, modelsDir })).rejects.toBeInstanceOf(MidiInputError);
  });
});

describe('maestro compose (CLI)', () => {
  it('writes the MIDI files and returns 0', async () => {
    const out = mkdtempSync(join(tmpdir(), 'maestro-out-'));
    const code = await runCompose([new URL('../examples/ode-to-joy.mid', import.meta.url).pathname, '--style', 'baroque', '--seconds', '3', '--seed', '5', '--models', modelsDir, '--out', out, '--no-render']);
    expect(code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['ode-to-joy-baroque-seed5-continuation.mid', 'ode-to-joy-baroque-seed5.mid']);
  });

  it('continues a melody in ABC notation, typed with --melody or in an .abc file', async () => {
    const out = mkdtempSync(join(tmpdir(), 'maestro-abc-'));
    const args = ['--style', 'baroque', '--seconds', '3', '--seed', '5', '--models', modelsDir, '--out', out, '--no-render'];
    const said: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((m: string) => void said.push(m));
    try {
      expect(await runCompose(['--melody', ABC_EXAMPLE, ...args])).toBe(0);
    } finally {
      log.mockRestore();
    }
    // The phrase alone is in no clear key (F# minor at best); its K:D says which, and it fits.
    expect(clearKey(readMidi(abcToMidi(ABC_EXAMPLE).midi).notes)).toBeUndefined();
    expect(said[0]).toContain('kept to D major');
    const file = join(out, 'ode.abc');
    writeFileSync(file, 'X:1\nT:Ode to Joy\nL:1/8\nK:D\nFFGA|AGFE|DDEF|F>EE2|\n');
    expect(await runCompose([file, ...args])).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['melody-baroque-seed5-continuation.mid', 'melody-baroque-seed5.mid', 'ode-baroque-seed5-continuation.mid', 'ode-baroque-seed5.mid', 'ode.abc']);
    for (const name of ['melody-baroque-seed5.mid', 'ode-baroque-seed5.mid']) {
      const notes = readMidi(readFileSync(join(out, name))).notes;
      expect(notes.slice(0, 15).map((n) => n.pitch)).toEqual([66, 66, 67, 69, 69, 67, 66, 64, 62, 62, 64, 66, 66, 64, 64]);
      expect(notes.length).toBeGreaterThan(15);
    }
  });

  it('renders audio and a piano roll next to the MIDI', async () => {
    const out = mkdtempSync(join(tmpdir(), 'maestro-out-'));
    const code = await runCompose([new URL('../examples/ode-to-joy.mid', import.meta.url).pathname, '--style', 'baroque', '--seconds', '3', '--seed', '5', '--models', modelsDir, '--out', out]);
    expect(code).toBe(0);
    const ogg = readFileSync(join(out, 'ode-to-joy-baroque-seed5.ogg'));
    const png = readFileSync(join(out, 'ode-to-joy-baroque-seed5.png'));
    expect(ogg.subarray(0, 4).toString()).toBe('OggS');
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });

  it('exits 2 with a message on bad input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-bad-'));
    const bad = join(dir, 'bad.mid');
    writeFileSync(bad, 'not midi at all');
    expect(await runCompose([bad, '--style', 'baroque', '--models', modelsDir, '--out', dir])).toBe(2);
    expect(await runCompose([join(dir, 'missing.mid'), '--style', 'baroque', '--models', modelsDir])).toBe(2);
    expect(await runCompose(['--seconds', '3'])).toBe(2);
    expect(await runCompose([bad, '--style', 'baroque', '--temperature', 'hot'])).toBe(2);
    const ode = new URL('../examples/ode-to-joy.mid', import.meta.url).pathname;
    expect(await runCompose([ode, '--style', 'baroque', '--key-strength', '9', '--models', modelsDir, '--out', dir])).toBe(2);
    expect(await runCompose([ode, '--style', 'baroque', '--key-strength', 'firm', '--models', modelsDir, '--out', dir])).toBe(2);
    expect(await runCompose([ode, '--style', 'baroque', '--key', 'H major', '--models', modelsDir, '--out', dir])).toBe(2);
    expect(await runCompose([new URL('../examples/ode-to-joy.mid', import.meta.url).pathname, '--style', 'nope', '--models', modelsDir, '--out', dir])).toBe(2);
    expect(await runCompose(['--melody', 'hello world', '--style', 'baroque', '--models', modelsDir, '--out', dir])).toBe(2);
    expect(await runCompose([ode, '--melody', ABC_EXAMPLE, '--style', 'baroque', '--models', modelsDir, '--out', dir])).toBe(2);
    writeFileSync(join(dir, 'empty.abc'), '');
    expect(await runCompose([join(dir, 'empty.abc'), '--style', 'baroque', '--models', modelsDir, '--out', dir])).toBe(2);
  });

  it('refuses an --out that cannot be a directory before it composes anything (exit 2, with the reason)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-outfile-'));
    const file = join(dir, 'taken');
    writeFileSync(file, 'a file, not a directory');
    const errors: string[] = [];
    const log = console.error;
    console.error = (msg: string) => errors.push(msg);
    try {
      expect(await runCompose([new URL('../examples/ode-to-joy.mid', import.meta.url).pathname, '--style', 'baroque', '--seconds', '3', '--models', modelsDir, '--out', file, '--no-render'])).toBe(2);
      expect(await runCompose([new URL('../examples/ode-to-joy.mid', import.meta.url).pathname, '--style', 'baroque', '--seconds', '3', '--models', modelsDir, '--out', join(file, 'below'), '--no-render'])).toBe(2);
    } finally {
      console.error = log;
    }
    expect(errors[0]).toContain('is a file; give a directory');
    expect(errors.join('\n')).toContain('cannot create the directory');
    expect(readFileSync(file, 'utf8')).toBe('a file, not a directory');
  });

  it.skipIf(!existsSync('/proc/self'))('refuses an --out under /proc at once (Node\'s recursive mkdir never returns there)', async () => {
    const errors: string[] = [];
    const log = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      expect(await runCompose([new URL('../examples/ode-to-joy.mid', import.meta.url).pathname, '--style', 'baroque', '--seconds', '3', '--models', modelsDir, '--out', '/proc/maestro-out/x', '--no-render'])).toBe(2);
    } finally {
      log.mockRestore();
    }
    expect(errors[0]).toBe('maestro compose: cannot create the directory /proc/maestro-out/x for --out (ENOENT)');
  }, 10_000);
});
