/**
 * `maestro soup --out DIR MODEL MODEL […] [--data CORPUS] [--promote DIR]` — average the weights of models
 * fine-tuned from one pre-trained lineage (training/soup.ts), validate every ingredient and the average on the
 * corpus' val.bin (128-token windows, as `maestro train` does), and save the average as a model directory.
 * With --promote it replaces the served model only if its validation loss is not worse, like a trained model.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../model/backend.js';
import { parameterCount } from '../model/config.js';
import { GPT } from '../model/gpt.js';
import { arraysToWeights, readCard, readConfig, roundMetric, saveModel, ModelLoadError, type ModelCard } from '../model/store.js';
import { readTensorFile } from '../model/tensor-file.js';
import { evaluateInThreads } from '../../training/eval-threads.js';
import { averageWeights, checkSameArchitecture, soupOf, soupTraining, SoupError, type Ingredient } from '../../training/soup.js';
import { parse, int, UsageError } from './args.js';
import { promote, shellQuote } from './train.js';

const HELP = `usage: maestro soup --out DIR MODEL_DIR MODEL_DIR [MODEL_DIR …] [options]

Averages the weights of models fine-tuned from one pre-trained lineage (a "model soup"): the average of
several fine-tuning runs usually validates better than any of them. Every ingredient and the average are
validated on the corpus' val.bin, and the average is saved with a card listing its ingredients.

  --out DIR       where to write the averaged model (replaced atomically)
  --data DIR      corpus whose val.bin validates them (default: the first ingredient card's corpus)
  --name NAME     model card name (default: the first ingredient's)
  --promote DIR   then replace the model in DIR if the average's validation loss is not worse
  --threads N     validation threads, one core each (default: this machine's cores)
`;

export async function runSoup(argv: string[]): Promise<number> {
  const started = Date.now();
  try {
    const { values: o, positionals: dirs } = parse(argv, {
      out: { type: 'string' }, data: { type: 'string' }, name: { type: 'string' }, promote: { type: 'string' },
      threads: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    });
    if (o.help) {
      console.log(HELP);
      return 0;
    }
    if (!o.out) throw new UsageError('--out is required');
    if (dirs.length < 2) throw new UsageError(`a soup needs at least two model directories (got ${dirs.length})`);
    if (new Set(dirs).size !== dirs.length) throw new UsageError('a model directory is listed twice');
    const threads = int(o.threads, 'threads', availableParallelism(), [1, 64])!;
    const configs = dirs.map((dir) => ({ name: dir, config: readConfig(dir) }));
    checkSameArchitecture(configs);
    const cards = dirs.map((dir) => readCard(dir));
    const corpus = o.data ?? corpusOf(cards[0]);
    if (!corpus) throw new UsageError(`${dirs[0]}'s card names no corpus: give --data`);
    const valPath = join(corpus, 'val.bin');
    if (!existsSync(valPath)) throw new UsageError(`${corpus} has no val.bin: build it with "maestro dataset build"`);
    const others = cards.map(corpusOf).filter((c, i) => c !== undefined && c !== corpus && i > 0);
    if (others.length) console.error(`maestro soup: note — some ingredients were fine-tuned on other corpora (${[...new Set(others)].join(', ')}); validating on ${corpus}`);

    const backend = await initBackend();
    const val = new Uint8Array(readFileSync(valPath));
    const validate = (model: GPT) => evaluateInThreads(model, val, Math.min(128, model.config.blockSize), { threads });
    // A soup among the ingredients counts as its ingredients: soup(served soup of n, new) = uniform soup of n + 1.
    const weights = dirs.map((dir, i) => ({ name: dir, weights: readTensorFile(join(dir, 'weights.mtw')), count: soupOf(cards[i])?.length ?? 1 }));
    const ingredients: Ingredient[] = [];
    for (const [i, dir] of dirs.entries()) {
      const model = new GPT(configs[i].config, arraysToWeights(weights[i].weights));
      const r = await validate(model);
      model.dispose();
      ingredients.push({ dir, card: cards[i], valLoss: r.loss, valAccuracy: r.accuracy });
      const counted = weights[i].count > 1 ? ` (a soup of ${weights[i].count}, weighed as ${weights[i].count} models)` : '';
      console.log(`${dir}: validation loss ${r.loss.toFixed(4)}, accuracy ${r.accuracy.toFixed(4)}${counted}`);
    }
    const averaged = averageWeights(weights);
    const soup = new GPT(configs[0].config, arraysToWeights(averaged));
    const val128 = await validate(soup);
    const best = Math.min(...ingredients.map((i) => i.valLoss));
    const models = weights.reduce((a, w) => a + w.count, 0);
    console.log(`average of ${models}: validation loss ${val128.loss.toFixed(4)}, accuracy ${val128.accuracy.toFixed(4)} (best ingredient ${best.toFixed(4)}, ${val128.loss <= best ? 'better' : 'worse'} by ${Math.abs(best - val128.loss).toFixed(4)})`);

    const first = cards[0];
    const name = o.name ?? first?.name ?? o.out.split('/').filter(Boolean).pop()!;
    const training = soupTraining(ingredients, { command: ['maestro', 'soup', ...argv].map(shellQuote).join(' '), wallSeconds: (Date.now() - started) / 1000, backend });
    const firstDescription = (training.soupOf as { description?: unknown }[])[0].description;
    const card: ModelCard = {
      name,
      description: `uniform weight average ("model soup") of ${models} models fine-tuned from one pre-trained lineage: ${ingredientNames(ingredients)}${typeof firstDescription === 'string' ? `; the first: ${firstDescription}` : ''}`,
      licence: first?.licence ?? 'CC BY-NC-SA 4.0 (inherits the licence of the MAESTRO/ASAP training data: non-commercial, share-alike)',
      architecture: { ...soup.config, parameters: parameterCount(soup.config) },
      ...(first?.data ? { data: first.data } : {}),
      training,
      metrics: { valLoss128: roundMetric(val128.loss), valAccuracy128: roundMetric(val128.accuracy), valWindows128: val128.windows },
    };
    // Each ingredient's training curve goes with the soup (what a trained model ships as loss-curve.png), a soup
    // ingredient's curves in its place; read before saving, since --out may be one of the ingredients.
    const curves = dirs.flatMap((dir) => ingredientCurves(dir)).map((f) => readFileSync(f));
    saveModel(o.out, soup, card);
    soup.dispose();
    curves.forEach((png, i) => writeFileSync(join(o.out!, `loss-curve-ingredient-${i + 1}.png`), png));
    console.log(`saved ${o.out}`);
    if (o.promote) promote(o.out, o.promote, val128.loss);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof ModelLoadError || err instanceof SoupError) {
      console.error(`maestro soup: ${err.message}${err instanceof UsageError ? `\n\n${HELP}` : ''}`);
      return 2;
    }
    throw err;
  }
}

/** The ingredients by name and seed, a soup's own ingredients in its place. */
function ingredientNames(ingredients: Ingredient[]): string {
  return ingredients.map((i) => soupOf(i.card)?.map((e) => describe(e.name, e.seed)).join(', ') ?? describeIngredient(i)).join(', ');
}

/** 'romantic (seed 152)': fine-tunes of one style share a name, their seeds tell them apart. */
function describe(name: unknown, seed: unknown): string {
  return `${String(name)}${typeof seed === 'number' ? ` (seed ${seed})` : ''}`;
}

function describeIngredient(i: Ingredient): string {
  return describe(i.card?.name ?? i.dir, i.card?.training?.seed);
}

/** A trained model's loss curve, or a soup's ingredient curves in order. */
function ingredientCurves(dir: string): string[] {
  const own = join(dir, 'loss-curve.png');
  if (existsSync(own)) return [own];
  const n = (f: string) => Number(/^loss-curve-ingredient-(\d+)\.png$/.exec(f)?.[1] ?? NaN);
  return readdirSync(dir).filter((f) => !Number.isNaN(n(f))).sort((a, b) => n(a) - n(b)).map((f) => join(dir, f));
}

function corpusOf(card: ModelCard | undefined): string | undefined {
  const corpus = (card?.data as { corpus?: unknown } | undefined)?.corpus;
  return typeof corpus === 'string' ? corpus : undefined;
}
