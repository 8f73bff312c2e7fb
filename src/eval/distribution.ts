/**
 * Distribution distance between a set of generated continuations and real music of a style: the overlap
 * Σ min(p, q) of their mean histograms (1 = identical, 0 = disjoint) for key-relative pitch classes, melodic
 * intervals and inter-onset intervals (features.ts). Key-relative pitch classes, because a continuation of
 * Für Elise is in A minor whatever the style and real pieces are in every key.
 */
import { featureHistograms, type FeatureHistograms } from './features.js';
import type { Note } from '../music/note-sequence.js';

export type HistogramName = keyof FeatureHistograms;
export const HISTOGRAMS: readonly HistogramName[] = ['pitchClass', 'interval', 'ioi'];

export function overlap(p: readonly number[], q: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += Math.min(p[i], q[i]);
  return s;
}

/** Mean of per-passage histograms (each passage counts once, however many notes it has). */
export function meanHistograms(passages: readonly (readonly Note[])[]): FeatureHistograms | undefined {
  const hs = passages.filter((p) => p.length > 1).map((p) => featureHistograms(p));
  if (hs.length === 0) return undefined;
  const avg = (name: HistogramName) => hs[0][name].map((_, i) => hs.reduce((a, h) => a + h[name][i], 0) / hs.length);
  return { pitchClass: avg('pitchClass'), interval: avg('interval'), ioi: avg('ioi') };
}

export function histogramOverlaps(a: FeatureHistograms, b: FeatureHistograms): Record<HistogramName, number> {
  return { pitchClass: overlap(a.pitchClass, b.pitchClass), interval: overlap(a.interval, b.interval), ioi: overlap(a.ioi, b.ioi) };
}
