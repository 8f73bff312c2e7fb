/**
 * The sustain pedal under a continuation.
 *
 * The GIGA vocabulary has no pedal, and the style models learnt their durations from MAESTRO performances, where a
 * note's duration is how long its *key* was held: Chopin and Rachmaninoff performers keep the pedal down 78–84 % of
 * the time (Bach performers 22 %; the thesis files) and release keys early because the pedal holds the sound. Played
 * back dry, a romantic continuation rings with 2.6 notes at a time where the performers' own pedalling rang 6.8
 * (held-out MAESTRO performances; `maestro performance`), and a pedalled prompt turns suddenly choppy.
 *
 * So each style may say how its performers pedal, as a rule a pianist would recognise (legato pedalling): the pedal
 * goes down just after the first note and stays down, and is lifted briefly as a new harmony is struck — where the
 * pitch classes struck from a chord on differ enough from those just before — at most once per `minLiftGapSec`.
 * The rule's three numbers are fitted per style on real performances by `training/performance-fit.ts` (which pedal
 * makes the performers' notes ring most like their own pedal did) and stored in `models/<style>/performance.json`; a
 * style whose performers' notes ring closest to their own dry (baroque) has no rule there and stays dry.
 */
import type { Note, PedalSpan } from './note-sequence.js';

export interface PedalStyle {
  /** A chord lifts the pedal when its harmony differs from the last 0.6 s by at least this (0–1; see `harmonyChange`). */
  harmonyChange: number;
  /** Seconds at least between two lifts. */
  minLiftGapSec: number;
  /** How long each lift lasts, in seconds: the new chord sounds, then the pedal catches it. */
  liftSec: number;
}

/** Onsets this close form one chord as played. */
const CHORD_SEC = 0.03;
/** The harmony a chord is compared with: pitch classes struck this long before it… */
const BEFORE_SEC = 0.6;
/** …against those struck from it on, for this long. */
const AFTER_SEC = 0.3;
/** The pedal goes down this long after the first note (so that note is caught cleanly), and is lifted this early. */
const PRESS_DELAY_SEC = 0.05;
const LIFT_LEAD_SEC = 0.01;

interface Chord {
  time: number;
  /** Pitch classes as a 12-bit set. */
  pcs: number;
}

function chordsOf(notes: readonly Note[]): Chord[] {
  const chords: Chord[] = [];
  for (const n of [...notes].sort((a, b) => a.startSec - b.startSec)) {
    const last = chords.at(-1);
    if (last && n.startSec - last.time < CHORD_SEC) last.pcs |= 1 << n.pitch % 12;
    else chords.push({ time: n.startSec, pcs: 1 << n.pitch % 12 });
  }
  return chords;
}

function bitCount(x: number): number {
  let n = 0;
  for (let v = x; v; v &= v - 1) n++;
  return n;
}

/**
 * How much the harmony changes at chord `i`: 1 − |before ∩ after| / |before ∪ after| over pitch classes, before = struck
 * in the 0.6 s before it, after = struck from it on for 0.3 s. 0 = the same notes again, 1 = all new.
 */
function harmonyChange(chords: readonly Chord[], i: number): number {
  let before = 0;
  let after = 0;
  for (let k = i - 1; k >= 0 && chords[k].time > chords[i].time - BEFORE_SEC; k--) before |= chords[k].pcs;
  for (let k = i; k < chords.length && chords[k].time < chords[i].time + AFTER_SEC; k++) after |= chords[k].pcs;
  const union = bitCount(before | after);
  return union === 0 ? 0 : 1 - bitCount(before & after) / union;
}

/** The pedal `style` puts under `notes`: down from just after the first note to the end of the last, lifted at harmony changes. */
export function pedalFor(style: PedalStyle, notes: readonly Note[]): PedalSpan[] {
  if (notes.length === 0) return [];
  const chords = chordsOf(notes);
  const end = Math.max(...notes.map((n) => n.endSec));
  const spans: PedalSpan[] = [];
  let downAt = chords[0].time + PRESS_DELAY_SEC;
  let lastLift = -Infinity;
  for (let i = 1; i < chords.length; i++) {
    const t = chords[i].time;
    if (t - lastLift <= style.minLiftGapSec || harmonyChange(chords, i) < style.harmonyChange) continue;
    if (t - LIFT_LEAD_SEC > downAt) spans.push({ startSec: downAt, endSec: t - LIFT_LEAD_SEC });
    downAt = t + style.liftSec;
    lastLift = t;
  }
  if (end > downAt) spans.push({ startSec: downAt, endSec: end });
  return spans;
}

/** A note held by the pedal rings this long past its key's release at most (a piano's sound has died by then). */
const MAX_RING_SEC = 4;

/**
 * How many notes sound in each `frameSec` frame from 0 to `endSec`: a note sounds from its onset until its key is
 * released or, if the pedal is down then, until the pedal is (at most 4 s on), and stops when its key is struck again.
 * The measure `maestro performance` compares pedalling by.
 */
export function soundingCounts(notes: readonly Note[], pedals: readonly PedalSpan[], endSec: number, frameSec = 0.05): Uint16Array {
  const frames = Math.max(0, Math.ceil(endSec / frameSec));
  const out = new Uint16Array(frames);
  const spans = [...pedals].sort((a, b) => a.startSec - b.startSec);
  const pedalReleaseAfter = (t: number): number | null => {
    let lo = 0;
    let hi = spans.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (spans[mid].startSec <= t) lo = mid + 1;
      else hi = mid;
    }
    // Spans are merged and sorted, so only the last one starting at or before t can hold it.
    const s = spans[lo - 1];
    return s && s.endSec > t ? s.endSec : null;
  };
  const byPitch = new Map<number, Note[]>();
  for (const n of notes) {
    const list = byPitch.get(n.pitch);
    if (list) list.push(n);
    else byPitch.set(n.pitch, [n]);
  }
  for (const list of byPitch.values()) {
    list.sort((a, b) => a.startSec - b.startSec);
    list.forEach((n, i) => {
      const release = pedalReleaseAfter(n.endSec);
      let end = release === null ? n.endSec : Math.min(release, n.endSec + MAX_RING_SEC);
      if (i + 1 < list.length) end = Math.min(end, list[i + 1].startSec);
      for (let f = Math.floor(n.startSec / frameSec); f < Math.min(frames, Math.ceil(end / frameSec)); f++) out[f]++;
    });
  }
  return out;
}
