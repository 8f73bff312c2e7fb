/**
 * FluidSynth 2.4 (WebAssembly, via js-synthesizer) in Node, with the piano SoundFont loaded once.
 *
 * js-synthesizer only works in Node when handed the Emscripten module explicitly: the libfluidsynth
 * build must be `require`d first (the `-with-libsndfile` build, which can decode the Ogg Vorbis
 * samples of an SF3), passed to `Synthesizer.initializeWithFluidSynthModule`, and only then may
 * `waitForWasmInitialized()` be awaited. Both packages are CommonJS, hence `createRequire`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Synthesizer as SynthesizerType } from 'js-synthesizer';
import { RenderError } from './errors.js';

const require = createRequire(import.meta.url);

export type Synth = SynthesizerType;
type JsSynthModule = typeof import('js-synthesizer');

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The piano shipped with the repo (see soundfonts/README.md); MAESTRO_SOUNDFONT overrides it. */
export const DEFAULT_SOUNDFONT = path.join(repoRoot, 'soundfonts', 'piano.sf3');

export const SAMPLE_RATE = 48_000;

let jsSynth: Promise<JsSynthModule> | undefined;

/** Loads and initialises the WebAssembly FluidSynth once per thread. */
export function loadFluidSynth(): Promise<JsSynthModule> {
  jsSynth ??= (async () => {
    const libfluidsynth: unknown = require('js-synthesizer/libfluidsynth');
    const mod = require('js-synthesizer') as JsSynthModule;
    mod.Synthesizer.initializeWithFluidSynthModule(libfluidsynth);
    await mod.Synthesizer.waitForWasmInitialized();
    // FluidSynth's WASM build logs warnings about stubbed file functions on every SoundFont load.
    mod.disableLogging();
    return mod;
  })();
  return jsSynth;
}

export function soundFontPath(): string {
  return process.env.MAESTRO_SOUNDFONT ?? DEFAULT_SOUNDFONT;
}

function readFont(file: string): ArrayBuffer {
  if (!existsSync(file)) {
    throw new RenderError('no-soundfont', `The piano SoundFont is missing (${file}); run npx tsx scripts/extract-piano.ts.`);
  }
  const buf = readFileSync(file);
  // readFileSync gives a Buffer that owns its ArrayBuffer for files this size; avoid a second copy.
  return buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength
    ? (buf.buffer as ArrayBuffer)
    : (buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
}

/**
 * A new synthesizer with the SoundFont loaded. Loading the piano decodes ~100 MB of Vorbis samples
 * (~2.5 s), so callers normally use `sharedSynth()` instead.
 */
export async function createSynth(file = soundFontPath()): Promise<Synth> {
  const mod = await loadFluidSynth();
  const synth = new mod.Synthesizer();
  // Chorus off: the piano sends nothing to it (CC93 defaults to 0), so it would only cost CPU.
  synth.init(SAMPLE_RATE, { chorusActive: false });
  try {
    await synth.loadSFont(readFont(file));
  } catch (err) {
    synth.close();
    if (err instanceof RenderError) throw err;
    // FluidSynth's own error says only "Error": say which file and what it should have been.
    throw new RenderError('bad-soundfont', `${file} is not a SoundFont FluidSynth can load (a .sf2 or .sf3 file)`);
  }
  return synth;
}

const usedSynths = new WeakSet<Synth>();
let shared: { file: string; synth: Promise<Synth> } | undefined;

/** The per-thread synthesizer, reset to its power-on state before each use. */
export async function sharedSynth(file = soundFontPath()): Promise<Synth> {
  if (!shared || shared.file !== file) {
    if (shared) (await shared.synth).close();
    const synth = createSynth(file);
    shared = { file, synth };
    synth.catch(() => {
      if (shared?.synth === synth) shared = undefined;
    });
  }
  const synth = await shared.synth;
  // The first use gets the synthesizer as created, so a one-off render (the CLI) is bit-exact.
  if (usedSynths.has(synth)) resetSynth(synth);
  usedSynths.add(synth);
  return synth;
}

/**
 * Silences every voice and restores controllers and programs to their initial state. A reused
 * synthesizer then renders like a fresh one up to tiny differences at a few note onsets (FluidSynth
 * voices keep some filter state across reuse; > 60 dB below the signal, see test/render.test.ts).
 * Bit-exact output needs a fresh synthesizer (`RenderOptions.freshSynth`).
 */
export function resetSynth(synth: Synth): void {
  // A system reset only releases voices (they would fade into the next render); kill them first.
  synth.midiAllSoundsOff();
  synth.midiSystemReset();
  // Voices cut off mid-sample still ring for a few ms in the filters; render them away so the
  // next piece starts from silence (bounded: 2 s at most).
  const scratch = [new Float32Array(FLUSH_BLOCK), new Float32Array(FLUSH_BLOCK)];
  for (let i = 0; i < MAX_FLUSH_BLOCKS; i++) {
    synth.render(scratch);
    if (scratch.every((ch) => ch.every((x) => Math.abs(x) < 1e-7))) break;
  }
}

const FLUSH_BLOCK = 4_800; // a multiple of FluidSynth's 64-frame block
const MAX_FLUSH_BLOCKS = 20;
