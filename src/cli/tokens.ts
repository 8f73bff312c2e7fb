/**
 * `maestro tokens <in.mid>` — print a MIDI file's GIGA-Piano tokens, comma-separated, on one line.
 * Exit codes: 0 ok, 2 bad input (unreadable path, not a usable MIDI file) with a message on stderr.
 */
import { MidiInputError, readMidi } from '../music/midi.js';
import { gigaTokenizer } from '../music/tokenizer.js';
import { parse, readInputFile, UsageError } from './args.js';

const USAGE = 'usage: maestro tokens <in.mid>\n\nPrints the file\'s tokens (GIGA-Piano encoding, vocabulary 128) separated by commas.';

export async function runTokens(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing input file' : 'give exactly one input file');
    const file = positionals[0]!;
    const bytes = readInputFile(file);
    const tokens = gigaTokenizer.encode(readMidi(bytes, { name: file }));
    process.stdout.write(`${tokens.join(',')}\n`);
    return 0;
  } catch (err) {
    if (err instanceof MidiInputError) {
      console.error(`maestro tokens: ${err.message} (${err.code})`);
      return 2;
    }
    if (err instanceof UsageError) {
      console.error(`maestro tokens: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}
