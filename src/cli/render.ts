/**
 * `maestro render <in.mid> --out song.ogg [--png roll.png] [--max-mib N]`
 * Plays a MIDI file on the piano and writes Ogg Opus (and optionally a piano roll).
 * Exit codes: 0 ok, 1 internal failure, 2 bad input (unreadable MIDI, bad options).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { MidiInputError, readMidi } from '../music/midi.js';
import { durationSec } from '../music/note-sequence.js';
import { RenderError } from '../render/errors.js';
import { closeRenderWorker, renderOggOpusOffThread } from '../render/off-thread.js';
import { renderPianoRoll } from '../render/piano-roll.js';
import { num, parse, prepareOutFile, readInputFile, UsageError } from './args.js';

const HELP = `usage: maestro render <in.mid> --out song.ogg [--png roll.png]
  --out FILE        Ogg Opus file to write (required)
  --png FILE        also draw a piano roll (PNG, 1200x600)
  --max-mib N       keep the .ogg under N MiB by lowering the bitrate (default 10, Discord's limit)
  --soundfont FILE  SoundFont to play with (default soundfonts/piano.sf3)
`;

export async function runRender(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parse(argv, {
      out: { type: 'string', short: 'o' },
      png: { type: 'string' },
      'max-mib': { type: 'string' },
      soundfont: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one input MIDI file');
    if (!values.out) throw new UsageError('--out is required (e.g. --out song.ogg)');
    const input = positionals[0];
    const maxMiB = num(values['max-mib'], 'max-mib', 10, [0.1, 1024])!;
    if (values.soundfont && !existsSync(values.soundfont)) throw new UsageError(`no such SoundFont: ${values.soundfont}`);
    const midi = readInputFile(input);
    prepareOutFile(values.out); // before rendering: the work must not be lost to an unwritable path
    if (values.png) prepareOutFile(values.png, 'png');

    const seq = readMidi(midi, { name: basename(input), timing: 'exact' });
    const started = Date.now();
    const [audio, png] = await Promise.all([
      renderOggOpusOffThread(seq, values.soundfont ? { soundFont: values.soundfont } : {}, {
        maxBytes: Math.floor(maxMiB * 2 ** 20),
        tags: { TITLE: basename(input) },
      }),
      values.png ? renderPianoRoll({ prompt: seq, continuation: { ...seq, notes: [], pedals: [] }, caption: basename(input) }) : undefined,
    ]);
    writeFileSync(values.out, audio.bytes);
    if (values.png && png) writeFileSync(values.png, png);
    console.log(
      `${values.out}: ${durationSec(seq).toFixed(1)} s of music, ${(audio.bytes.length / 1024).toFixed(0)} KiB at ${Math.round(audio.bitrate / 1000)} kbit/s ` +
        `(render ${(audio.renderMs / 1000).toFixed(1)} s, encode ${(audio.encodeMs / 1000).toFixed(1)} s, total ${((Date.now() - started) / 1000).toFixed(1)} s)` +
        (values.png ? `; piano roll: ${values.png}` : ''),
    );
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`maestro render: ${err.message}\n\n${HELP}`);
      return 2;
    }
    if (err instanceof MidiInputError || err instanceof RenderError) {
      console.error(`maestro render: ${err.message}`);
      return 2;
    }
    throw err;
  } finally {
    await closeRenderWorker();
  }
}
