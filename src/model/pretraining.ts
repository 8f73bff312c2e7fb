/**
 * What a pre-trained base has heard: the files its corpus held out of pre-training, read from its model card, and so
 * which of a style corpus' validation files a fine-tune of it is measured on honestly. Kept free of TensorFlow.js so
 * that `maestro dataset build` can ask it.
 */
import type { ModelCard } from './card.js';

/**
 * The files a pre-trained base never trained on, from its card's corpus manifest: the styles' validation files it held
 * out, those excluded with them (same performance, content or piece) and its own validation files. Null when the card
 * is not a pre-trained base's (no held-out list).
 */
export function unheardInPretraining(card: ModelCard | undefined): string[] | null {
  const manifest = card?.data?.manifest as { settings?: { heldOutFiles?: unknown }; validationFiles?: unknown; excluded?: unknown } | null | undefined;
  const heldOut = manifest?.settings?.heldOutFiles;
  if (!Array.isArray(heldOut)) return null;
  const ids = (xs: unknown) => (Array.isArray(xs) ? xs.map((x) => (typeof x === 'string' ? x : (x as { id?: unknown } | null)?.id)).filter((x): x is string => typeof x === 'string') : []);
  return [...new Set([...ids(heldOut), ...ids(manifest?.excluded), ...ids(manifest?.validationFiles)])].sort();
}

/** What a fine-tune's card records when its base pre-trained on some of its corpus' validation files. */
export interface SeenInPretraining {
  /** The corpus whose validation files these are (its name in the manifest). */
  corpus: string;
  files: string[];
  of: number;
}

/**
 * Which of a style corpus' validation files the pre-training behind `init` did not hold out: a base pre-trained before
 * the style was added to the styles config trained on them (`maestro dataset build` holds out only the validation
 * pieces of the styles it knows), and a fine-tune's validation loss on them is then no measure of music it has not
 * seen. Read from the base's card (its corpus' held-out files), or carried over from a style model's card; null when
 * the card does not say (a model from scratch, an older card).
 */
export function seenInPretraining(init: ModelCard | undefined, corpus: Record<string, unknown> | null): SeenInPretraining | null {
  const name = corpus?.corpus;
  const validation = corpus?.validationFiles;
  if (typeof name !== 'string' || !Array.isArray(validation)) return null;
  const unheard = unheardInPretraining(init);
  if (unheard) {
    const held = new Set(unheard);
    return { corpus: name, files: validation.filter((f): f is string => typeof f === 'string' && !held.has(f)), of: validation.length };
  }
  const inherited = init?.data?.seenInPretraining as SeenInPretraining | undefined;
  return inherited?.corpus === name ? inherited : null;
}
