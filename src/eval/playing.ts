/**
 * How a passage is *played*, which its notes alone do not say and the rest of the report does not score: how many notes
 * sound at once (key releases and the sustain pedal; `soundingCounts`, the measure `maestro performance` fits the
 * pedal by) and how the velocities vary about the passage's median (its dynamics' shape, not its level). Compared, as
 * mean histograms, with the style's recorded performances: Σ min(p, q), 1 = identical.
 */
import type { Note, PedalSpan } from '../music/note-sequence.js';
import { soundingCounts } from '../music/pedal.js';
import { median } from '../music/dynamics.js';
import { overlap } from './distribution.js';

export interface PlayingHistograms {
  /** Share of 50-ms frames with 0, 1, … 14 and 15 or more notes sounding. */
  sounding: number[];
  /** Share of notes whose velocity lies in each 4-wide bin about the passage's median, −42…+42 (the ends take the rest). */
  velocity: number[];
  /** Mean notes sounding per frame (for the table; not compared). */
  meanSounding: number;
}

export interface PlayingOverlaps {
  sounding: number;
  velocity: number;
}

/** How a set of passages is played against the style's held-out performances, with its own mean notes sounding. */
export type PlayingReference = PlayingOverlaps & { meanSounding: number };

const SOUNDING_BINS = 16;
const VELOCITY_BIN = 4;
const VELOCITY_BINS = 21;

/** A passage's histograms over [0, seconds); undefined when it has fewer than two notes. */
export function playingHistograms(notes: readonly Note[], pedals: readonly PedalSpan[], seconds: number): PlayingHistograms | undefined {
  if (notes.length < 2) return undefined;
  const counts = soundingCounts(notes, pedals, seconds);
  const sounding = new Array<number>(SOUNDING_BINS).fill(0);
  let total = 0;
  for (const c of counts) {
    sounding[Math.min(c, SOUNDING_BINS - 1)]! += 1 / counts.length;
    total += c;
  }
  const centre = median(notes.map((n) => n.velocity));
  const velocity = new Array<number>(VELOCITY_BINS).fill(0);
  const half = (VELOCITY_BINS - 1) / 2;
  for (const n of notes) velocity[Math.max(0, Math.min(VELOCITY_BINS - 1, Math.round((n.velocity - centre) / VELOCITY_BIN) + half))]! += 1 / notes.length;
  return { sounding, velocity, meanSounding: total / Math.max(counts.length, 1) };
}

/** The mean of passages' histograms (each passage counts once). */
export function meanPlaying(passages: readonly (PlayingHistograms | undefined)[]): PlayingHistograms | undefined {
  const hs = passages.filter((h): h is PlayingHistograms => h !== undefined);
  if (hs.length === 0) return undefined;
  const avg = (key: 'sounding' | 'velocity') => hs[0]![key].map((_, i) => hs.reduce((a, h) => a + h[key][i]!, 0) / hs.length);
  return { sounding: avg('sounding'), velocity: avg('velocity'), meanSounding: hs.reduce((a, h) => a + h.meanSounding, 0) / hs.length };
}

export function playingOverlaps(a: PlayingHistograms, b: PlayingHistograms): PlayingOverlaps {
  return { sounding: overlap(a.sounding, b.sounding), velocity: overlap(a.velocity, b.velocity) };
}

/** The pedal spans within [startSec, startSec + lengthSec), timed from startSec (as `clipNotes` times the notes). */
export function clipPedals(pedals: readonly PedalSpan[], startSec: number, lengthSec: number): PedalSpan[] {
  const end = startSec + lengthSec;
  return pedals
    .filter((p) => p.endSec > startSec && p.startSec < end)
    .map((p) => ({ ...p, startSec: Math.max(p.startSec, startSec) - startSec, endSec: Math.min(p.endSec, end) - startSec }));
}
