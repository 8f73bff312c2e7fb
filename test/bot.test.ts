// End to end: real discord.js bot against the fake Discord, real Redis (per-test prefix), real
// inference worker running the real pipeline on tiny random models.
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationCommandOptionType, MessageFlags, PermissionFlagsBits } from 'discord-api-types/v10';
import { BotHarness, OWNER_ID, type HarnessOptions } from './support/bot-harness.js';
import { PermissionHiddenError, TOKEN_LIFETIME_MS } from './support/fake-discord.js';
import { createTinyModelsDir } from './support/tiny-model.js';
import { realComposeService, decodeOgg } from './support/pipeline.js';
import { readMidi } from '../src/music/midi.js';
import { readCard, writeCard } from '../src/model/store.js';
import type { ComposeService, TrainingService } from '../src/queue/jobs.js';
import type { BotCommand } from '../src/bot/context.js';
import { commands } from '../commands/index.js';
import { fitContent } from '../src/bot/discord-out.js';
import { MAX_REPRODUCED_MELODY, reproduceCommand } from '../src/bot/messages.js';
import { SlashCommandBuilder } from 'discord.js';
import { DEFAULT_KEY_STRENGTH, DEFAULT_SAMPLING } from '../src/model/sampling-defaults.js';
import { VELOCITY_FEATURE_NAMES } from '../src/music/dynamics.js';

const S = ApplicationCommandOptionType.String;
const I = ApplicationCommandOptionType.Integer;
const A = ApplicationCommandOptionType.Attachment;
const B = ApplicationCommandOptionType.Boolean;
const N = ApplicationCommandOptionType.Number;
const ODE = new Uint8Array(readFileSync(new URL('../examples/ode-to-joy.mid', import.meta.url)));

let modelsDir: string;
let compose: ComposeService;
let harness: BotHarness | null = null;

beforeAll(async () => {
  modelsDir = await createTinyModelsDir(['baroque', 'romantic']);
  // A pedal for the tiny baroque model (the shipped baroque is dry), so that the pedal's way through the bot shows.
  const dynamics = { weights: Array(VELOCITY_FEATURE_NAMES.length).fill(0), level: 64 };
  writeFileSync(join(modelsDir, 'baroque', 'performance.json'), JSON.stringify({ format: 'maestro-performance/1', pedal: { pedal: { harmonyChange: 0.3, minLiftGapSec: 0.25, liftSec: 0.06 } }, dynamics: { model: dynamics } }));
  compose = await realComposeService(modelsDir);
});

afterEach(async () => {
  await harness?.cleanup();
  harness = null;
});

async function start(opts: HarnessOptions = {}): Promise<BotHarness> {
  harness = new BotHarness({ compose, ...opts });
  return harness.start();
}

function composeOptions(extra: Array<{ name: string; type: ApplicationCommandOptionType; value: string | number | boolean }> = []) {
  return [{ name: 'style', type: S, value: 'baroque' }, { name: 'seconds', type: I, value: 10 }, ...extra];
}

/** The ephemeral message a user got for an interaction (a reply or a follow-up), if any. */
function ephemeralFor(h: BotHarness, interactionId: string) {
  const msgs = [h.fake.originalMessage(interactionId), ...h.fake.followups(interactionId)];
  return msgs.find((m) => m && !m.deleted && (m.flags & MessageFlags.Ephemeral) !== 0);
}

describe('/compose end to end', () => {
  it('continues an uploaded MIDI: Ogg Opus that decodes, MIDI that parses, a piano roll, and the settings with the seed', async () => {
    const h = await start();
    const att = h.fake.addAttachment('ode-to-joy.mid', ODE);
    const i = h.fake.invokeCommand('compose', { options: composeOptions([{ name: 'midi', type: A, value: att.id }, { name: 'seed', type: I, value: 77 }]), attachments: [att] });
    const msg = await h.fake.waitFor(() => h.finalReply(i.id), 30_000, 'the composed reply');

    expect(h.fake.interactions.get(i.id)!.callbacks).toEqual([5]); // one deferral, nothing else
    expect(msg.files.map((f) => f.name)).toEqual(['maestro-baroque-77.ogg', 'maestro-baroque-77.mid', 'maestro-baroque-77.png']);
    const [ogg, mid, png] = msg.files;
    const pcm = await decodeOgg(ogg.bytes);
    expect(pcm.sampleRate).toBe(48_000);
    expect(pcm.samples).toBeGreaterThan(48_000); // more than a second of audio
    const full = readMidi(mid.bytes);
    expect(full.notes.length).toBeGreaterThan(readMidi(ODE).notes.length);
    expect(full.pedals.length).toBeGreaterThan(0); // the style's pedal under the continuation (Ode to Joy has none)
    expect(Buffer.from(png.bytes.subarray(0, 8)).toString('hex')).toBe('89504e470d0a1a0a');
    expect(msg.content).toContain('seed 77');
    expect(msg.content).toContain('/compose style:baroque seconds:10');
    // Options left out take the served defaults: what the CLI uses and the music report measures.
    expect(msg.content).toContain(`temperature:${DEFAULT_SAMPLING.temperature} top_p:${DEFAULT_SAMPLING.topP} seed:77 key_strength:${DEFAULT_KEY_STRENGTH}\``);
    expect(msg.content).toContain('in your key, C major'); // Ode to Joy's key, kept by default
    // The user saw the queue state before the result.
    expect(h.fake.events.some((e) => e.kind === 'message.edit' && String(e.detail.content).includes('queued'))).toBe(true);
    expect(h.fake.identifies.map((x) => x.intents)).toEqual([1]); // Guilds only
  });

  it('continues a melody typed in ABC notation (a tune pasted on one line), named by its title, in the key it declares', async () => {
    const h = await start();
    // The Kesh, a jig in G major without a C: its notes alone would read as D major.
    const melody = 'X: 1 T: The Kesh R: jig M: 6/8 L: 1/8 K: Gmaj |:GAG GAB|ABA ABd|edd gdd|edB dBA|GAG GAB|ABA ABd|edd gdB|AGF G3:|';
    const i = h.fake.invokeCommand('compose', { options: composeOptions([{ name: 'melody', type: S, value: melody }, { name: 'seed', type: I, value: 7 }]) });
    const msg = await h.fake.waitFor(() => h.finalReply(i.id), 30_000, 'the composed reply');
    expect(msg.content).toContain('Continuation of **The Kesh**');
    expect(msg.content).toContain('in your key, G major');
    // The reproduce line gives the melody back as typed.
    expect(msg.content).toContain(`seed:7 key_strength:1 melody:${melody}\``);
    expect(msg.files.map((f) => f.name)).toEqual(['maestro-baroque-7.ogg', 'maestro-baroque-7.mid', 'maestro-baroque-7.png']);
    const full = readMidi(msg.files[1].bytes);
    // The tune as written, its repeat played (2 × 46 notes; F sharp in G major), then the continuation after it.
    expect(full.notes.slice(0, 6).map((n) => n.pitch)).toEqual([67, 69, 67, 67, 69, 71]);
    expect(full.notes.slice(42, 46).map((n) => n.pitch)).toEqual([69, 67, 66, 67]);
    expect(full.notes.length).toBeGreaterThan(92);
    // Regenerate composes from the same stored tune, still in the key it declares.
    const regen = h.fake.clickButton(msg.id, msg.components[0].components.map((c) => c.custom_id!).find((id) => id.startsWith('mc:regen:'))!);
    const again = await h.fake.waitFor(() => h.finalReply(regen.id), 30_000, 'the regenerated piece');
    expect(again.content).toContain('Continuation of **The Kesh**');
    expect(again.content).toContain('in your key, G major');
    expect(again.content).toContain(`seed:4242 key_strength:1 melody:${melody}\``);
  });

  it('offers candidates to pick from, then regenerate and continue buttons for the kept one', async () => {
    const h = await start();
    const i = h.fake.invokeCommand('compose', { options: composeOptions([{ name: 'candidates', type: I, value: 2 }, { name: 'seed', type: I, value: 5 }, { name: 'memory', type: B, value: false }, { name: 'pedal', type: B, value: false }, { name: 'key_strength', type: N, value: 1.5 }, { name: 'key', type: S, value: 'D minor' }]) });
    const msg = await h.fake.waitFor(() => h.finalReply(i.id), 30_000, 'candidates');
    expect(msg.files.map((f) => f.name)).toEqual(['1-maestro-baroque-5.ogg', '1-maestro-baroque-5.png', '2-maestro-baroque-5.ogg', '2-maestro-baroque-5.png']);
    const pickIds = msg.components[0].components.map((c) => c.custom_id);
    expect(pickIds).toHaveLength(2);

    const pick = h.fake.clickButton(msg.id, pickIds[1]!);
    await h.fake.waitFor(() => h.fake.interactions.get(pick.id)!.callbacks.length > 0 && msg.editCount > 0 && msg.files.length === 3, 10_000, 'the kept candidate');
    expect(msg.files.map((f) => f.name)).toEqual(['2-maestro-baroque-5.ogg', '2-maestro-baroque-5.mid', '2-maestro-baroque-5.png']);
    expect(msg.content).toContain('#2: seed 5');
    expect(msg.content).toContain('seed:5 candidates:2 memory:False pedal:False key_strength:1.5 key:D minor`');
    expect(msg.content).toContain(' · without pedal');
    expect(msg.content).toContain(' · in D minor');
    expect(msg.content).toContain("without the style's memory");
    const kept = readMidi(msg.files[1].bytes);
    expect(kept.pedals).toEqual([]);
    const follow = msg.components[0].components.map((c) => c.custom_id!);
    expect(follow.map((id) => id.split(':')[1])).toEqual(['regen', 'more']);

    const more = h.fake.clickButton(msg.id, follow[1]);
    const continued = await h.fake.waitFor(() => h.finalReply(more.id), 30_000, 'the continuation of the kept candidate');
    const longer = readMidi(continued.files.find((f) => f.name.endsWith('.mid'))!.bytes);
    expect(longer.notes.length).toBeGreaterThan(kept.notes.length);
    expect(continued.content).toContain('(continued)');

    const regen = h.fake.clickButton(msg.id, follow[0]);
    const again = await h.fake.waitFor(() => h.finalReply(regen.id), 30_000, 'the regenerated piece');
    expect(again.content).toContain('seed 4242'); // a fresh seed (the harness makes it deterministic)
    expect(again.content).toContain('An improvisation'); // same prompt (none) and settings, one candidate
    expect(again.content).toContain(' · in D minor');
    expect(again.files.map((f) => f.name)).toEqual(['maestro-baroque-4242.ogg', 'maestro-baroque-4242.mid', 'maestro-baroque-4242.png']);
  });

  it('improvises without an attachment and reports a bot restart-safe delivery', async () => {
    const h = await start({ workers: 0 });
    const i = h.fake.invokeCommand('compose', { options: composeOptions() });
    await h.fake.waitFor(() => h.fake.events.some((e) => e.kind === 'message.edit' && String(e.detail.content).includes('queued')), 10_000, 'queued');
    // The bot goes down; the job finishes meanwhile; the bot comes back and still delivers.
    await h.stopBot();
    h.startWorker();
    await h.fake.waitFor(() => h.logs.some((l) => l.includes('[worker] compose')), 30_000, 'the worker to finish');
    expect(h.finalReply(i.id)).toBeUndefined();
    await h.startBot();
    const msg = await h.fake.waitFor(() => h.finalReply(i.id), 30_000, 'delivery after restart');
    expect(msg.content).toContain('An improvisation');
    expect(msg.content).not.toMatch(/ · in |key:/); // no key asked for and no prompt to keep to
  });
  it('sizes attachments to the interaction’s upload limit', async () => {
    const h = await start();
    h.fake.attachmentSizeLimit = 120_000;
    const att = h.fake.addAttachment('ode-to-joy.mid', ODE);
    const i = h.fake.invokeCommand('compose', { options: composeOptions([{ name: 'midi', type: A, value: att.id }]), attachments: [att] });
    const msg = await h.fake.waitFor(() => h.finalReply(i.id), 30_000, 'the composed reply');
    for (const f of msg.files) expect(f.bytes.length).toBeLessThanOrEqual(120_000);
    const ogg = msg.files.find((f) => f.name.endsWith('.ogg'));
    expect(ogg).toBeDefined(); // the encoder fits the audio into the limit rather than dropping it
    expect((await decodeOgg(ogg!.bytes)).samples).toBeGreaterThan(48_000);
    expect(msg.files.length === 3 || /Left out, too large/.test(msg.content)).toBe(true);
  });
});

describe('/compose refuses bad input politely', () => {
  it('a file that is not MIDI: ephemeral explanation, public placeholder removed, nothing queued', async () => {
    const h = await start();
    const att = h.fake.addAttachment('song.mid', new TextEncoder().encode('this is not a midi file at all'));
    const i = h.fake.invokeCommand('compose', { options: composeOptions([{ name: 'midi', type: A, value: att.id }]), attachments: [att] });
    const note = await h.fake.waitFor(() => ephemeralFor(h, i.id), 10_000, 'an ephemeral error');
    expect(note.content).toMatch(/can't use "song\.mid"/);
    expect(h.fake.originalMessage(i.id)!.deleted).toBe(true);
    expect(await h.bot!.ctx.queues.compose.count()).toBe(0);
  });

  it('a melody that is not ABC notation, or a melody and a file at once: a private explanation, nothing queued', async () => {
    const h = await start();
    const i1 = h.fake.invokeCommand('compose', { options: composeOptions([{ name: 'melody', type: S, value: 'play something nice' }]) });
    const n1 = await h.fake.waitFor(() => ephemeralFor(h, i1.id), 10_000, 'a melody refused');
    expect(n1.content).toMatch(/^I can't use your melody: that is not ABC notation I can read \(unknown character ignored: "p" in "play something nice", and \d+ more\); e\.g\. "L:1\/4 Q:1\/4=120 K:D FFGA\|AGFE\|DDEF\|F>EE2\|"\.$/);
    expect(h.fake.originalMessage(i1.id)!.deleted).toBe(true);

    const att = h.fake.addAttachment('ode-to-joy.mid', ODE);
    const i2 = h.fake.invokeCommand('compose', { options: composeOptions([{ name: 'midi', type: A, value: att.id }, { name: 'melody', type: S, value: 'K:D FFGA' }]), attachments: [att] });
    const n2 = await h.fake.waitFor(() => ephemeralFor(h, i2.id), 10_000, 'both refused');
    expect(n2.content).toBe('Give me a MIDI file or a melody to continue, not both.');
    expect(h.fake.cdnFetches).toEqual([]);
    expect(await h.bot!.ctx.queues.compose.count()).toBe(0);
  });

  it('an oversized attachment is refused before downloading; a lying size is caught while downloading', async () => {
    const h = await start({ env: { MAX_MIDI_BYTES: '2000' } });
    const big = h.fake.addAttachment('big.mid', new Uint8Array(5000));
    const i1 = h.fake.invokeCommand('compose', { options: composeOptions([{ name: 'midi', type: A, value: big.id }]), attachments: [big] });
    const n1 = await h.fake.waitFor(() => ephemeralFor(h, i1.id), 10_000, 'size refusal');
    expect(n1.content).toMatch(/limit/);
    expect(h.fake.cdnFetches).toEqual([]);

    const liar = h.fake.addAttachment('liar.mid', new Uint8Array(5000), { declaredSize: 100 });
    const i2 = h.fake.invokeCommand('compose', { options: composeOptions([{ name: 'midi', type: A, value: liar.id }]), attachments: [liar] });
    const n2 = await h.fake.waitFor(() => ephemeralFor(h, i2.id), 10_000, 'size refusal during download');
    expect(n2.content).toMatch(/limit/);
    expect(await h.bot!.ctx.queues.compose.count()).toBe(0);
  });

  it('out-of-range options get a clear private message', async () => {
    const h = await start({ workers: 0 });
    const i = h.fake.invokeCommand('compose', { options: [{ name: 'style', type: S, value: 'baroque' }, { name: 'seconds', type: I, value: 500 }] });
    const note = await h.fake.waitFor(() => ephemeralFor(h, i.id), 10_000, 'range error');
    expect(note.content).toBe('`seconds` must be a whole number from 10 to 120.');
  });

  it('a key that is not one of the choices (a hand-made request) gets a clear private message', async () => {
    const h = await start({ workers: 0 });
    const i = h.fake.invokeCommand('compose', { options: composeOptions([{ name: 'key', type: S, value: 'H major' }]) });
    const note = await h.fake.waitFor(() => ephemeralFor(h, i.id), 10_000, 'key error');
    expect(note.content).toBe('"H major" is not one of the keys I know; pick one from the list, e.g. D minor.');
  });

  it('never fetches an attachment from a host that is not Discord’s CDN', async () => {
    const h = await start();
    const foreign = h.fake.addAttachment('ode.mid', ODE, { host: `localhost:${h.fake.port}` });
    const i = h.fake.invokeCommand('compose', { options: composeOptions([{ name: 'midi', type: A, value: foreign.id }]), attachments: [foreign] });
    const note = await h.fake.waitFor(() => ephemeralFor(h, i.id), 10_000, 'host refusal');
    expect(note.content).toMatch(/uploaded to Discord/);
    expect(h.fake.cdnFetches).toEqual([]);
  });
});

describe('failures', () => {
  it('a transient failure is retried with backoff and the user still gets the piece', async () => {
    let calls = 0;
    const flaky: ComposeService = async (req, onProgress) => {
      calls += 1;
      if (calls === 1) throw new Error('ECONNRESET while loading the model');
      return compose(req, onProgress);
    };
    const h = await start({ compose: flaky });
    const i = h.fake.invokeCommand('compose', { options: composeOptions() });
    const msg = await h.fake.waitFor(() => h.finalReply(i.id), 30_000, 'the answer after a retry');
    expect(msg.files).toHaveLength(3);
    expect(calls).toBe(2);
    const job = await h.bot!.ctx.queues.compose.getJob(`i-${i.id}`);
    expect(job!.attemptsMade).toBe(2);
  });

  it('input that can never work (a style without a model) is not retried and is explained', async () => {
    const h = await start();
    const i = h.fake.invokeCommand('compose', { options: [{ name: 'style', type: S, value: 'vanguard' }, { name: 'seconds', type: I, value: 10 }] });
    const msg = await h.fake.waitFor(() => {
      const m = h.fake.originalMessage(i.id);
      return m && m.content.startsWith('⚠️') ? m : undefined;
    }, 30_000, 'the failure message');
    expect(msg.content).toMatch(/vanguard style is not available right now: it has no trained model yet/);
    expect(msg.content).not.toMatch(/looked in|models\//); // no server paths in Discord
    const job = await h.bot!.ctx.queues.compose.getJob(`i-${i.id}`);
    expect(await job!.getState()).toBe('failed');
    expect(job!.attemptsMade).toBe(1);
  });
});

describe('a handler that throws', () => {
  it('is caught: the user gets a private apology and the bot keeps serving', async () => {
    const boom: BotCommand = {
      data: new SlashCommandBuilder().setName('boom').setDescription('throws'),
      scope: 'global',
      execute: async () => {
        throw new TypeError('cannot read properties of undefined');
      },
    };
    const h = await start({ workers: 0, commands: [...commands, boom] });
    h.fake.commands.set('boom', { id: 'boom', name: 'boom', body: {}, guildId: null });
    const i = h.fake.invokeCommand('boom');
    const note = await h.fake.waitFor(() => ephemeralFor(h, i.id), 10_000, 'the apology');
    expect(note.content).toBe('Sorry — something went wrong on my side. Please try again.');
    expect(h.logs.some((l) => l.includes('TypeError: cannot read properties of undefined'))).toBe(true);
    const again = h.fake.invokeCommand('styles');
    await h.fake.waitFor(() => h.fake.originalMessage(again.id), 10_000, 'the next command answered');
  });
});

describe('Redis outage', () => {
  it('commands get a polite "try again" instead of hanging past Discord’s deadline, and the bot recovers', async () => {
    const h = await start({ workers: 0 });
    const redis = h.bot!.ctx.commandRedis;
    redis.disconnect();
    const i = h.fake.invokeCommand('compose', { options: composeOptions() });
    const note = await h.fake.waitFor(() => ephemeralFor(h, i.id), 10_000, 'the refusal');
    expect(note.content).toBe("I can't reach my job queue right now — please try again in a minute.");
    await redis.connect();
    const again = h.fake.invokeCommand('compose', { options: composeOptions() });
    await h.fake.waitFor(() => h.fake.events.some((e) => e.kind === 'message.edit' && e.detail.interactionId === again.id && /queued/.test(String(e.detail.content))), 10_000, 'queued after recovery');
    expect(h.fake.errors()).toEqual([]);
  });
});

describe('the reproduce line', () => {
  it('gives a typed melody back unless it is too long for a reply or would end its code span', () => {
    const settings = { style: 'baroque', seconds: 30, temperature: 0.8, topP: 0.95, seed: 1, candidates: 1, keyStrength: 1 };
    expect(reproduceCommand(settings, 3, 'K:D FFGA')).toBe('/compose style:baroque seconds:30 temperature:0.8 top_p:0.95 seed:3 key_strength:1 melody:K:D FFGA');
    expect(reproduceCommand(settings, 3, 'C'.repeat(MAX_REPRODUCED_MELODY + 1))).toBe(reproduceCommand(settings, 3));
    expect(reproduceCommand(settings, 3, 'K:C `CDE`')).toBe(reproduceCommand(settings, 3));
  });
});

describe('/help', () => {
  it("answers privately with how to compose (file, typed melody, improvisation), the options and this server's limits", async () => {
    const h = await start({ workers: 0, env: { QUEUE_MAX_PER_USER: '2', RATE_LIMIT_COUNT: '5', RATE_LIMIT_WINDOW_MS: '120000', MAX_MIDI_BYTES: '500000' } });
    const i = h.fake.invokeCommand('help');
    const msg = await h.fake.waitFor(() => h.fake.originalMessage(i.id), 10_000, 'the help reply');
    expect(msg.flags & MessageFlags.Ephemeral).not.toBe(0);
    const fields = (msg.embeds[0] as { fields: Array<{ name: string; value: string }> }).fields;
    expect(fields.map((f) => f.name)).toEqual(['Continue your melody', 'Options', 'Limits']);
    expect(fields[0].value).toContain('attach a MIDI file (up to 489 KB)');
    expect(fields[0].value).toContain('`/compose style:romantic melody:L:1/4 Q:1/4=120 K:D FFGA|AGFE|DDEF|F>EE2|`');
    expect(fields[0].value).toContain('Styles: `baroque`, `romantic`, `vanguard`.');
    expect(fields[1].value).toContain('`seconds:` 10–120 (default 30;');
    expect(fields[2].value).toMatch(/^2 pieces in progress per person, 5 commands per 2 minutes\. .*CC BY-NC-SA 4\.0/);
  });
});

describe('/styles', () => {
  it('lists the styles with their composers and model cards', async () => {
    // romantic's card as `maestro soup` writes it (only the fields /styles reads).
    const romantic = readCard(join(modelsDir, 'romantic'))!;
    writeCard(join(modelsDir, 'romantic'), { ...romantic, metrics: { valLoss128: 1.64 }, training: { soupOf: [{ dir: 'a' }, { dir: 'b' }], baseMix: { dir: 'base', weight: 0.2, sha256: 'ab' } } });
    // and a memory, as `maestro memory` writes it (only the fields /styles reads)
    writeFileSync(join(modelsDir, 'romantic', 'memory.json'), JSON.stringify({ source: { notes: 206057 }, fit: { valLoss: 1.5614, gptValLoss: 1.6349 } }));
    // and how it is played, as `maestro performance` writes it (romantic: a pedal; the tiny baroque: none, dry)
    const played = (pedal: unknown) => JSON.stringify({ format: 'maestro-performance/1', pedal: { pedal }, dynamics: { model: { weights: Array(15).fill(0), level: 64 }, fitted: { performances: 60 } } });
    writeFileSync(join(modelsDir, 'romantic', 'performance.json'), played({ harmonyChange: 0.3, minLiftGapSec: 0.25, liftSec: 0.06 }));
    const baroquePerformance = readFileSync(join(modelsDir, 'baroque', 'performance.json'));
    writeFileSync(join(modelsDir, 'baroque', 'performance.json'), played(null));
    const h = await start({ workers: 0, env: { MODELS_DIR: modelsDir } });
    const i = h.fake.invokeCommand('styles');
    const msg = await h.fake.waitFor(() => h.fake.originalMessage(i.id), 10_000, 'the styles reply');
    const fields = (msg.embeds[0] as { fields: Array<{ name: string; value: string }> }).fields;
    expect(fields.map((f) => f.name)).toEqual(['Baroque (Bach) — `baroque`', 'Romantic (Chopin) — `romantic`', 'Vanguard (Rachmaninoff) — `vanguard`']);
    expect(fields[0].value).toMatch(/Johann Sebastian Bach/);
    expect(fields[0].value).toMatch(/tiny random model for tests/);
    expect(fields[1].value).toMatch(/validation loss 1\.640 · average of 2 fine-tuning runs with 20 % of the base · remembers 206,057 notes of its training performances \(validation loss 1\.561 with it\)/);
    expect(fields[1].value).toMatch(/with it\) · played with its pianists' pedal and dynamics of 60 performances/);
    expect(fields[0].value).toMatch(/played dry, as its pianists mostly play, with their dynamics of 60 performances/);
    expect(fields[2].value).toMatch(/No model card yet/);
    writeFileSync(join(modelsDir, 'baroque', 'performance.json'), baroquePerformance);
  });

  it('says when a style\'s validation loss is optimistic, and keeps 25 long styles within what Discord accepts in one embed', async () => {
    // A style added after the base was pre-trained: maestro train recorded that the base had heard its validation files.
    const baroque = readCard(join(modelsDir, 'baroque'))!;
    writeCard(join(modelsDir, 'baroque'), { ...baroque, metrics: { valLoss128: 1.29 }, data: { ...baroque.data, seenInPretraining: { corpus: 'thesis-baroque', files: ['a', 'b'], of: 5 } } });
    const dir = mkdtempSync(join(tmpdir(), 'maestro-styles-'));
    const composers = Array.from({ length: 20 }, (_, k) => `Composer number ${k} with a rather long name, of a school`);
    const styles = [{ name: 'baroque', label: 'Baroque (Bach)', composers: ['Johann Sebastian Bach'] }, ...Array.from({ length: 24 }, (_, k) => ({ name: `added-${k}`, label: `Style ${k}`, composers }))];
    writeFileSync(join(dir, 'styles.json'), JSON.stringify({ styles }));
    try {
      const h = await start({ workers: 0, env: { MODELS_DIR: modelsDir, STYLES_FILE: join(dir, 'styles.json') } });
      const i = h.fake.invokeCommand('styles');
      const msg = await h.fake.waitFor(() => h.fake.originalMessage(i.id), 10_000, 'the styles reply');
      const fields = (msg.embeds[0] as { fields: Array<{ name: string; value: string }> }).fields;
      expect(fields).toHaveLength(25);
      expect(fields[0].value).toMatch(/validation loss 1\.290 · optimistic: its base had heard 2 of its 5 validation files/);
      expect(fields.slice(1).every((f) => f.value.endsWith('…'))).toBe(true);
      expect(h.fake.errors().filter((e) => e.detail.code === 50035)).toEqual([]);
    } finally {
      writeCard(join(modelsDir, 'baroque'), baroque);
    }
  });
});

describe('/admin', () => {
  it('is hidden from non-admins, refused to admins outside the allowlist, and queued for the owner', async () => {
    const h = await start({ workers: 0, withTrainingWorker: true, training: null });
    expect(() => h.fake.invokeCommand('admin', { subcommand: 'status' })).toThrow(PermissionHiddenError);

    const stranger = h.fake.invokeCommand('admin', { subcommand: 'train', options: [{ name: 'style', type: S, value: 'baroque' }], permissions: PermissionFlagsBits.Administrator, user: { id: '600000000000000001' } });
    const refused = await h.fake.waitFor(() => ephemeralFor(h, stranger.id), 10_000, 'refusal');
    expect(refused.content).toMatch(/Only the bot operator/);
    expect(await h.bot!.ctx.queues.training.count()).toBe(0);

    const owner = h.fake.invokeCommand('admin', { subcommand: 'train', options: [{ name: 'style', type: S, value: 'baroque' }], permissions: PermissionFlagsBits.Administrator, user: { id: OWNER_ID } });
    // No trainer in this installation: the job fails with a clear message instead of pretending.
    const answer = await h.fake.waitFor(() => {
      const m = h.fake.originalMessage(owner.id);
      return m && m.content.includes('not available') ? m : undefined;
    }, 15_000, 'training not available');
    expect(answer.content).toMatch(/train failed: Training is not available/);

    const status = h.fake.invokeCommand('admin', { subcommand: 'status', permissions: PermissionFlagsBits.Administrator, user: { id: OWNER_ID } });
    const s = await h.fake.waitFor(() => ephemeralFor(h, status.id), 10_000, 'status');
    expect(s.content).toMatch(/Compose queue/);
    expect(s.content).toMatch(/Training queue.*failed 1/);
  });
});

describe('Discord’s rules', () => {
  it('a result longer than Discord allows in a message is delivered cut to 2,000 characters, not refused on every retry', async () => {
    const long = `Rebuilt the corpora:\n${Array.from({ length: 60 }, (_, k) => `• corpus-${k}: 50 files, 482,049 training + 53,669 validation tokens`).join('\n')}`;
    expect(long.length).toBeGreaterThan(3000);
    const training: TrainingService = {
      rebuildDataset: async () => ({ summary: long }),
      train: async () => ({ summary: '' }),
      promote: async () => ({ summary: '' }),
      rollback: async () => ({ summary: '' }),
    };
    const h = await start({ workers: 0, withTrainingWorker: true, training });
    const i = h.fake.invokeCommand('admin', { subcommand: 'dataset-rebuild', options: [], permissions: PermissionFlagsBits.Administrator, user: { id: OWNER_ID } });
    const answer = await h.fake.waitFor(() => {
      const m = h.fake.originalMessage(i.id);
      return m?.content.includes('finished') ? m : undefined;
    }, 15_000, 'the rebuild summary');
    expect(answer.content.length).toBe(2000);
    expect(answer.content).toMatch(/^✅ `dataset-rebuild` finished\.\nRebuilt the corpora:\n• corpus-0: 50 files/);
    expect(answer.content.endsWith('…')).toBe(true);
    expect(h.fake.errors().filter((e) => e.detail.code === 50035)).toEqual([]);
    // Cut between characters, never inside one: an emoji is two UTF-16 units.
    const emoji = fitContent('🎹'.repeat(1500));
    expect(emoji).toBe(`${'🎹'.repeat(999)}…`);
    expect(fitContent('x'.repeat(2000))).toBe('x'.repeat(2000));
  });

  it('after ~14 minutes the result goes to a channel message instead of the expiring interaction', async () => {
    const h = await start({ workers: 0 });
    const i = h.fake.invokeCommand('compose', { options: composeOptions(), user: { id: '700000000000000001' } });
    await h.fake.waitFor(() => h.fake.events.some((e) => e.kind === 'message.edit' && String(e.detail.content).includes('queued')), 10_000, 'queued');
    h.fake.advanceClock(14.5 * 60_000);
    h.startWorker();
    const msg = await h.fake.waitFor(() => h.fake.channelMessages().find((m) => m.files.length === 3), 30_000, 'channel delivery');
    expect(msg.content).toContain('<@700000000000000001>');
    // Progress moved to one bot-owned channel message too, which now points at the result.
    await h.fake.waitFor(() => h.delivered.length > 0, 10_000, 'the delivery record');
    const others = h.fake.channelMessages().filter((m) => m !== msg);
    expect(others.map((m) => m.content)).toEqual(['<@700000000000000001> finished — see below.']);
    expect(h.finalReply(i.id)).toBeUndefined();
    // Nothing tried to use the interaction token past its lifetime.
    h.fake.advanceClock(TOKEN_LIFETIME_MS);
    expect(h.fake.errors().filter((e) => e.detail.code === 50027)).toEqual([]);
  });

  it('a bot in more guilds than one gateway session may hold shards itself and serves every shard', async () => {
    harness = new BotHarness({ compose });
    const { fake } = harness;
    fake.maxGuildsPerShard = 1; // Discord's limit is 2,500 guilds a session; two guilds make the same rule bite
    fake.maxConcurrency = 2; // both shards identify at once (real Discord: 5 s apart per bucket)
    const second = fake.addGuild({ shard: 1, numShards: 2 });
    const h = await harness.start();
    expect(h.fake.identifies.map((x) => x.shard)).toEqual([[0, 2], [1, 2]]);
    expect(h.logs.some((l) => l.includes('2 gateway shards'))).toBe(true);
    // A compose in the second shard's guild, with candidates, so that the button click comes back on that shard too.
    const i = h.fake.invokeCommand('compose', { guildId: second, options: composeOptions([{ name: 'candidates', type: I, value: 2 }, { name: 'seed', type: I, value: 9 }]) });
    const msg = await h.fake.waitFor(() => h.finalReply(i.id), 30_000, 'the reply in the second shard’s guild');
    expect(msg.channelId).toBe(h.fake.channelOf(second));
    const pick = h.fake.clickButton(msg.id, msg.components[0].components[0].custom_id!);
    expect(h.fake.events.find((e) => e.kind === 'interaction.create' && e.detail.id === pick.id)).toBeDefined();
    await h.fake.waitFor(() => msg.files.length === 3, 10_000, 'the kept candidate');
    expect(msg.files.map((f) => f.name)).toEqual(['1-maestro-baroque-9.ogg', '1-maestro-baroque-9.mid', '1-maestro-baroque-9.png']);
    // And the first shard's guild is served as before.
    const j = h.fake.invokeCommand('compose', { options: composeOptions() });
    await h.fake.waitFor(() => h.finalReply(j.id), 30_000, 'the reply in the first shard’s guild');
  });

  it('a duplicate delivery of the same interaction makes one job and one answer', async () => {
    const h = await start();
    const i = h.fake.invokeCommand('compose', { options: composeOptions() });
    h.fake.invokeCommand('compose', { options: composeOptions(), reuse: { id: i.id, token: i.token } });
    await h.fake.waitFor(() => h.finalReply(i.id), 30_000, 'the answer');
    await h.fake.waitFor(() => h.delivered.length > 0, 10_000, 'the delivery record');
    const counts = await h.bot!.ctx.queues.compose.getJobCounts('completed', 'waiting', 'active', 'failed', 'delayed');
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1);
    expect(h.fake.interactions.get(i.id)!.callbacks).toHaveLength(1);
    expect(h.delivered.filter((d) => d.jobId === `i-${i.id}`)).toHaveLength(1);
  });

  it('a burst of 30 composes from 5 users: every one is answered or politely refused', async () => {
    const h = await start({ env: { QUEUE_MAX_PER_USER: '2', QUEUE_MAX_TOTAL: '6', RATE_LIMIT_COUNT: '5' } });
    const users = ['810000000000000001', '820000000000000001', '830000000000000001', '840000000000000001', '850000000000000001'];
    const sent = Array.from({ length: 30 }, (_, k) => h.fake.invokeCommand('compose', { options: composeOptions(), user: { id: users[k % 5] } }));
    const outcome = (id: string) => (h.finalReply(id) ? 'answered' : ephemeralFor(h, id) ? 'refused' : null);
    await h.fake.waitFor(() => sent.every((i) => outcome(i.id)), 55_000, 'every burst interaction to be settled');
    const refused = sent.filter((i) => outcome(i.id) === 'refused');
    const answered = sent.filter((i) => outcome(i.id) === 'answered');
    expect(answered.length + refused.length).toBe(30);
    expect(answered.length).toBeGreaterThanOrEqual(4);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect(ephemeralFor(h, r.id)!.content).toMatch(/wait|queue is full|in progress/);
    expect(h.fake.errors()).toEqual([]);
    // With one worker, the waiting ones were told where they stand.
    expect(h.fake.events.some((e) => e.kind === 'message.edit' && /queued — position [2-9]/.test(String(e.detail.content)))).toBe(true);
  });
});
