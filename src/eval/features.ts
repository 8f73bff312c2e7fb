/**
 * Musical features of a passage (a NoteSequence clip), used by the style classifier and the distribution
 * distances. Everything is key-relative or key-free: the generated continuations inherit the prompt's key, so a
 * classifier that learnt "Bach pieces are often in C" would score the prompt's key, not the style.
 *
 * What was chosen and why (measured by grouped cross-validation in `train-classifier.ts`, see the model card):
 * - pitch-class profile rotated to the estimated tonic + mode + key clarity: tonal vocabulary (chromaticism is
 *   what separates Rachmaninoff from Bach most);
 * - harmonic interval classes inside chords: dissonance/voicing (vanguard's dense, 2nd/7th-rich chords);
 * - melodic intervals of the top line (skyline) and of the raw onset-ordered note stream (what the model sees);
 * - inter-onset-interval histogram and log statistics, durations: rhythm and articulation (baroque's even
 *   running notes vs rubato);
 * - polyphony, chord size, register, density: texture.
 * Tried and dropped (no gain in grouped cross-validation, 75.9 % vs 75.7 % balanced, and worse on the validation
 * pieces): pitch-class entropy, non-diatonic share, chord span, tertian-chord share, articulation (duration/IOI),
 * density variation, deep-bass share; bass-line intervals (75.1 % vs 76.8 % on 30 s clips); also 30 instead of
 * 12 clips per performance. 30 s clips beat 25 s ones (76.8 % vs 75.8 %).
 * Velocity is deliberately absent: the GIGA vocabulary does not encode it and its decoder derives velocity from
 * pitch, so generated velocities carry no information and real ones would only teach the classifier "is real".
 */
import type { Note } from '../music/note-sequence.js';
import { estimateKeyFromProfile, pitchClassDurations } from '../music/key.js';

/** Notes whose onsets lie within this many seconds are heard as one chord (performed chords are spread). */
export const CHORD_ONSET_TOLERANCE_SEC = 0.035;

const IOI_EDGES_SEC = [0.07, 0.14, 0.25, 0.5, 1.0];
const MAX_MELODIC_INTERVAL = 12;

export interface FeatureHistograms {
  /** Duration-weighted pitch classes, rotated so the estimated tonic is index 0; sums to 1 (or all 0). */
  pitchClass: number[];
  /** |Δpitch| between consecutive notes in onset order: 0..12, 13..24, >24; sums to 1. */
  interval: number[];
  /** Inter-onset intervals of chord groups, bins split at IOI_EDGES_SEC; sums to 1. */
  ioi: number[];
}

export interface FeatureVector {
  names: string[];
  values: number[];
}

function normalise(h: number[]): number[] {
  const s = h.reduce((a, b) => a + b, 0);
  return s > 0 ? h.map((x) => x / s) : h.map(() => 0);
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / xs.length);
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i];
}

/** Notes grouped into chords: consecutive onsets within CHORD_ONSET_TOLERANCE_SEC of the group's first note. */
export function onsetGroups(notes: readonly Note[]): Note[][] {
  const sorted = [...notes].sort((a, b) => a.startSec - b.startSec || b.pitch - a.pitch);
  const groups: Note[][] = [];
  for (const n of sorted) {
    const g = groups[groups.length - 1];
    if (g && n.startSec - g[0].startSec <= CHORD_ONSET_TOLERANCE_SEC) g.push(n);
    else groups.push([n]);
  }
  return groups;
}

function ioiBin(ioi: number): number {
  let b = 0;
  while (b < IOI_EDGES_SEC.length && ioi >= IOI_EDGES_SEC[b]) b++;
  return b;
}

export function featureHistograms(notes: readonly Note[]): FeatureHistograms {
  const profile = pitchClassDurations(notes);
  const key = estimateKeyFromProfile(profile);
  const pitchClass = normalise(profile.map((_, i) => profile[(i + key.tonic) % 12]));

  const ordered = [...notes].sort((a, b) => a.startSec - b.startSec || b.pitch - a.pitch);
  const interval = new Array<number>(MAX_MELODIC_INTERVAL + 3).fill(0);
  for (let i = 1; i < ordered.length; i++) {
    const d = Math.abs(ordered[i].pitch - ordered[i - 1].pitch);
    interval[d <= MAX_MELODIC_INTERVAL ? d : d <= 24 ? MAX_MELODIC_INTERVAL + 1 : MAX_MELODIC_INTERVAL + 2]++;
  }

  const groups = onsetGroups(notes);
  const ioi = new Array<number>(IOI_EDGES_SEC.length + 1).fill(0);
  for (let i = 1; i < groups.length; i++) ioi[ioiBin(groups[i][0].startSec - groups[i - 1][0].startSec)]++;

  return { pitchClass, interval: normalise(interval), ioi: normalise(ioi) };
}

/** Time-averaged number of sounding notes, sampled every 50 ms over [0, span). */
function polyphonyStats(notes: readonly Note[], span: number): { mean: number; p95: number; silentShare: number } {
  const step = 0.05;
  const bins = Math.max(1, Math.ceil(span / step));
  const diff = new Float64Array(bins + 1);
  for (const n of notes) {
    const a = Math.max(0, Math.floor(n.startSec / step));
    const b = Math.min(bins, Math.max(a + 1, Math.ceil(n.endSec / step)));
    if (a >= bins) continue;
    diff[a] += 1;
    diff[b] -= 1;
  }
  const counts: number[] = [];
  let c = 0;
  for (let i = 0; i < bins; i++) {
    c += diff[i];
    counts.push(c);
  }
  const sorted = [...counts].sort((x, y) => x - y);
  return { mean: mean(counts), p95: quantile(sorted, 0.95), silentShare: counts.filter((x) => x === 0).length / bins };
}

/**
 * The classifier's feature vector for one clip. `spanSec` is the clip's nominal length (densities are per
 * second of it); notes are expected to start at ≥ 0.
 */
export function extractFeatures(notes: readonly Note[], spanSec: number): FeatureVector {
  const names: string[] = [];
  const values: number[] = [];
  const push = (name: string, v: number) => {
    names.push(name);
    values.push(Number.isFinite(v) ? v : 0);
  };
  const span = Math.max(spanSec, 1e-3);

  const profile = pitchClassDurations(notes);
  const key = estimateKeyFromProfile(profile);
  const hist = featureHistograms(notes);
  hist.pitchClass.forEach((v, i) => push(`pc_rel_${i}`, v));
  push('key_minor', key.mode === 'minor' ? 1 : 0);
  push('key_clarity', key.correlation);

  // Harmonic interval classes (0..6) between notes of the same onset group: consonance vs dissonance of chords.
  const groups = onsetGroups(notes);
  const harmonic = new Array<number>(7).fill(0);
  for (const g of groups) {
    for (let i = 0; i < g.length; i++) {
      for (let j = i + 1; j < g.length; j++) {
        const ic = Math.abs(g[i].pitch - g[j].pitch) % 12;
        harmonic[Math.min(ic, 12 - ic)]++;
      }
    }
  }
  normalise(harmonic).forEach((v, i) => push(`harm_ic_${i}`, v));

  // Top line (highest note of each onset group): its melodic intervals.
  const skyline = groups.map((g) => Math.max(...g.map((n) => n.pitch)));
  const melodic = new Array<number>(MAX_MELODIC_INTERVAL + 2).fill(0);
  for (let i = 1; i < skyline.length; i++) melodic[Math.min(Math.abs(skyline[i] - skyline[i - 1]), MAX_MELODIC_INTERVAL + 1)]++;
  normalise(melodic).forEach((v, i) => push(`top_int_${i}`, v));
  hist.interval.forEach((v, i) => push(`adj_int_${i}`, v));

  // Rhythm.
  hist.ioi.forEach((v, i) => push(`ioi_${i}`, v));
  const logIoi: number[] = [];
  for (let i = 1; i < groups.length; i++) logIoi.push(Math.log2(Math.max(groups[i][0].startSec - groups[i - 1][0].startSec, 0.01)));
  push('ioi_log_mean', mean(logIoi));
  push('ioi_log_std', std(logIoi));
  // Evenness: how often an IOI is within 15% of the previous one (motor rhythm of baroque running notes).
  let even = 0;
  for (let i = 1; i < logIoi.length; i++) if (Math.abs(logIoi[i] - logIoi[i - 1]) < 0.2) even++;
  push('ioi_evenness', logIoi.length > 1 ? even / (logIoi.length - 1) : 0);

  const logDur = notes.map((n) => Math.log2(Math.max(n.endSec - n.startSec, 0.01)));
  push('dur_log_mean', mean(logDur));
  push('dur_log_std', std(logDur));
  push('dur_long_share', notes.length ? notes.filter((n) => n.endSec - n.startSec > 1).length / notes.length : 0);

  // Texture.
  const poly = polyphonyStats(notes, span);
  push('poly_mean', poly.mean);
  push('poly_p95', poly.p95);
  push('silent_share', poly.silentShare);
  push('chord_size_mean', mean(groups.map((g) => g.length)));

  // Register.
  const pitches = notes.map((n) => n.pitch).sort((a, b) => a - b);
  push('pitch_mean', mean(pitches) / 12);
  push('pitch_std', std(pitches) / 12);
  push('pitch_p5', quantile(pitches, 0.05) / 12);
  push('pitch_p95', quantile(pitches, 0.95) / 12);

  // Density.
  push('notes_per_sec_log', Math.log2(1 + notes.length / span));
  push('onsets_per_sec_log', Math.log2(1 + groups.length / span));

  return { names, values };
}

/** Notes with onsets in [startSec, startSec + lengthSec), shifted to start at 0 and cut at the window's end. */
export function clipNotes(notes: readonly Note[], startSec: number, lengthSec: number): Note[] {
  const end = startSec + lengthSec;
  return notes
    .filter((n) => n.startSec >= startSec && n.startSec < end)
    .map((n) => ({ ...n, startSec: n.startSec - startSec, endSec: Math.min(n.endSec, end) - startSec }));
}
