/**
 * `maestro compose <in.mid | in.abc> --style baroque --seconds 30 [--melody ABC --temperature --top-k --top-p --seed
 *  --candidates --prompt-notes --key-strength --key --no-tonic-ending --no-memory --no-pedal --models DIR] --out <dir>`
 * Writes, per candidate, the prompt + continuation and the continuation alone as MIDI, and the audio
 * (.ogg) and piano roll (.png) when rendering is available. Without an input it improvises from nothing.
 */
import { writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { compose, UnknownStyleError, type ComposeResult } from '../compose.js';
import { MidiInputError } from '../music/midi.js';
import { ABC_EXAMPLE, abcToMidi, AbcInputError } from '../music/abc.js';
import { renderOutputs, closeRenderWorker } from '../render/index.js';
import { parse, num, int, prepareOutDir, readInputFile, UsageError } from './args.js';
import { DEFAULT_KEY_STRENGTH, DEFAULT_SAMPLING, ENDING_GRACE_MAX_SEC, ENDING_GRACE_MIN_SEC, NAMED_KEY_STRENGTH } from '../model/sampling-defaults.js';

const HELP = `usage: maestro compose [<in.mid | in.abc>] --style <name> [options]

  <in.abc>            a melody in ABC notation (as folk-tune sites publish them) instead of a MIDI file
  --melody TEXT       the same, typed on the command line, e.g. --melody "${ABC_EXAMPLE}"

  --style NAME        baroque | romantic | vanguard | base (a model directory under --models)
  --seconds S         seconds of continuation (default 30)
  --temperature T     sampling temperature on the pitch's logits (default ${DEFAULT_SAMPLING.temperature})
  --top-k K           keep the K most likely pitches (default 0 = off)
  --top-p P           nucleus sampling mass for the pitch (default ${DEFAULT_SAMPLING.topP})
  --shape-rhythm      apply temperature/top-k/top-p to the rhythm (dt, dur) too; by default the rhythm is drawn
                      from the model's own distribution (sharpening it piles notes into chords and walls)
  --seed N            random seed (default: random; printed so the result can be reproduced)
  --candidates N      continuations to sample at once (default 1)
  --prompt-notes N    only the last N notes of the input are used as the prompt
  --key-strength S    how strongly the continuation keeps to the prompt's key (default ${DEFAULT_KEY_STRENGTH}; 0 = free,
                      2 = notes outside the key about e² ≈ 7× less likely than the model would have them)
  --key "D minor"     keep to this key instead of the prompt's (an improvisation's key, or a melody moved to another);
                      its default strength is ${NAMED_KEY_STRENGTH}
  --no-tonic-ending   stop at the requested length; by default a continuation may run a quarter longer
                      (${ENDING_GRACE_MIN_SEC}–${ENDING_GRACE_MAX_SEC} s) to end on a chord with its key's tonic in the bass (the key it keeps to;
                      with none, the key it has settled in)
  --no-memory         the GPT alone, without the style's memory of its training performances
  --no-pedal          no sustain pedal under the continuation (by default romantic and vanguard get one the way
                      their performers pedal, models/<style>/performance.json; baroque is played dry)
  --models DIR        models directory (default ./models)
  --no-render         write MIDI only
  --out DIR           output directory (default out/)
`;

export async function runCompose(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parse(argv, {
      style: { type: 'string' },
      melody: { type: 'string' },
      seconds: { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      candidates: { type: 'string' },
      'prompt-notes': { type: 'string' },
      'key-strength': { type: 'string' },
      key: { type: 'string' },
      models: { type: 'string' },
      out: { type: 'string' },
      'no-render': { type: 'boolean' },
      'shape-rhythm': { type: 'boolean' },
      'no-memory': { type: 'boolean' },
      'no-pedal': { type: 'boolean' },
      'no-tonic-ending': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length > 1) throw new UsageError('give one input MIDI file');
    if (!values.style) throw new UsageError('--style is required (e.g. --style baroque)');
    const input = positionals[0];
    if (input && values.melody !== undefined) throw new UsageError('give an input file or --melody, not both');
    let midi: Uint8Array | undefined;
    let declaredKey: string | undefined; // a typed melody's K: field
    const melody = values.melody ?? (input && /\.abc$/i.test(input) ? new TextDecoder().decode(readInputFile(input)) : undefined);
    if (melody !== undefined) {
      ({ midi, key: declaredKey } = abcToMidi(melody));
    } else if (input) {
      midi = readInputFile(input);
    }
    const outDir = values.out ?? 'out';
    prepareOutDir(outDir); // before sampling: a composition must not be lost to an unwritable --out
    const started = Date.now();
    const result = await compose({
      midi,
      ...(declaredKey ? { declaredKey } : {}),
      style: values.style,
      seconds: num(values.seconds, 'seconds', 30, [1, 600])!,
      temperature: num(values.temperature, 'temperature', undefined, [0, 5]),
      topK: int(values['top-k'], 'top-k', undefined, [0, 128]),
      topP: num(values['top-p'], 'top-p', undefined, [0.01, 1]),
      seed: int(values.seed, 'seed', undefined, [0, 2 ** 31 - 1]),
      candidates: int(values.candidates, 'candidates', 1, [1, 8]),
      shapeRhythm: values['shape-rhythm'],
      promptNotes: int(values['prompt-notes'], 'prompt-notes', undefined, [1, 100_000]),
      keyStrength: num(values['key-strength'], 'key-strength', undefined, [0, 5]),
      ...(values.key === undefined ? {} : { key: values.key }),
      ...(values['no-memory'] ? { memory: false } : {}),
      ...(values['no-pedal'] ? { pedal: false } : {}),
      ...(values['no-tonic-ending'] ? { endOnTonic: false } : {}),
      modelsDir: values.models,
      // A live percentage only on a terminal; logs get the summary line below.
      onProgress: process.stderr.isTTY ? (f) => process.stderr.write(`\rsampling ${Math.round(f * 100)}%`) : undefined,
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    const written = await writeOutputs(result, outDir, input ? basename(input, extname(input)) : values.melody !== undefined ? 'melody' : 'improvisation', !values['no-render']);
    const s = result.settings;
    console.log(`composed ${result.candidates.length} candidate(s) in ${((Date.now() - started) / 1000).toFixed(1)} s — style ${s.style}${result.model.memory ? ' (with its memory)' : ''}${result.model.dynamics ? ', voiced as its performers play' : ''}${result.model.pedal ? ', with their pedal' : ''}, seed ${s.seed}, temperature ${s.temperature}, top-p ${s.topP}, top-k ${s.topK}${keyNote(result)}`);
    for (const f of written) console.log(`  ${f}`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof MidiInputError || err instanceof AbcInputError || err instanceof UnknownStyleError || err instanceof RangeError) {
      console.error(`maestro compose: ${err.message}`);
      if (err instanceof UsageError) console.error(HELP);
      return 2;
    }
    throw err;
  }
}

/** What the summary line says of the key: the one kept to, or none, and how the continuation ends. */
function keyNote(result: ComposeResult): string {
  const s = result.settings;
  if (result.key) return `, kept to ${result.key} (key strength ${s.keyStrength}${s.endOnTonic ? ', ending on its tonic' : ''})`;
  const free = s.key ? `, ${s.key} not kept (key strength 0)` : ', kept to no key';
  return `${free}${s.endOnTonic ? ', ending on the tonic of the key it settles in where that is clear' : ''}`;
}

async function writeOutputs(result: ComposeResult, outDir: string, stem: string, render: boolean): Promise<string[]> {
  const written: string[] = [];
  const s = result.settings;
  for (const c of result.candidates) {
    const base = join(outDir, `${stem}-${s.style}-seed${s.seed}${result.candidates.length > 1 ? `-c${c.index + 1}` : ''}`);
    writeFileSync(`${base}.mid`, c.fullMidi);
    writeFileSync(`${base}-continuation.mid`, c.continuationMidi);
    written.push(`${base}.mid`, `${base}-continuation.mid`);
    if (render) written.push(...(await renderFiles(result, c.index, base)));
  }
  if (render) await closeRenderWorker();
  return written;
}

/** Audio + piano roll; if rendering fails the MIDI files are already written and are never lost. */
async function renderFiles(result: ComposeResult, index: number, base: string): Promise<string[]> {
  const c = result.candidates[index];
  const s = result.settings;
  const caption = `Maestro · ${s.style}${result.key ? ` · ${result.key}` : ''} · seed ${s.seed} · temperature ${s.temperature} · top-p ${s.topP}`;
  try {
    const { ogg, png } = await renderOutputs(result.prompt, c.continuation, caption);
    writeFileSync(`${base}.ogg`, ogg);
    writeFileSync(`${base}.png`, png);
    return [`${base}.ogg`, `${base}.png`];
  } catch (err) {
    console.error(`maestro compose: rendering failed (${(err as Error).message}); the MIDI files were written`);
    return [];
  }
}
