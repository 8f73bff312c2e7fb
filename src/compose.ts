/**
 * The in-process pipeline shared by the CLI and the inference worker:
 *   MIDI bytes → NoteSequence → tokens → model → tokens → NoteSequence → MIDI.
 * (Audio and the piano roll are the render module's job; see src/render/.)
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GPT } from './model/gpt.js';
import { initBackend } from './model/backend.js';
import { loadModel, readCard, readPerformance, ModelLoadError, PERFORMANCE_FILE, type ModelCard, type StylePerformance } from './model/store.js';
import { loadMemory, MEMORY_FILE } from './model/memory-store.js';
import type { StyleMemory } from './model/memory.js';
import { DEFAULT_SAMPLING, sampleBatch, sampleContinuation, type SamplingSettings } from './model/sampler.js';
import { DEFAULT_KEY_STRENGTH, defaultKeyStrength, endingGraceSec } from './model/sampling-defaults.js';
import { keyGuide, parseKey, tonicChord } from './music/key.js';
import { withDynamics } from './music/dynamics.js';
import { pedalFor } from './music/pedal.js';
import { openPromptFile, type PromptMidiFile } from './music/midi-continuation.js';
import { readMidi, writeMidi, type MidiLimits } from './music/midi.js';
import { gigaTokenizer, type Tokenizer } from './music/tokenizer.js';
import { placeAfterPrompt, type Note, type NoteSequence } from './music/note-sequence.js';
import { mixSeed } from './util/rng.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_MODELS_DIR = process.env.MAESTRO_MODELS_DIR ?? join(REPO_ROOT, 'models');

export interface ComposeRequest {
  /** The user's MIDI file; absent = improvise from nothing. */
  midi?: Uint8Array;
  /** Style name: a model directory under modelsDir (e.g. baroque, romantic, vanguard, base). */
  style: string;
  /** Seconds of continuation wanted. */
  seconds: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Apply temperature/top-k/top-p to the rhythm too (see SamplingSettings.shapeRhythm). */
  shapeRhythm?: boolean;
  /** Random seed; chosen at random (and reported) when absent. */
  seed?: number;
  /** Candidates to sample in one batch (1–4 in the bot). */
  candidates?: number;
  /** Only the last N prompt notes are shown to the model (it also keeps within its context). */
  promptNotes?: number;
  /** Mix in the style's memory of its training performances when the model has one (default true). */
  memory?: boolean;
  /** How strongly the continuation keeps to its key (0 = free; default `defaultKeyStrength`). */
  keyStrength?: number;
  /**
   * End on a tonic (default true): the tonic of the key the continuation is kept to, or, kept to none, of the key it
   * has settled in (see `endingOf`); it may run up to `endingGraceSec` longer to finish on a chord with that tonic in
   * the bass. False: stop at the requested length, wherever that falls.
   */
  endOnTonic?: boolean;
  /** Put the style's sustain pedal under the continuation when its performers use one (`performance.json`; default true). */
  pedal?: boolean;
  /** Keep to this key instead of the prompt's ("D minor", "F# major"; music/key.ts `parseKey`): for an improvisation, or to move a melody into another key. */
  key?: string;
  /** The key the prompt's notation declares (a typed melody's K: field): its key when the notes fit it (music/key.ts `clearKey`). */
  declaredKey?: string;
  modelsDir?: string;
  midiLimits?: Partial<MidiLimits>;
  /** Progress of sampling, 0..1. */
  onProgress?: (fraction: number) => void;
}

export interface ComposeSettings extends SamplingSettings {
  style: string;
  seconds: number;
  candidates: number;
  keyStrength: number;
  /** The key asked for, by its usual name; absent: the prompt's own. */
  key?: string;
  /** Whether the continuation ends on a tonic (see ComposeRequest). */
  endOnTonic: boolean;
}

export interface ComposeCandidate {
  index: number;
  /** The new notes only, starting at time 0. */
  continuation: NoteSequence;
  /** The prompt followed by the continuation, on the prompt's timeline. */
  full: NoteSequence;
  continuationMidi: Uint8Array;
  fullMidi: Uint8Array;
  tokens: number[];
}

export interface ComposeResult {
  prompt: NoteSequence | null;
  settings: ComposeSettings;
  candidates: ComposeCandidate[];
  model: { style: string; dir: string; card?: ModelCard; memory: boolean; pedal: boolean; dynamics: boolean };
  /** The key the continuation was kept to (e.g. "A minor"): the one asked for, else the prompt's; absent when free, or when none was asked for and the prompt had no clear key. */
  key?: string;
}

export class UnknownStyleError extends Error {}

/**
 * Models are loaded once per process and kept (workers serve many jobs), with their memory and performance.json,
 * but a model whose weights, memory or performance file changed on disk — an admin promoted or rolled back a style, possibly from another process — is
 * reloaded on its next use, so workers never serve a replaced model and need no restart.
 */
const loaded = new Map<string, { model: GPT; memory?: StyleMemory; performance: StylePerformance | null; version: string }>();

function weightsVersion(dir: string): string {
  // Promotion swaps whole directories, so the inode changes even if size and mtime happen to match.
  const stamp = (f: string) => {
    if (!existsSync(join(dir, f))) return '-';
    const s = statSync(join(dir, f));
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  };
  return `${stamp('weights.mtw')}/${stamp(MEMORY_FILE)}/${stamp(PERFORMANCE_FILE)}`;
}

export async function getModel(style: string, modelsDir = DEFAULT_MODELS_DIR): Promise<{ model: GPT; memory?: StyleMemory; performance: StylePerformance | null; dir: string }> {
  if (!/^[a-z0-9][a-z0-9_-]*$/i.test(style)) throw new UnknownStyleError(`"${style}" is not a style name`);
  const dir = join(modelsDir, style);
  if (!existsSync(join(dir, 'config.json'))) throw new UnknownStyleError(`there is no model for the style "${style}" (looked in ${dir})`);
  await initBackend();
  const version = weightsVersion(dir);
  let entry = loaded.get(dir);
  if (entry?.version !== version) {
    // Safe to free: a process (or compose thread) samples one request at a time, synchronously.
    entry?.model.dispose();
    const model = loadModel(dir);
    const memory = memoryOrNone(dir, style);
    entry = { model, ...(memory ? { memory } : {}), performance: stylePerformance(dir, style), version };
    loaded.set(dir, entry);
  }
  return { model: entry.model, ...(entry.memory ? { memory: entry.memory } : {}), performance: entry.performance, dir };
}

/**
 * The style's memory, or none when it has none or it is unusable: a damaged memory is the operator's to fix
 * ("maestro memory" rebuilds it), not a reason to refuse every request, so the GPT alone serves meanwhile.
 */
function memoryOrNone(dir: string, style: string): StyleMemory | undefined {
  try {
    return loadMemory(dir);
  } catch (err) {
    if (!(err instanceof ModelLoadError)) throw err;
    console.error(`maestro: the ${style} memory is unusable, composing with the GPT alone: ${err.message}`);
    return undefined;
  }
}

/**
 * How the style's performers pedal and voice their notes (`performance.json`), or none: a style without one keeps the
 * reference's simulated velocities, dry; a damaged file is reported and the same happens, as a damaged memory leaves
 * the GPT alone.
 */
function stylePerformance(dir: string, style: string): StylePerformance | null {
  try {
    return readPerformance(dir);
  } catch (err) {
    if (!(err instanceof ModelLoadError)) throw err;
    console.error(`maestro: the ${style} performance file is unusable, composing with simulated dynamics and no pedal: ${err.message}`);
    return null;
  }
}

/** Candidate k's expression (dynamics.ts) is drawn from its own stream of its seed, apart from its sampling. */
const EXPRESSION_STREAM = 0xd1a;

/**
 * A decoded continuation as the style's performers would play it: voiced and levelled from the prompt (`played`, and
 * `simulated`: the same notes as decoding gives them; dynamics.ts), then with their pedal under it unless `pedal` is
 * false. `seed` is the candidate's (mixSeed(request seed, k)).
 */
function performed(seq: NoteSequence, played: readonly Note[], simulated: readonly Note[], perf: StylePerformance | null, pedal: boolean | undefined, seed: number): NoteSequence {
  const voiced = withDynamics(seq, played, simulated, perf?.dynamics, mixSeed(seed, EXPRESSION_STREAM));
  return perf?.pedal && pedal !== false ? { ...voiced, pedals: pedalFor(perf.pedal, voiced.notes) } : voiced;
}

/** The style's memory unless the request turned it off (`memory: false`). */
function servedMemory(wanted: boolean | undefined, memory: StyleMemory | undefined): StyleMemory | undefined {
  return wanted === false ? undefined : memory;
}

export async function compose(req: ComposeRequest, tokenizer: Tokenizer = gigaTokenizer): Promise<ComposeResult> {
  const requestedKey = req.key === undefined ? undefined : parseKey(req.key);
  if (req.key !== undefined && !requestedKey) throw new RangeError(`"${req.key}" is not a key: name one like "D minor", "F# major" or "Bb major"`);
  const settings: ComposeSettings = {
    style: req.style,
    seconds: req.seconds,
    candidates: req.candidates ?? 1,
    temperature: req.temperature ?? DEFAULT_SAMPLING.temperature,
    topK: req.topK ?? DEFAULT_SAMPLING.topK,
    topP: req.topP ?? DEFAULT_SAMPLING.topP,
    ...(req.shapeRhythm ? { shapeRhythm: true } : {}),
    seed: req.seed ?? Math.floor(Math.random() * 2 ** 31),
    keyStrength: req.keyStrength ?? defaultKeyStrength(requestedKey !== undefined),
    ...(requestedKey ? { key: requestedKey.name } : {}),
    endOnTonic: req.endOnTonic ?? true,
  };
  const prompt = req.midi ? readMidi(req.midi, { ...req.midiLimits, timing: 'exact' }) : null;
  const { model, memory: styleMemory, performance: perf, dir } = await getModel(req.style, req.modelsDir);
  const memory = servedMemory(req.memory, styleMemory);
  const shown = promptNotes(prompt, req.promptNotes);
  const declaredKey = req.declaredKey === undefined ? undefined : parseKey(req.declaredKey);
  const guide = keyGuide(shown, settings.keyStrength, requestedKey, declaredKey);
  // An improvisation in a named key starts from the key's tonic chord, which is not part of the result.
  const primer = shown.length === 0 && guide && requestedKey ? tonicChord(requestedKey) : [];
  const endOn = settings.endOnTonic ? endingOf(guide) : undefined;

  const shownTokens = promptTokens(tokenizer, shown);
  // The prompt as decoding would voice it: how loud it was played against that sets the continuation's loudness.
  const simulatedPrompt = shownTokens.length > 0 ? tokenizer.decode(shownTokens).notes : [];
  const sampled = sampleContinuation(model, tokenizer, {
    ...settings,
    ...(memory ? { memory } : {}),
    ...(guide ? { pitchBias: guide.bias } : {}),
    ...(endOn !== undefined ? { endOn, endingGraceSec: endingGraceSec(settings.seconds) } : {}),
    prompt: shown.length > 0 ? shownTokens : promptTokens(tokenizer, primer),
    onProgress: req.onProgress,
  });

  // Opened once: every candidate is written into the same file.
  const promptFile = req.midi ? openPromptFile(req.midi, req.midiLimits) : null;
  const candidates = sampled.map((tokens, index) => {
    const sampledNotes = continuationSequence(tokenizer, tokens);
    const continuation = performed(primer.length > 0 ? startAtZero(sampledNotes) : sampledNotes, shown, simulatedPrompt, perf, req.pedal, mixSeed(settings.seed, index));
    const { full } = placeAfterPrompt(prompt, continuation);
    return {
      index,
      continuation,
      full,
      tokens,
      ...midiFiles(promptFile, req.style, continuation, full),
    };
  });
  return { prompt, settings, candidates, model: { style: req.style, dir, card: readCard(dir), memory: memory !== undefined, pedal: Boolean(perf?.pedal) && req.pedal !== false, dynamics: perf !== null }, ...(guide ? { key: guide.name } : {}) };
}

export interface ContinueManyRequest {
  style: string;
  /** One entry per prompt: its MIDI bytes and its seed (candidate k draws from mixSeed(seed, k), as in compose()). */
  items: readonly { midi: Uint8Array; seed: number }[];
  seconds: number;
  candidates: number;
  /** Stop a continuation after this many notes. */
  maxNotes?: number;
  modelsDir?: string;
  /** As in ComposeRequest (default true). */
  memory?: boolean;
  /** Pitch temperature (default DEFAULT_SAMPLING's; the evaluation measures others with it). */
  temperature?: number;
  /** As in ComposeRequest (default DEFAULT_KEY_STRENGTH; the evaluation measures others with it). */
  keyStrength?: number;
  /** As in ComposeRequest (default true). */
  endOnTonic?: boolean;
  /** As in ComposeRequest (default true). */
  pedal?: boolean;
}

/**
 * Continuations of many prompts in one batch (the evaluation's path): item i's candidate k is exactly what
 * compose({ midi: items[i].midi, seed: items[i].seed, candidates }) returns as candidate k, with default
 * sampling settings, only much faster than one call per prompt. Returns continuations[item][candidate].
 */
export async function continueMany(req: ContinueManyRequest, tokenizer: Tokenizer = gigaTokenizer): Promise<NoteSequence[][]> {
  const { model, memory: styleMemory, performance: perf } = await getModel(req.style, req.modelsDir);
  const memory = servedMemory(req.memory, styleMemory);
  const strength = req.keyStrength ?? DEFAULT_KEY_STRENGTH;
  const prompts = req.items.map((it) => readMidi(it.midi, { timing: 'exact' }).notes);
  const promptToks = prompts.map((notes) => promptTokens(tokenizer, notes));
  const rows = req.items.flatMap((it, i) => {
    const prompt = promptToks[i];
    const guide = keyGuide(prompts[i], strength);
    const endOn = req.endOnTonic !== false ? endingOf(guide) : undefined;
    return Array.from({ length: req.candidates }, (_, k) => ({ prompt, seed: mixSeed(it.seed, k), ...(guide ? { pitchBias: guide.bias } : {}), ...(endOn !== undefined ? { endOn } : {}) }));
  });
  const sampled = sampleBatch(model, tokenizer, {
    ...DEFAULT_SAMPLING,
    temperature: req.temperature ?? DEFAULT_SAMPLING.temperature,
    seconds: req.seconds,
    endingGraceSec: endingGraceSec(req.seconds),
    maxNotes: req.maxNotes,
    rows,
    ...(memory ? { memory } : {}),
  });
  return req.items.map((_, i) => {
    const simulated = tokenizer.decode(promptToks[i]).notes;
    return sampled.slice(i * req.candidates, (i + 1) * req.candidates).map((t, k) => performed(continuationSequence(tokenizer, t), prompts[i], simulated, perf, req.pedal, mixSeed(req.items[i]!.seed, k)));
  });
}

/**
 * How a continuation ends: on the tonic of the key it keeps to; one kept to no key (an improvisation without a named
 * key, key strength 0, a prompt without a clear key) on the tonic of the key it has itself settled in by the length
 * asked, when that is clear — a continuation that has left the prompt's key sounds finished on its own tonic, not the
 * prompt's; otherwise wherever the length falls.
 */
function endingOf(guide: { tonic: number } | undefined): number | 'own-key' {
  return guide ? guide.tonic : 'own-key';
}

/** The prompt's notes the model is shown: only its last `lastNotes` when given; none without a prompt. */
function promptNotes(prompt: NoteSequence | null, lastNotes?: number): Note[] {
  return prompt ? prompt.notes.slice(-(lastNotes ?? prompt.notes.length)) : [];
}

/** The tokens of the notes the model is shown; [] for none. */
function promptTokens(tokenizer: Tokenizer, notes: readonly Note[]): number[] {
  return notes.length === 0 ? [] : tokenizer.encode({ notes: [...notes], pedals: [], tempos: [], source: {} });
}

/**
 * The continuation on its own timeline: decoding starts the clock at the prompt's last onset, so the
 * first new note sits dt·16 ms after 0, exactly the gap the model chose after the prompt.
 */
function continuationSequence(tokenizer: Tokenizer, tokens: number[]): NoteSequence {
  const seq = tokenizer.decode([tokenizer.allowedRange('sep').lo, ...tokens]);
  return { ...seq, source: { name: 'maestro continuation' } };
}

/** The sequence moved earlier so that its first note starts at 0 (an improvisation after an unplayed primer). */
function startAtZero(seq: NoteSequence): NoteSequence {
  const first = Math.min(...seq.notes.map((n) => n.startSec));
  if (!(first > 0)) return seq;
  return { ...seq, notes: seq.notes.map((n) => ({ ...n, startSec: n.startSec - first, endSec: n.endSec - first })) };
}

/**
 * The two MIDI files of a candidate. After a prompt both are on the prompt file's own clock: the full one is the
 * user's file as sent plus a track of the continuation, the continuation alone is at the tempo and meter where the
 * prompt ended (src/music/midi-continuation.ts). An improvisation has no clock to keep: 120 bpm, one tick a millisecond.
 */
function midiFiles(promptFile: PromptMidiFile | null, style: string, continuation: NoteSequence, full: NoteSequence): { continuationMidi: Uint8Array; fullMidi: Uint8Array } {
  if (!promptFile) return { continuationMidi: writeMidi(continuation), fullMidi: writeMidi(full) };
  const trackName = `Maestro (${style})`;
  return { continuationMidi: promptFile.continuationAlone(continuation, trackName), fullMidi: promptFile.withContinuation(continuation, trackName) };
}
