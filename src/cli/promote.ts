/**
 * `maestro promote <model dir> --to <served model dir>` and `maestro rollback <served model dir>` — what `/admin promote`
 * and `/admin rollback` do, for a run trained without --promote: the model replaces the served one only if its
 * validation loss, as it would be served (with the style's memory), is not worse; the replaced one is kept as
 * `<dir>.previous`, which rollback serves again.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { initBackend } from '../model/backend.js';
import { cardValLoss, ModelLoadError, readCard, rollbackModel } from '../model/store.js';
import { cardCorpus } from '../model/card.js';
import { promote } from './train.js';
import { runSoup } from './soup.js';
import { FIRST_MODEL_BASE_WEIGHTS } from '../../training/soup.js';
import { checkModelDir, parse, UsageError } from './args.js';

const PROMOTE_HELP = `usage: maestro promote <model dir> --to <served model dir> [--data DIR] [--base DIR]

Replaces the served model (e.g. models/baroque) with the model (e.g. runs/baroque-2/model) if its validation loss is
not worse — as served: where the style has a memory, it is fitted against the candidate first and the two compared
with it; a style's first model is also tried moved toward its base, and gets its first memory. The replaced model is
kept as <served model dir>.previous.

  --to DIR      the served model directory to replace
  --data DIR    where the built corpora are, to find the memory's corpus (default data)
  --base DIR    for a style's first model: also try it moved 50 % and 80 % of the way back to this base and promote
                the best (default: base/ beside the served model's directory; "none" not to)

Exit code 0: promoted; 3: not promoted (the served model validates better); 2: bad input.
`;

const NOT_PROMOTED = 3;

const ROLLBACK_HELP = `usage: maestro rollback <served model dir>

Serves <served model dir>.previous again (kept by every promotion); the replaced model becomes the previous one, so a
second rollback undoes the first.
`;

export async function runPromote(argv: string[]): Promise<number> {
  try {
    const { values: o, positionals } = parse(argv, { to: { type: 'string' }, data: { type: 'string' }, base: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, true);
    if (o.help) {
      console.log(PROMOTE_HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one model directory to promote');
    if (!o.to) throw new UsageError('--to is required: the served model directory to replace, e.g. models/baroque');
    checkModelDir(o.to, 'to'); // before any work: a file, or a folder that is not a model, is never replaced
    const candidate = positionals[0]!;
    if (!existsSync(join(candidate, 'config.json'))) throw new UsageError(`${candidate} is not a model directory (no config.json); a training run's model is <run>/model`);
    const card = readCard(candidate);
    const loss = cardValLoss(card);
    if (!Number.isFinite(loss)) throw new UsageError(`${candidate}'s card has no validation loss to compare (valLoss128)`);
    await initBackend();
    let chosen = { dir: candidate, loss };
    // A style's first model (nothing served yet) is also tried moved toward its base, as /admin promote does.
    const base = o.base ?? join(dirname(o.to), 'base');
    const corpus = cardCorpus(card);
    if (!existsSync(join(o.to, 'config.json')) && o.base !== 'none' && existsSync(join(base, 'config.json')) && corpus) {
      for (const weight of FIRST_MODEL_BASE_WEIGHTS) {
        const moved = join(dirname(candidate), `toward-base-${weight}`);
        if ((await runSoup(['--out', moved, candidate, '--base', base, '--base-weight', String(weight), '--data', corpus])) !== 0) continue;
        const movedLoss = cardValLoss(readCard(moved));
        console.log(`${candidate} moved ${Math.round(weight * 100)} % of the way back to ${base}: validation loss ${movedLoss.toFixed(4)} (the run alone ${loss.toFixed(4)})`);
        if (movedLoss < chosen.loss) chosen = { dir: moved, loss: movedLoss };
      }
    }
    // Not promoted is an answer, not a failure; its own exit code lets a script tell.
    return promote(chosen.dir, o.to, chosen.loss, { dataDirs: [o.data ?? 'data'] }) ? 0 : NOT_PROMOTED;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`maestro promote: ${err.message}\n\n${PROMOTE_HELP}`);
      return 2;
    }
    throw err;
  }
}

export async function runRollback(argv: string[]): Promise<number> {
  try {
    const { values: o, positionals } = parse(argv, { help: { type: 'boolean', short: 'h' } }, true);
    if (o.help) {
      console.log(ROLLBACK_HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one served model directory, e.g. models/baroque');
    const dir = positionals[0]!;
    rollbackModel(dir);
    console.log(`rolled ${dir} back to its previous model; the replaced one is now ${dir}.previous (roll back again to undo)`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof ModelLoadError) {
      console.error(`maestro rollback: ${err.message}${err instanceof UsageError ? `\n\n${ROLLBACK_HELP}` : ''}`);
      return 2;
    }
    throw err;
  }
}
