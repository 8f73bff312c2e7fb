/**
 * `maestro soup --out DIR MODEL MODEL […] [--base DIR --base-weight W] [--data CORPUS] [--promote DIR]` — average
 * the weights of models fine-tuned from one pre-trained lineage (training/soup.ts), optionally move the average a
 * share of the way back to the base (WiSE-FT), validate every ingredient and the result on the corpus' val.bin
 * (128-token windows, as `maestro train` does), and save the result as a model directory. With --promote it
 * replaces the served model only if its validation loss is not worse, like a trained model.
 */
import { sha256 } from '../util/sha256.js';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../model/backend.js';
import { parameterCount } from '../model/config.js';
import { GPT } from '../model/gpt.js';
import { arraysToWeights, readCard, readConfig, roundMetric, saveModel, ModelLoadError, type ModelCard } from '../model/store.js';
import { cardCorpus } from '../model/card.js';
import { readTensorFile, type NamedArray } from '../model/tensor-file.js';
import { evaluateInThreads } from '../../training/eval-threads.js';
import {
  averageWeights, baseMixOf, checkSameArchitecture, interpolateWeights, soupOf, soupTraining, withoutBase, SoupError,
  type BaseMix, type Ingredient,
} from '../../training/soup.js';
import { parse, int, num, checkModelDir, UsageError } from './args.js';
import { promote, shellQuote } from './train.js';

const HELP = `usage: maestro soup --out DIR MODEL_DIR MODEL_DIR [MODEL_DIR …] [options]

Averages the weights of models fine-tuned from one pre-trained lineage (a "model soup"): the average of
several fine-tuning runs usually validates better than any of them. Every ingredient and the average are
validated on the corpus' val.bin, and the average is saved with a card listing its ingredients.
A soup among the ingredients counts as all of its ingredients.

  --out DIR          where to write the averaged model (replaced atomically)
  --base DIR         the pre-trained model the ingredients were fine-tuned from (needed with --base-weight,
                     and to add to a soup that was moved toward its base)
  --base-weight W    move the average this share of the way back to the base: (1 − W)·average + W·base
                     (WiSE-FT; 0 ≤ W ≤ 0.9; default: that of the soups among the ingredients, else 0)
  --data DIR         corpus whose val.bin validates them (default: the first ingredient card's corpus)
  --name NAME        model card name (default: the first ingredient's)
  --promote DIR      then replace the model in DIR if the result's validation loss is not worse, as served (with the style memory when DIR has one)
  --threads N        validation threads, one core each (default: this machine's cores)
`;

export async function runSoup(argv: string[]): Promise<number> {
  const started = Date.now();
  try {
    const { values: o, positionals: dirs } = parse(argv, {
      out: { type: 'string' }, data: { type: 'string' }, name: { type: 'string' }, promote: { type: 'string' },
      threads: { type: 'string' }, base: { type: 'string' }, 'base-weight': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    });
    if (o.help) {
      console.log(HELP);
      return 0;
    }
    if (!o.out) throw new UsageError('--out is required');
    checkModelDir(o.out, 'out');
    if (o.promote) checkModelDir(o.promote, 'promote');
    if (dirs.length === 0) throw new UsageError('give the model directories to average');
    if (new Set(dirs).size !== dirs.length) throw new UsageError('a model directory is listed twice');
    const threads = int(o.threads, 'threads', availableParallelism(), [1, 64])!;
    const configs = dirs.map((dir) => ({ name: dir, config: readConfig(dir) }));
    checkSameArchitecture(configs);
    const cards = dirs.map((dir) => readCard(dir));
    const mixes = cards.map(baseMixOf);
    const weight = num(o['base-weight'], 'base-weight', undefined, [0, 0.9]) ?? sharedWeight(dirs, mixes);
    const baseDir = o.base ?? mixes.find((m) => m)?.dir;
    if (weight > 0 && !baseDir) throw new UsageError('--base-weight needs --base: the pre-trained model the ingredients were fine-tuned from');
    if (o.base && weight === 0 && !mixes.some((m) => m)) throw new UsageError('--base is only used with --base-weight (or to add to a soup that was moved toward its base)');
    // One model alone is a soup only when it is moved toward the base (or re-moved, if it is a soup already).
    if (dirs.length < 2 && !(weight > 0 || soupOf(cards[0]))) throw new UsageError(`a soup needs at least two model directories (got ${dirs.length})`);
    if (baseDir) checkSameArchitecture([configs[0], { name: baseDir, config: readConfig(baseDir) }]);
    const corpus = o.data ?? cardCorpus(cards[0]);
    if (!corpus) throw new UsageError(`${dirs[0]}'s card names no corpus: give --data`);
    const valPath = join(corpus, 'val.bin');
    if (!existsSync(valPath)) throw new UsageError(`${corpus} has no val.bin: build it with "maestro dataset build"`);
    const others = cards.map(cardCorpus).filter((c) => c !== undefined && c !== corpus);
    if (others.length) console.error(`maestro soup: note — some ingredients were fine-tuned on other corpora (${[...new Set(others)].join(', ')}); validating on ${corpus}`);

    const backend = await initBackend();
    const val = new Uint8Array(readFileSync(valPath));
    const validate = (model: GPT) => evaluateInThreads(model, val, Math.min(128, model.config.blockSize), { threads });
    // A soup among the ingredients counts as its ingredients: soup(served soup of n, new) = uniform soup of n + 1.
    const weights = dirs.map((dir, i) => ({ name: dir, weights: readTensorFile(join(dir, 'weights.mtw')), count: soupOf(cards[i])?.length ?? 1 }));
    const base = baseDir ? readBase(baseDir) : undefined;
    const ingredients: Ingredient[] = [];
    for (const [i, dir] of dirs.entries()) {
      const model = new GPT(configs[i].config, arraysToWeights(weights[i].weights));
      const r = await validate(model);
      model.dispose();
      ingredients.push({ dir, card: cards[i], valLoss: r.loss, valAccuracy: r.accuracy });
      const counted = weights[i].count > 1 ? ` (a soup of ${weights[i].count}, weighed as ${weights[i].count} models)` : '';
      console.log(`${dir}: validation loss ${r.loss.toFixed(4)}, accuracy ${r.accuracy.toFixed(4)}${counted}`);
    }
    // A soup that was moved toward its base goes into the average as the uniform soup it was before the move.
    const unmoved = weights.map((w, i) => {
      const mix = mixes[i];
      if (!mix) return w;
      if (mix.sha256 !== base!.sha256) {
        throw new SoupError(`${w.name} was moved toward the base ${mix.dir} as it was then (weights sha256 ${mix.sha256.slice(0, 12)}…), but ${base!.dir} now holds other weights (${base!.sha256.slice(0, 12)}…): give --base the model it was moved toward`);
      }
      return { ...w, weights: withoutBase(w, base!, mix.weight) };
    });
    const models = weights.reduce((a, w) => a + w.count, 0);
    const averaged = unmoved.length > 1 ? averageWeights(unmoved) : unmoved[0].weights;
    let baseMix: BaseMix | undefined;
    let final = averaged;
    if (weight > 0) {
      const plain = new GPT(configs[0].config, arraysToWeights(averaged));
      const r = await validate(plain);
      plain.dispose();
      console.log(`average of ${models}: validation loss ${r.loss.toFixed(4)}, accuracy ${r.accuracy.toFixed(4)}`);
      final = interpolateWeights({ name: 'average', weights: averaged }, base!, weight);
      baseMix = { dir: base!.dir, weight, sha256: base!.sha256, soupValLoss128: roundMetric(r.loss) };
    }
    const soup = new GPT(configs[0].config, arraysToWeights(final));
    const val128 = await validate(soup);
    const best = Math.min(...ingredients.map((i) => i.valLoss));
    const what = baseMix ? `moved ${weight} of the way to ${baseMix.dir}` : `average of ${models}`;
    console.log(`${what}: validation loss ${val128.loss.toFixed(4)}, accuracy ${val128.accuracy.toFixed(4)} (best ingredient ${best.toFixed(4)}, ${val128.loss <= best ? 'better' : 'worse'} by ${Math.abs(best - val128.loss).toFixed(4)})`);

    const first = cards[0];
    const name = o.name ?? first?.name ?? o.out.split('/').filter(Boolean).pop()!;
    const training = soupTraining(ingredients, { command: ['maestro', 'soup', ...argv].map(shellQuote).join(' '), wallSeconds: (Date.now() - started) / 1000, backend });
    if (baseMix) training.baseMix = baseMix;
    const firstDescription = (training.soupOf as { description?: unknown }[])[0].description;
    const moved = baseMix ? `, moved ${Math.round(weight * 100)} % of the way back to its base ${baseMix.dir} (WiSE-FT)` : '';
    const card: ModelCard = {
      name,
      description: `uniform weight average ("model soup") of ${models} model${models === 1 ? '' : 's'} fine-tuned from one pre-trained lineage${moved}: ${ingredientNames(ingredients)}${typeof firstDescription === 'string' ? `; the first: ${firstDescription}` : ''}`,
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

/** The base weight the soups among the ingredients were moved by (0 if none was); they must agree. */
function sharedWeight(dirs: string[], mixes: (BaseMix | undefined)[]): number {
  const weights = new Set(mixes.map((m) => m?.weight).filter((w) => w !== undefined));
  if (weights.size > 1) throw new UsageError(`the ingredients were moved toward their base by different shares (${dirs.map((d, i) => `${d}: ${mixes[i]?.weight ?? 0}`).join(', ')}): give --base-weight`);
  return [...weights][0] ?? 0;
}

/** The base's weights, and their file's sha256, which a soup moved toward it records. */
function readBase(dir: string): { name: string; dir: string; weights: Record<string, NamedArray>; sha256: string } {
  const file = join(dir, 'weights.mtw');
  return { name: dir, dir, weights: readTensorFile(file), sha256: sha256(readFileSync(file)) };
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


