/**
 * A "model soup" (Wortsman et al., 2022): the uniform average of the weights of several models fine-tuned
 * from one pre-trained lineage. Fine-tunes of the same base stay in one basin of the loss, so their
 * average is a model too — usually a better one than any of them (each seed memorises a little
 * differently; the average keeps what they share). Models trained apart from each other have no such
 * relation, and averaging them gives noise: the caller validates the result before serving it.
 */
import type { ModelConfig } from '../src/model/config.js';
import type { NamedArray } from '../src/model/tensor-file.js';
import { roundMetric, type ModelCard, type RunRecord, type TrainingRecord } from '../src/model/store.js';

export class SoupError extends Error {}

/**
 * How far a style's first model is tried moved back toward its base before it is promoted (`maestro promote`,
 * `/admin promote`): on a small corpus a fine-tune can forget more of what the base knows of unheard pieces than it
 * learns (session 33, classical: the base 1.460 on unheard pieces, a 600-step fine-tune 1.564, moved 80 % back 1.451).
 */
export const FIRST_MODEL_BASE_WEIGHTS: readonly number[] = [0.5, 0.8];

/** Config fields that must agree for weights to be averaged (dropout is a training setting, not shape). */
const SHAPE_FIELDS: (keyof ModelConfig)[] = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd', 'mlpDim', 'maxRelDist', 'tokenizer'];

/** Throws a SoupError naming the first field on which a config differs from the first one. */
export function checkSameArchitecture(configs: { name: string; config: ModelConfig }[]): void {
  const [first, ...rest] = configs;
  for (const other of rest) {
    for (const field of SHAPE_FIELDS) {
      if (other.config[field] !== first.config[field]) {
        throw new SoupError(`${other.name} has ${field} ${String(other.config[field])} but ${first.name} has ${String(first.config[field])}: only models of one architecture can be averaged`);
      }
    }
  }
}

type WeightSet = { name: string; weights: Record<string, NamedArray> };

/** Throws a SoupError unless every set holds the same tensor names with the same shapes as the first. */
function checkSameTensors([first, ...rest]: WeightSet[]): string[] {
  const names = Object.keys(first.weights).sort();
  for (const other of rest) {
    const otherNames = Object.keys(other.weights).sort();
    if (otherNames.join() !== names.join()) throw new SoupError(`${other.name} holds other tensors than ${first.name}`);
    for (const n of names) {
      if (other.weights[n].shape.join('x') !== first.weights[n].shape.join('x')) {
        throw new SoupError(`tensor ${n} is ${other.weights[n].shape.join('x')} in ${other.name} but ${first.weights[n].shape.join('x')} in ${first.name}`);
      }
    }
  }
  return names;
}

/**
 * Element-wise mean of tensors with the same names and shapes (accumulated in float64, stored as float32).
 * `count` weighs a set that is itself an average of that many models, so adding a model to a soup of n gives
 * the uniform soup of n + 1.
 */
export function averageWeights(sets: (WeightSet & { count?: number })[]): Record<string, NamedArray> {
  if (sets.length < 2) throw new SoupError('a soup needs at least two models');
  const names = checkSameTensors(sets);
  const first = sets[0];
  const total = sets.reduce((a, s) => a + (s.count ?? 1), 0);
  const out: Record<string, NamedArray> = {};
  for (const n of names) {
    const sum = new Float64Array(first.weights[n].data.length);
    for (const s of sets) {
      const d = s.weights[n].data;
      const w = s.count ?? 1;
      for (let i = 0; i < d.length; i++) sum[i] += w * d[i];
    }
    out[n] = { shape: first.weights[n].shape, data: Float32Array.from(sum, (x) => x / total) };
  }
  return out;
}

/**
 * from + t·(to − from), tensor by tensor. With t in [0, 1) it moves a fine-tuned model toward its base, as WiSE-FT
 * does (Wortsman et al., 2022, "Robust fine-tuning of zero-shot models"); with t > 1 it undoes such a move.
 */
export function interpolateWeights(from: WeightSet, to: WeightSet, t: number): Record<string, NamedArray> {
  const names = checkSameTensors([from, to]);
  const out: Record<string, NamedArray> = {};
  for (const n of names) {
    const [a, b] = [from.weights[n].data, to.weights[n].data];
    out[n] = { shape: from.weights[n].shape, data: Float32Array.from(a, (x, i) => x + t * (b[i] - x)) };
  }
  return out;
}

/**
 * A soup moved toward its pre-trained base: (1 − weight)·soup + weight·base. The fine-tunes remember the
 * style's 50 performances for several epochs; giving back a share of the base's weights trades a little of that
 * memory for what the base knows of piano music in general. `sha256` names the base's weights file exactly, since
 * adding to such a soup later must take the same base back out.
 */
export interface BaseMix {
  dir: string;
  weight: number;
  sha256: string;
  /** Validation loss of the soup before the move (128-token windows). */
  soupValLoss128?: number;
}

/** A card's record of the move toward the base, if the model was moved (a SoupError if the record is unusable). */
export function baseMixOf(card: ModelCard | undefined): BaseMix | undefined {
  const mix = card?.training?.baseMix as Partial<BaseMix> | undefined;
  if (!mix || mix.weight === 0) return undefined;
  if (typeof mix.weight !== 'number' || !(mix.weight > 0 && mix.weight < 1) || typeof mix.dir !== 'string' || typeof mix.sha256 !== 'string') {
    throw new SoupError(`${card!.name}'s card records a move toward its base without a usable base directory, weight and sha256 (training.baseMix)`);
  }
  return mix as BaseMix;
}

/** The uniform soup inside a model that was moved toward its base: (model − weight·base) / (1 − weight). */
export function withoutBase(model: WeightSet, base: WeightSet, weight: number): Record<string, NamedArray> {
  return interpolateWeights(base, model, 1 / (1 - weight));
}

/** One ingredient as the soup's card records it. */
export interface Ingredient {
  dir: string;
  card: ModelCard | undefined;
  valLoss: number;
  valAccuracy: number;
}

/**
 * The training section of a soup's card: which models went in (with their own validation), and as history every
 * run behind any of them — each shared run once — so the totals state all the compute the soup stands on.
 */
export function soupTraining(ingredients: Ingredient[], run: { command: string; wallSeconds: number; backend: string }): TrainingRecord {
  const history: RunRecord[] = [];
  const seen = new Set<string>();
  const add = (r: RunRecord) => {
    const key = JSON.stringify([r.model, r.steps, r.tokensSeen, r.wallSeconds, r.command ?? r.reproduce]);
    if (!seen.has(key)) {
      seen.add(key);
      history.push(r);
    }
  };
  for (const { card } of ingredients) {
    const t = card?.training;
    if (!t) continue;
    for (const h of t.history ?? []) add(h);
    add({ model: card.name, steps: t.steps, tokensSeen: t.tokensSeen, wallSeconds: t.wallSeconds, lr: t.lr, command: t.command ?? t.reproduce });
  }
  const sum = (key: 'steps' | 'tokensSeen' | 'wallSeconds') => history.reduce((a, h) => a + (h[key] ?? 0), 0);
  return {
    // A soup among the ingredients contributes its own ingredients (it was weighed by their number).
    soupOf: ingredients.flatMap((i) => soupOf(i.card) ?? [{
      dir: i.dir,
      name: i.card?.name,
      seed: i.card?.training?.seed,
      init: i.card?.training?.init,
      steps: i.card?.training?.steps,
      description: i.card?.description,
      valLoss128: roundMetric(i.valLoss),
      valAccuracy128: roundMetric(i.valAccuracy),
    }]),
    command: run.command,
    wallSeconds: Math.round(run.wallSeconds),
    backend: run.backend,
    history,
    stepsTotal: sum('steps'),
    tokensSeenTotal: sum('tokensSeen'),
    wallSecondsTotal: sum('wallSeconds') + Math.round(run.wallSeconds),
  };
}

/** The ingredients a soup's card lists, or undefined for a model that is not a soup. */
export function soupOf(card: ModelCard | undefined): Record<string, unknown>[] | undefined {
  const list = card?.training?.soupOf;
  return Array.isArray(list) && list.length > 0 ? (list as Record<string, unknown>[]) : undefined;
}
