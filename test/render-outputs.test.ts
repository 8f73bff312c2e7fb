import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runRender } from '../src/cli/render.js';
import { writeMidi } from '../src/music/midi.js';
import type { Note, NoteSequence } from '../src/music/note-sequence.js';
import { closeRenderWorker, fromLeadIn, LEAD_IN_SEC, placeContinuation, renderOutputs, renderPianoRoll, renderToPcmOffThread } from '../src/render/index.js';

function seq(notes: Note[], pedals: NoteSequence['pedals'] = []): NoteSequence {
  return { notes, pedals, tempos: [{ timeSec: 0, bpm: 120 }], source: { name: 'test' } };
}
const prompt = seq(
  [60, 62, 64, 65, 67].map((p, i) => ({ pitch: p, velocity: 80, startSec: i * 0.5, endSec: i * 0.5 + 0.45 })),
  [{ startSec: 0, endSec: 2 }],
);
/** On its own clock, as compose() decodes it: 0 is the prompt's last onset (2.0 s). */
const continuation = seq([69, 71, 72].map((p, i) => ({ pitch: p, velocity: 40 + 40 * i, startSec: 0.5 + i * 0.5, endSec: 0.9 + i * 0.5 })));

/** What the CLI prints to console.error until restore(). */
function captureErrors(): { errors: string[]; restore: () => void } {
  const errors: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
  return { errors, restore: () => spy.mockRestore() };
}

function pngSize(png: Uint8Array): { width: number; height: number } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const dv = new DataView(png.buffer, png.byteOffset);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

/** Counts pixels whose colour is close to hue h (degrees) and clearly saturated. */
async function countHue(png: Uint8Array, hue: number): Promise<number> {
  const img = await loadImage(Buffer.from(png));
  const canvas = createCanvas(img.width, img.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const { data } = ctx.getImageData(0, 0, img.width, img.height);
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b] = [data[i] / 255, data[i + 1] / 255, data[i + 2] / 255];
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    if (max - min < 0.3) continue;
    let h = max === r ? ((g - b) / (max - min)) % 6 : max === g ? (b - r) / (max - min) + 2 : (r - g) / (max - min) + 4;
    h = (h * 60 + 360) % 360;
    if (Math.abs(h - hue) < 15) n++;
  }
  return n;
}

afterAll(async () => {
  await closeRenderWorker();
});

describe('placeContinuation', () => {
  it('moves a continuation on its own clock to after the prompt', () => {
    const { full, added } = placeContinuation(prompt, continuation);
    expect(full.notes).toHaveLength(8);
    expect(added.notes.map((n) => n.startSec)).toEqual([2.5, 3, 3.5]);
    expect(full.pedals).toEqual(prompt.pedals);
  });

  it('recognises a continuation that already contains the prompt (ComposeCandidate.full)', () => {
    const { full: whole } = placeContinuation(prompt, continuation);
    const { full, added } = placeContinuation(prompt, whole);
    expect(full).toBe(whole);
    expect(added.notes.map((n) => n.pitch)).toEqual([69, 71, 72]);
  });

  it('without a prompt the continuation is the whole piece', () => {
    expect(placeContinuation(null, continuation).full).toBe(continuation);
  });
});

/** Seconds of audio in an Ogg Opus file: the last page's granule position (48 kHz samples), less the pre-skip. */
function oggSeconds(ogg: Uint8Array): number {
  const dv = new DataView(ogg.buffer, ogg.byteOffset, ogg.byteLength);
  let last = -1;
  for (let i = 0; i + 4 <= ogg.length; i++) if (ogg[i] === 0x4f && ogg[i + 1] === 0x67 && ogg[i + 2] === 0x67 && ogg[i + 3] === 0x53) last = i;
  const preSkip = dv.getUint16(28 + 10, true); // OpusHead follows the first page's 28-byte header; pre-skip at offset 10
  return (Number(dv.getBigInt64(last + 6, true)) - preSkip) / 48_000;
}

describe('fromLeadIn', () => {
  // A 100-s prompt, one note a second, the pedal down over 60-80 s; the continuation on its own clock.
  const long = seq(
    Array.from({ length: 100 }, (_, i) => ({ pitch: 60 + (i % 12), velocity: 70, startSec: i, endSec: i + 0.9 })),
    [{ startSec: 60, endSec: 80 }],
  );
  it('keeps the last LEAD_IN_SEC of a long prompt before the continuation, moved to start at 0', () => {
    const placed = placeContinuation(long, continuation);
    const r = fromLeadIn(long, placed.full, placed.added, LEAD_IN_SEC);
    expect(r.fromSec).toBe(99 - LEAD_IN_SEC);
    expect(r.prompt!.notes.map((n) => n.startSec)).toEqual(Array.from({ length: LEAD_IN_SEC + 1 }, (_, i) => i));
    expect(r.prompt!.pedals).toEqual([{ startSec: 0, endSec: 80 - r.fromSec }]);
    expect(r.added.notes.map((n) => n.startSec)).toEqual(placed.added.notes.map((n) => n.startSec - r.fromSec));
    expect(r.full.notes).toHaveLength(LEAD_IN_SEC + 1 + continuation.notes.length);
  });
  it('leaves a prompt shorter than that whole, and an improvisation as it is', () => {
    const placed = placeContinuation(prompt, continuation);
    expect(fromLeadIn(prompt, placed.full, placed.added, LEAD_IN_SEC)).toEqual({ prompt, full: placed.full, added: placed.added, fromSec: 0 });
    expect(fromLeadIn(null, continuation, continuation, LEAD_IN_SEC)).toEqual({ prompt: null, full: continuation, added: continuation, fromSec: 0 });
  });
  it("renderOutputs' audio is the lead-in and the continuation, not the whole upload", async () => {
    const { ogg } = await renderOutputs(long, continuation, 'lead-in');
    // From 69 s: 30 s of prompt up to its last onset, then the continuation (last note off 1.9 s later), then the release.
    expect(oggSeconds(ogg)).toBeGreaterThan(LEAD_IN_SEC + 1.9);
    expect(oggSeconds(ogg)).toBeLessThan(LEAD_IN_SEC + 1.9 + 3);
    const whole = await renderOutputs(long, continuation, 'lead-in', { leadInSec: Infinity });
    expect(oggSeconds(whole.ogg)).toBeGreaterThan(99 + 1.9);
  });
});

describe('renderPianoRoll', () => {
  it('draws a 1200×600 PNG with prompt and continuation in different colours', async () => {
    const { added } = placeContinuation(prompt, continuation);
    const png = await renderPianoRoll({ prompt, continuation: added, caption: 'Maestro · baroque · seed 1' });
    expect(pngSize(png)).toEqual({ width: 1200, height: 600 });
    expect(await countHue(png, 212)).toBeGreaterThan(500); // prompt blue
    expect(await countHue(png, 36)).toBeGreaterThan(300); // continuation amber
    const alone = await renderPianoRoll({ continuation: added, caption: 'no prompt' });
    expect(await countHue(alone, 212)).toBe(0);
  });
});

describe('off-thread rendering', () => {
  it('renders on the worker without blocking the main thread, and revives typed errors', async () => {
    // 20 s of music, so that the render takes a while even on a worker another test has already warmed up.
    const piece = seq(Array.from({ length: 80 }, (_, i) => ({ pitch: 48 + (i % 24), velocity: 80, startSec: i * 0.25, endSec: i * 0.25 + 0.5 })));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    const pcm = await renderToPcmOffThread(piece);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(pcm.sampleRate).toBe(48_000);
    expect(pcm.channels[0].length).toBeGreaterThan(20 * 48_000);
    // The event loop kept running while the worker rendered: a timer every 5 ms fired through most of it.
    expect(elapsed).toBeGreaterThan(50);
    expect(ticks).toBeGreaterThan(elapsed / 5 / 3);
    await expect(renderToPcmOffThread(seq([]))).rejects.toMatchObject({ name: 'RenderError', code: 'empty' });
    await expect(renderToPcmOffThread(new Uint8Array([0, 1, 2]))).rejects.toMatchObject({ name: 'MidiInputError' });
  });

  it('renderOutputs gives an Ogg Opus file and a PNG', async () => {
    const { ogg, png } = await renderOutputs(prompt, continuation, 'Maestro · test');
    expect(new TextDecoder().decode(ogg.subarray(0, 4))).toBe('OggS');
    expect(new TextDecoder().decode(ogg.subarray(28, 36))).toBe('OpusHead');
    expect(pngSize(png)).toEqual({ width: 1200, height: 600 });
  });
});

describe('maestro render', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'maestro-render-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes .ogg and .png for a good MIDI file', async () => {
    const mid = path.join(dir, 'in.mid');
    writeFileSync(mid, writeMidi(prompt));
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const code = await runRender([mid, '--out', path.join(dir, 'out.ogg'), '--png', path.join(dir, 'roll.png')]);
    log.mockRestore();
    expect(code).toBe(0);
    expect(new TextDecoder().decode(readFileSync(path.join(dir, 'out.ogg')).subarray(0, 4))).toBe('OggS');
    expect(existsSync(path.join(dir, 'roll.png'))).toBe(true);
  });

  it('exits 2 with the MIDI error message for a bad file, and for bad usage', async () => {
    const bad = path.join(dir, 'bad.mid');
    writeFileSync(bad, 'this is not midi');
    const { errors, restore } = captureErrors();
    expect(await runRender([bad, '--out', path.join(dir, 'x.ogg')])).toBe(2);
    expect(errors.join('\n')).toMatch(/isn't a MIDI file/);
    expect(await runRender([bad])).toBe(2);
    expect(await runRender([path.join(dir, 'missing.mid'), '--out', 'x.ogg'])).toBe(2);
    restore();
    expect(existsSync(path.join(dir, 'x.ogg'))).toBe(false);
  });

  it('refuses an output path it could not write before rendering (exit 2, with the reason)', async () => {
    const mid = path.join(dir, 'in.mid');
    writeFileSync(mid, writeMidi(prompt));
    const taken = path.join(dir, 'taken');
    writeFileSync(taken, 'a file');
    const { errors, restore } = captureErrors();
    expect(await runRender([mid, '--out', dir])).toBe(2);
    expect(await runRender([mid, '--out', path.join(taken, 'song.ogg')])).toBe(2);
    expect(await runRender([mid, '--out', path.join(dir, 'ok.ogg'), '--png', path.join(taken, 'roll.png')])).toBe(2);
    restore();
    expect(errors[0]).toContain('is a directory; give a file name');
    expect(errors[1]).toContain('is a file; give a directory');
    expect(errors[2]).toContain('--png');
    expect(existsSync(path.join(dir, 'ok.ogg'))).toBe(false);
  });

  it('a --soundfont that is not a SoundFont is a one-line error naming it (exit 2)', async () => {
    const mid = path.join(dir, 'in.mid');
    writeFileSync(mid, writeMidi(prompt));
    const fake = path.join(dir, 'fake.sf2');
    writeFileSync(fake, 'not a soundfont at all');
    const { errors, restore } = captureErrors();
    expect(await runRender([mid, '--out', path.join(dir, 'sf.ogg'), '--soundfont', fake])).toBe(2);
    restore();
    expect(errors[0]).toBe(`maestro render: ${fake} is not a SoundFont FluidSynth can load (a .sf2 or .sf3 file)`);
    expect(existsSync(path.join(dir, 'sf.ogg'))).toBe(false);
  });
});
