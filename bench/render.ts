/**
 * Rendering and encoding speed, size and memory, printed (asserts nothing):
 *  - the same 60 s MIDI rendered by js-synthesizer (FluidSynth 2.4 in WebAssembly) and by native
 *    FluidSynth (`fluidsynth -F out.wav -r 48000`, Debian's package, installed here if missing),
 *    time per second of audio and their ratio (goal ≤ 1.5× native);
 *  - Ogg Opus encode time, bitrate and bytes per minute, and that 10 minutes fit into 10 MiB;
 *  - peak memory (maxRSS) of a child process that loads the piano, renders and encodes the 60 s piece;
 *  - that soundfonts/piano.sf3 renders bit-identically to the same preset in the full MuseScore
 *    General font (skipped if that font is not installed).
 * Run: `npx tsx bench/render.ts`; `bench/run.ts` calls `benchRender()`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeMidi } from '../src/music/midi.js';
import type { Note, NoteSequence } from '../src/music/note-sequence.js';
import { DEFAULT_SOUNDFONT } from '../src/render/fluidsynth.js';
import { encodeOggOpusWithInfo } from '../src/render/opus.js';
import { renderToPcm } from '../src/render/render-pcm.js';
import type { Pcm } from '../src/render/render-pcm.js';

const here = fileURLToPath(import.meta.url);
const SR = 48_000;
const FULL_FONT = '/usr/share/sounds/sf3/MuseScore_General_Full.sf3';

/** A dense 60 s two-hand texture with pedal changes: ~1000 notes, up to ~12 voices sounding. */
export function benchPiece(seconds = 60): NoteSequence {
  const notes: Note[] = [];
  const pedals: NoteSequence['pedals'] = [];
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const scale = [0, 2, 4, 5, 7, 9, 11];
  for (let bar = 0; bar * 2 < seconds; bar++) {
    const t0 = bar * 2;
    const root = [48, 53, 55, 50][bar % 4];
    for (let i = 0; i < 8; i++) {
      const t = t0 + i * 0.25;
      notes.push({ pitch: root + [0, 7, 12, 16][i % 4], velocity: 45 + Math.floor(rand() * 20), startSec: t, endSec: t + 0.5 });
    }
    for (let i = 0; i < 16; i++) {
      const t = t0 + i * 0.125;
      if (t >= seconds) break;
      const pitch = 72 + scale[Math.floor(rand() * 7)] + 12 * Math.floor(rand() * 2) - 12 * (i % 2);
      notes.push({ pitch, velocity: 55 + Math.floor(rand() * 60), startSec: t, endSec: t + 0.1 + rand() * 0.3 });
    }
    pedals.push({ startSec: t0 + 0.02, endSec: t0 + 1.95 });
  }
  notes.sort((a, b) => a.startSec - b.startSec || b.pitch - a.pitch);
  return { notes: notes.filter((n) => n.endSec <= seconds), pedals, tempos: [{ timeSec: 0, bpm: 120 }], source: { name: 'bench' } };
}

function hash(pcm: Pcm): string {
  const h = createHash('sha256');
  for (const c of pcm.channels) h.update(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
  return h.digest('hex').slice(0, 16);
}

function ensureNativeFluidsynth(): boolean {
  const has = () => spawnSync('sh', ['-c', 'command -v fluidsynth'], { encoding: 'utf8' }).status === 0;
  if (has()) return true;
  console.log('  native fluidsynth missing: apt-get install -y fluidsynth …');
  const r = spawnSync('sh', ['-c', 'DEBIAN_FRONTEND=noninteractive apt-get install -y fluidsynth >/dev/null 2>&1'], { stdio: 'inherit' });
  return r.status === 0 && has();
}

interface Timing {
  wall: number;
  cpu: number;
}

/**
 * One native fluidsynth fast render (-F), SoundFont load included. CPU time (user + sys, from
 * /usr/bin/time when present) is the fair comparison on a shared machine; wall time is printed too.
 */
function nativeRender(midi: string, wav: string): Timing {
  const args = ['-ni', '-q', '-C', '0', '-r', '48000', '-F', wav, DEFAULT_SOUNDFONT, midi];
  const t = performance.now();
  if (existsSync('/usr/bin/time')) {
    const r = spawnSync('/usr/bin/time', ['-f', 'TIME %U %S', 'fluidsynth', ...args], { encoding: 'utf8' });
    const wall = (performance.now() - t) / 1000;
    const m = /TIME ([\d.]+) ([\d.]+)/.exec(r.stderr);
    if (m) return { wall, cpu: Number(m[1]) + Number(m[2]) };
    return { wall, cpu: wall };
  }
  execFileSync('fluidsynth', args, { stdio: 'ignore' });
  const wall = (performance.now() - t) / 1000;
  return { wall, cpu: wall };
}

function best(runs: Timing[]): Timing {
  return runs.reduce((a, b) => (b.cpu < a.cpu ? b : a));
}

async function timed<T>(f: () => Promise<T>): Promise<{ value: T } & Timing> {
  const c = process.cpuUsage();
  const t = performance.now();
  const value = await f();
  const used = process.cpuUsage(c);
  return { value, wall: (performance.now() - t) / 1000, cpu: (used.user + used.system) / 1e6 };
}

function wavSeconds(file: string): number {
  // 16-bit stereo WAV: data bytes / 4 per frame (header ≈ 44 bytes).
  return (statSync(file).size - 44) / 4 / SR;
}

/** Child mode: load, render and encode the 60 s piece once, then report peak RSS. */
async function memoryChild(): Promise<void> {
  const pcm = await renderToPcm(benchPiece());
  const { bytes } = encodeOggOpusWithInfo(pcm);
  process.stdout.write(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, oggBytes: bytes.length }));
}

export async function benchRender(): Promise<void> {
  console.log('== render: FluidSynth (WASM) vs native, Ogg Opus, memory ==');
  const dir = mkdtempSync(path.join(tmpdir(), 'maestro-bench-render-'));
  try {
    const piece = benchPiece();
    const midi = path.join(dir, 'bench60.mid');
    writeFileSync(midi, writeMidi(piece));
    const tiny = path.join(dir, 'one-note.mid');
    writeFileSync(tiny, writeMidi({ ...piece, notes: [{ pitch: 60, velocity: 1, startSec: 0, endSec: 0.01 }], pedals: [] }));
    console.log(`  piece: ${piece.notes.length} notes, 60 s, ${piece.pedals.length} pedal changes`);

    // Peak memory of a fresh process doing load + render + encode of the 60 s piece. Measured first,
    // and through /usr/bin/time when present: a child's maxRSS can inherit the high-water mark of
    // the (forked) parent, which later in this bench holds ten minutes of PCM.
    const childArgs = ['--import', pathToTsxLoader(), here, '--memory-child'];
    const viaTime = existsSync('/usr/bin/time');
    const child = viaTime
      ? spawnSync('/usr/bin/time', ['-f', 'MAXRSS %M', process.execPath, ...childArgs], { encoding: 'utf8' })
      : spawnSync(process.execPath, childArgs, { encoding: 'utf8' });
    if (child.status === 0) {
      const kib = viaTime ? Number(/MAXRSS (\d+)/.exec(child.stderr)?.[1]) : (JSON.parse(child.stdout) as { maxRssKiB: number }).maxRssKiB;
      console.log(`  peak memory (maxRSS) of load + render + encode of 60 s in a fresh process: ${(kib / 1024).toFixed(0)} MiB = ${((kib * 1024) / 1e6).toFixed(0)} MB (goal < 300 MB; Node + tsx alone ≈ 75 MiB)`);
    } else {
      console.log(`  peak memory: child failed: ${child.stderr.slice(0, 300)}`);
    }

    // js-synthesizer: SoundFont load once, then the render itself (what a warm worker pays per piece).
    const load = await timed(() => renderToPcm(writeMidi({ ...piece, notes: piece.notes.slice(0, 1), pedals: [] })));
    const runs: (Timing & { value: Pcm })[] = [];
    for (let i = 0; i < 3; i++) runs.push(await timed(() => renderToPcm(piece)));
    const js = runs.reduce((a, b) => (b.cpu < a.cpu ? b : a));
    const pcm = js.value;
    const jsAudio = pcm.channels[0].length / SR;
    console.log(
      `  js-synthesizer: SoundFont load ${load.wall.toFixed(2)} s wall; render of the 60 s piece (${jsAudio.toFixed(1)} s with tail, best of 3): ` +
        `${js.cpu.toFixed(2)} s CPU, ${js.wall.toFixed(2)} s wall`,
    );

    if (ensureNativeFluidsynth()) {
      const wav = path.join(dir, 'native.wav');
      const nativeLoad = best([nativeRender(tiny, wav), nativeRender(tiny, wav)]);
      const nativeTotal = best([nativeRender(midi, wav), nativeRender(midi, wav), nativeRender(midi, wav)]);
      const nativeAudio = wavSeconds(wav);
      const native = { cpu: Math.max(1e-3, nativeTotal.cpu - nativeLoad.cpu), wall: Math.max(1e-3, nativeTotal.wall - nativeLoad.wall) };
      console.log(
        `  native fluidsynth ${nativeVersion()}: total ${nativeTotal.cpu.toFixed(2)} s CPU (${nativeTotal.wall.toFixed(2)} s wall), SoundFont load ≈ ${nativeLoad.cpu.toFixed(2)} s CPU; ` +
          `render ≈ ${native.cpu.toFixed(2)} s CPU (${native.wall.toFixed(2)} s wall), writes ${nativeAudio.toFixed(1)} s of audio`,
      );
      console.log(
        `  ratio js/native for the same MIDI, render only: ${(js.cpu / native.cpu).toFixed(2)}× CPU, ${(js.wall / native.wall).toFixed(2)}× wall (goal ≤ 1.5×); ` +
          `load + render: ${((load.cpu + js.cpu) / nativeTotal.cpu).toFixed(2)}× CPU`,
      );
    } else {
      console.log('  native fluidsynth: unavailable (apt-get failed), ratio not measured');
    }

    // Encoding.
    let t = performance.now();
    const enc = encodeOggOpusWithInfo(pcm);
    const encSec = (performance.now() - t) / 1000;
    console.log(`  Ogg Opus: encode ${encSec.toFixed(2)} s for ${jsAudio.toFixed(1)} s; ${Math.round(enc.bitrate / 1000)} kbit/s target, ${(enc.bytes.length / 1024).toFixed(0)} KiB = ${((enc.bytes.length / jsAudio) * 60 / 2 ** 20).toFixed(2)} MiB per minute`);
    const tenMin: Pcm = { sampleRate: SR, channels: pcm.channels.map((c) => {
      const out = new Float32Array(c.length * 10);
      for (let k = 0; k < 10; k++) out.set(c, k * c.length);
      return out;
    }) };
    t = performance.now();
    const big = encodeOggOpusWithInfo(tenMin, { maxBytes: 10 * 2 ** 20 });
    console.log(`  10-minute piece (${(tenMin.channels[0].length / SR / 60).toFixed(1)} min): ${(big.bytes.length / 2 ** 20).toFixed(2)} MiB at ${Math.round(big.bitrate / 1000)} kbit/s (limit 10 MiB), encode ${((performance.now() - t) / 1000).toFixed(1)} s`);

    // The extracted piano renders like the full font's preset 0:0.
    if (existsSync(FULL_FONT)) {
      const short: NoteSequence = { ...piece, notes: piece.notes.filter((n) => n.endSec <= 10), pedals: piece.pedals.filter((p) => p.endSec <= 10) };
      t = performance.now();
      const a = await renderToPcm(short, { freshSynth: true, soundFont: DEFAULT_SOUNDFONT, normalize: false });
      const b = await renderToPcm(short, { freshSynth: true, soundFont: FULL_FONT, normalize: false });
      const same = hash(a) === hash(b);
      console.log(`  piano.sf3 vs ${path.basename(FULL_FONT)} (10 s, fresh synths): ${same ? 'bit-identical' : 'DIFFERENT'} (${hash(a)} / ${hash(b)}), ${((performance.now() - t) / 1000).toFixed(1)} s`);
    } else {
      console.log(`  identity check skipped: ${FULL_FONT} not installed (apt-get install musescore-general-soundfont)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function nativeVersion(): string {
  const r = spawnSync('fluidsynth', ['--version'], { encoding: 'utf8' });
  return /runtime version ([\d.]+)/.exec(r.stdout)?.[1] ?? '';
}

function pathToTsxLoader(): string {
  const require = createRequire(import.meta.url);
  return new URL(`file://${require.resolve('tsx')}`).href;
}

if (process.argv[1] && path.resolve(process.argv[1]) === here) {
  if (process.argv.includes('--memory-child')) await memoryChild();
  else await benchRender();
}
