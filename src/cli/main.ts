#!/usr/bin/env node
/**
 * `maestro <command> …` — the offline command line. Each command lives in its own module and returns an
 * exit code: 0 ok, 1 internal failure, 2 bad input (with a message saying what was wrong).
 */
import { KnownError } from '../util/known-error.js';

type Runner = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Runner> }> = {
  train: { summary: 'train or fine-tune a model on a built corpus (checkpoints, --resume, --promote)', load: async () => (await import('./train.js')).runTrain },
  memory: { summary: 'give a style model its memory of the training performances (fits the mix on validation)', load: async () => (await import('./memory.js')).runMemory },
  performance: { summary: 'fit how each style\'s performers pedal and voice notes, for the continuation (performance.json)', load: async () => (await import('./performance.js')).runPerformance },
  promote: { summary: 'serve a trained model in place of the served one if it validates no worse (keeps the previous)', load: async () => (await import('./promote.js')).runPromote },
  rollback: { summary: 'serve a style\'s previous model again (kept by every promotion)', load: async () => (await import('./promote.js')).runRollback },
  soup: { summary: 'average the weights of fine-tunes of one base into one model (a "model soup"; --promote)', load: async () => (await import('./soup.js')).runSoup },
  eval: { summary: 'validation loss with the thesis protocol (--thesis), or the music metrics report (--report DIR)', load: async () => (await import('./eval.js')).runEval },
  compose: { summary: 'continue a MIDI file in a style (writes .mid, and .ogg/.png when rendering is available)', load: async () => (await import('./compose.js')).runCompose },
  tokens: { summary: 'print a MIDI file\'s tokens (GIGA-Piano encoding), comma-separated', load: async () => (await import('./tokens.js')).runTokens },
  render: { summary: 'play a MIDI file on the piano: Ogg Opus (and --png piano roll)', load: async () => (await import('./render.js')).runRender },
  dataset: { summary: 'build tokenized training corpora (dataset build [--thesis] ...)', load: async () => (await import('./dataset.js')).runDataset },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: maestro <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun "maestro <command> --help" for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`maestro: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await cmd.load())(rest);
  } catch (err) {
    // A known failure (a damaged model file, say) is its message; anything else is a bug, reported with its stack.
    console.error(`maestro ${name}: ${err instanceof KnownError ? err.message : ((err as Error).stack ?? String(err))}`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('src/cli/main.ts')) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
