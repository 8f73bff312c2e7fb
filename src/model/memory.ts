/**
 * The style memory: the notes of a style's training performances, searched for the longest stretch of chords
 * that matches what was just played, and mixed into the GPT's next-token distribution (a kNN-LM / infini-gram
 * interpolation: Khandelwal et al., 2020, "Generalization through Memorization"; Liu et al., 2024, "Infini-gram").
 *
 * Why: a 10 M-parameter GPT cannot hold 50 performances note for note, and on the thesis' split (the last 10 % of
 * the token stream) most validation notes belong to pieces whose other performances are in the training part.
 * The memory holds them exactly; where what was just played matches a training performance for long enough, the
 * memory's continuation there is the better guess, and where nothing long matches (a user's own melody), the mix
 * is the GPT's own distribution.
 *
 * Matching ignores what performers change: notes that start within `chordGap` onset quanta of the previous one
 * form one chord (a "group"), compared as a sorted set of pitches, so a rolled or spread chord matches the same
 * chord played together; the timing a match proposes is scaled by the tempo ratio between the two performances
 * over the last matched chords. Where the exact match breaks (an ornament, a dropped note, another edition), the
 * neighbours by the bag of recent pitches (memory-neighbours.ts) still find the place; their guess is mixed in on top.
 * Before mixing, each guess is refined by the GPT's own distribution (`refineByModel`): the memory knows which notes
 * come next, the GPT is better at their order and at this performer's timing around the proposed value.
 * How much each guess counts against the GPT — weight tables and the gate — is memory-mix.ts.
 * Deterministic: the same context gives the same distribution.
 */
import { SEP } from '../music/tokenizer.js';
import { DEFAULT_NEIGHBOUR_SETTINGS, PitchNeighbours, type Neighbours, type NeighbourSettings } from './memory-neighbours.js';
import { defaultViews, type View } from './views.js';
import { bucketOf, mixWithGuess, nearCell, noWeights, type MemoryTrack, type MemoryWeights } from './memory-mix.js';

export const MEMORY_FORMAT = 'maestro-memory/1';

/** The fields the memory predicts (the separator is the GPT's alone: it is always the token after a pitch). */
export const MEMORY_FIELDS = ['dt', 'dur', 'pitch'] as const;
export type MemoryField = (typeof MEMORY_FIELDS)[number];

export interface MemorySettings {
  /** A note whose dt (onset quanta, 16 ms) is at most this joins the previous note's chord. */
  chordGap: number;
  /** Longest match searched, in flat tokens (pitches + chord boundaries). */
  maxMatch: number;
  /** At most this many matches (evenly spread over all of them) vote on a distribution. */
  maxMatches: number;
  /** Chords over which the tempo ratio between the two performances is measured. */
  tempoGroups: number;
  /** The dt a match proposes is spread as a Gaussian of σ = a + b·value quanta. */
  timingSigma: [number, number];
  /** The same for a duration (default: timingSigma; performers vary durations more than onsets). */
  durationSigma?: [number, number];
  /**
   * A duration the match proposes is scaled by the ratio of the durations of the notes matched so far (how much
   * longer this performer holds them) instead of by the tempo ratio.
   */
  articulation?: boolean;
  /**
   * The duration a guess proposes for a note of a chord is every not yet played note's of the aligned chord (for the
   * neighbours: of the chord at each place), in equal parts, instead of the one note that came next in the training
   * performance: performers order a chord's notes differently, and a chord's notes differ most in how long they are
   * held (a held bass, a short inner voice). Absent: false (memories fitted before session 23).
   */
  chordDurations?: boolean;
  /**
   * Per field, the exponents β (exact match, neighbours) of the GPT's own distribution that each guess is multiplied
   * by and renormalised over, p(x) ∝ guess(x)·p_GPT(x)^β (a product of experts): the memory says which pitches
   * (timings) come next, the GPT which of them first — a matched chord's notes come in an order performers vary and
   * the GPT predicts well. Absent: [0, 0] (the guess as it is).
   */
  refineByModel?: Partial<Record<MemoryField, [number, number]>>;
  /**
   * The timing an exact match proposes is less sure where the two performances' rubato differs: its σ is multiplied
   * by 1 + this × the spread of their chord-to-chord interval ratios (absent: 0, no widening).
   */
  rubatoWidening?: number;
  /** The neighbours by the bag of recent pitches (memory-neighbours.ts). */
  neighbours: NeighbourSettings;
  /**
   * The GPT distribution the memory is mixed into is the mean over these views of the context (transposed, slower or
   * faster: views.ts; absent: the context as it is). Part of the memory's settings because its weights are fitted
   * against that distribution.
   */
  views?: View[];
}

export const DEFAULT_MEMORY_SETTINGS: MemorySettings = {
  chordGap: 3,
  maxMatch: 64,
  maxMatches: 256,
  tempoGroups: 16,
  timingSigma: [0.8, 0.12],
  durationSigma: [0.5, 0.2],
  articulation: true,
  chordDurations: true,
  refineByModel: { dt: [0.5, 0.5], pitch: [0.3, 0.5] },
  rubatoWidening: 3,
  neighbours: DEFAULT_NEIGHBOUR_SETTINGS,
  views: defaultViews(2),
};

/** What the memory proposes for the next token: a distribution over the 128 tokens and its weight in the mix. */
export interface MemoryGuess {
  field: MemoryField;
  /** Tokens in the context the guess was made from (a gate's feature). */
  contextTokens: number;
  /** Length of the longest exact match, in flat tokens (0: none). */
  matchLength: number;
  /**
   * The memory's own distribution (its two guesses mixed) and its weight by the tables: the mix is (1 − weight)·model +
   * weight·probs before refinement by the model. A gated field's weights depend on the GPT's distribution: `mix`.
   */
  probs: Float64Array;
  weight: number;
  /** The two guesses it combines: the exact match's and the neighbours', their weights, and their refinement exponents (see `refineByModel`). */
  exact?: Float64Array;
  near?: { probs: Float64Array; similarity: number };
  exactWeight: number;
  nearWeight: number;
  refine: [number, number];
}

/** The values a dt and a duration token can take. */
const TIMING_RANGE = { dt: [0, 126], dur: [1, 126] } as const;

/** Chord boundary in the flat sequence (outside the 0–127 token range). */
const BOUNDARY = 128;

export class StyleMemory {
  private readonly dt: Uint8Array;
  private readonly dur: Uint8Array;
  private readonly pitch: Uint8Array;
  private readonly onset: Float64Array;
  /** Notes of group g: groupStart[g] .. groupStart[g+1]-1 (stream order). */
  private readonly groupStart: Int32Array;
  /** The group each note belongs to. */
  private readonly groupOfNote: Int32Array;
  /** Groups as BOUNDARY, sorted pitches, BOUNDARY, …, BOUNDARY. */
  private readonly flat: Int16Array;
  /** For a flat position right after a boundary: the group starting there (else -1). */
  private readonly groupAt: Int32Array;
  /** Boundaries in flat[0..i): for counting the groups a match spans. */
  private readonly boundariesBefore: Int32Array;
  /** Suffix array of the reversed flat sequence (compared over maxMatch tokens): suffixes of a context are its prefixes. */
  private readonly suffixes: Int32Array;
  private readonly neighbours: PitchNeighbours;
  /** Neighbour searches, kept for the few contexts in use: a note's dt, dur and pitch share one (its recent pitches). */
  private readonly neighbourCache = new Map<string, Neighbours | undefined>();

  readonly notes: number;

  /** `trainTokens`: the token stream the memory holds (a corpus' train.bin, never its validation part). */
  constructor(
    readonly trainTokens: Uint8Array,
    readonly settings: MemorySettings = DEFAULT_MEMORY_SETTINGS,
    public weights: MemoryWeights = noWeights(),
  ) {
    const notes = parseNotes(trainTokens);
    this.notes = notes.dt.length;
    ({ dt: this.dt, dur: this.dur, pitch: this.pitch } = notes);
    this.onset = new Float64Array(this.notes);
    for (let k = 1; k < this.notes; k++) this.onset[k] = this.onset[k - 1] + this.dt[k];
    const starts: number[] = [];
    for (let k = 0; k < this.notes; k++) if (k === 0 || this.dt[k] > settings.chordGap) starts.push(k);
    starts.push(this.notes);
    this.groupStart = Int32Array.from(starts);
    const groups = starts.length - 1;
    this.groupOfNote = new Int32Array(this.notes);
    for (let g = 0; g < groups; g++) this.groupOfNote.fill(g, starts[g], starts[g + 1]);
    this.flat = new Int16Array(this.notes + groups + 1);
    this.groupAt = new Int32Array(this.flat.length).fill(-1);
    let p = 0;
    for (let g = 0; g < groups; g++) {
      this.flat[p++] = BOUNDARY;
      this.groupAt[p] = g;
      const chord = Array.from(this.pitch.subarray(starts[g], starts[g + 1])).sort((a, b) => a - b);
      for (const x of chord) this.flat[p++] = x;
    }
    this.flat[p] = BOUNDARY;
    this.boundariesBefore = new Int32Array(this.flat.length + 1);
    for (let i = 0; i < this.flat.length; i++) this.boundariesBefore[i + 1] = this.boundariesBefore[i] + (this.flat[i] === BOUNDARY ? 1 : 0);
    this.suffixes = reversedSuffixArray(this.flat, settings.maxMatch);
    this.neighbours = new PitchNeighbours(this.pitch, settings.neighbours);
  }

  /**
   * The memory's guess for the token after `context` (the tokens the model sees, oldest first), or undefined
   * when the next token is a separator or nothing in the context matches — or when the exact match reaches
   * `quoteLimit` (composing quotes no further; the neighbour search is then skipped).
   */
  guess(context: ArrayLike<number>, quoteLimit = Infinity): MemoryGuess | undefined {
    const state = readContext(context, this.settings.chordGap);
    if (!state || state.next === 'sep') return undefined;
    const field = state.next;
    const exact = this.exactGuess(state, field);
    if (exact && exact.length >= quoteLimit) return undefined;
    const near = this.nearGuess(state, field);
    if (!exact && !near) return undefined;
    const matchLength = exact?.length ?? 0;
    // Two mixes in a row: the exact match's into the model's, then the neighbours' into that.
    const we = exact ? this.weightOf(field, matchLength) : 0;
    const wn = near ? this.nearWeight(field, matchLength, near.similarity) : 0;
    const weight = 1 - (1 - we) * (1 - wn);
    const probs = new Float64Array(128);
    if (weight > 0) for (let i = 0; i < 128; i++) probs[i] = ((1 - wn) * we * (exact?.probs[i] ?? 0) + wn * (near?.probs[i] ?? 0)) / weight;
    return {
      field,
      contextTokens: context.length,
      matchLength,
      probs,
      weight,
      exactWeight: we,
      nearWeight: wn,
      refine: this.settings.refineByModel?.[field] ?? [0, 0],
      ...(exact ? { exact: exact.probs } : {}),
      ...(near ? { near } : {}),
    };
  }

  /** The exact match's guess: what followed the longest run of chords matching the context's last ones. */
  private exactGuess(state: ContextState, field: MemoryField): { probs: Float64Array; length: number } | undefined {
    const { done, current } = state;
    if (done.length === 0) return undefined;
    const { length, ends } = this.longestMatch(flatQuery(done, this.settings.maxMatch));
    if (length === 0) return undefined;
    const probs = new Float64Array(128);
    // Each match ends with a chord boundary; the group after it is the one aligned with the current chord.
    const aligned = ends.map((end) => ({ end, g: this.groupAt[end + 1] })).filter(({ g }) => g >= 0);
    if (aligned.length === 0) return undefined;
    if (field === 'pitch') {
      for (const { g } of aligned) {
        const options = this.unplayed(g, current);
        for (const k of options) probs[this.pitch[k]] += 1 / options.length / aligned.length;
      }
    } else {
      const values = field === 'dt' ? this.dt : this.dur;
      const [lo, hi] = TIMING_RANGE[field];
      let voters = 0;
      for (const { end, g } of aligned) {
        // The next note in the matched performance: the current chord's next note there, or the next chord's first.
        const k = current.length < this.groupStart[g + 1] - this.groupStart[g] ? this.groupStart[g] + current.length : this.groupStart[g + 1];
        if (k >= this.notes) continue;
        const ratio = field === 'dur' && this.settings.articulation ? this.articulationRatio(state, g, end, length) : this.chordTempoRatio(state.doneOnsets, g, end, length);
        const widen = 1 + (this.settings.rubatoWidening ?? 0) * this.rubatoSpread(state.doneOnsets, g, end, length);
        const notes = field === 'dur' && this.settings.chordDurations && k < this.groupStart[g + 1] ? this.unplayed(g, current) : [k];
        for (const at of notes) this.addTiming(probs, field, values[at] * ratio, 1 / notes.length, widen);
        voters++;
      }
      if (voters === 0) return undefined;
      for (let y = lo; y <= hi; y++) probs[y] /= voters;
    }
    return { probs, length };
  }

  /** The notes of group g whose pitches the chord in progress has not played yet (all of them if it has played every one). */
  private unplayed(g: number, current: readonly number[]): number[] {
    const notes: number[] = [];
    for (let k = this.groupStart[g]; k < this.groupStart[g + 1]; k++) if (!current.includes(this.pitch[k])) notes.push(k);
    return notes.length ? notes : Array.from({ length: this.groupStart[g + 1] - this.groupStart[g] }, (_, i) => this.groupStart[g] + i);
  }

  /** The neighbours' guess: what came next at the places whose recent pitches are most alike. */
  private nearGuess(state: ContextState, field: MemoryField): { probs: Float64Array; similarity: number } | undefined {
    const found = this.findNeighbours(state.recent);
    if (!found) return undefined;
    const probs = new Float64Array(128);
    const { places, weights } = found;
    if (field === 'pitch') {
      // A pitch already played in the current chord here is not next: take the rest of that chord there instead
      // (performers play a chord's notes in different orders).
      const played = new Set(state.current);
      places.forEach((at, i) => {
        if (!played.has(this.pitch[at])) {
          probs[this.pitch[at]] += weights[i];
          return;
        }
        const g = this.groupOfNote[at];
        const left = Array.from(this.pitch.subarray(this.groupStart[g], this.groupStart[g + 1])).filter((x) => !played.has(x));
        if (left.length === 0) probs[this.pitch[at]] += weights[i];
        for (const x of left) probs[x] += weights[i] / left.length;
      });
      return { probs, similarity: found.similarity };
    }
    // The tempo ratio over the last few notes of the context and of each place (both end where the next note starts).
    const onsets = state.recentOnsets;
    const span = Math.min(this.settings.tempoGroups, onsets.length);
    const values = field === 'dt' ? this.dt : this.dur;
    places.forEach((at, i) => {
      const ratio = span >= 2 && at - span >= 0 ? tempoRatio(onsets[onsets.length - 1] - onsets[onsets.length - span], this.onset[at - 1] - this.onset[at - span]) : 1;
      const notes = field === 'dur' && this.settings.chordDurations ? this.unplayed(this.groupOfNote[at], state.current) : [at];
      for (const k of notes) this.addTiming(probs, field, values[k] * ratio, weights[i] / notes.length);
    });
    return { probs, similarity: found.similarity };
  }

  private findNeighbours(recent: number[]): Neighbours | undefined {
    const key = recent.slice(-this.settings.neighbours.notes).join(',');
    if (this.neighbourCache.has(key)) return this.neighbourCache.get(key);
    const found = this.neighbours.find(recent);
    if (this.neighbourCache.size >= 256) this.neighbourCache.clear();
    this.neighbourCache.set(key, found);
    return found;
  }

  /** Adds `weight` × a Gaussian around a proposed dt or duration (σ = (a + b·centre)·widen), within 4σ (beyond: < 1e-4 of it). */
  private addTiming(probs: Float64Array, field: 'dt' | 'dur', value: number, weight: number, widen = 1): void {
    const [lo, hi] = TIMING_RANGE[field];
    const center = Math.min(hi, Math.max(lo, value));
    const [a, b] = (field === 'dur' ? this.settings.durationSigma : undefined) ?? this.settings.timingSigma;
    const sigma = (a + b * center) * widen;
    const from = Math.max(lo, Math.floor(center - 4 * sigma));
    const to = Math.min(hi, Math.ceil(center + 4 * sigma));
    let sum = 0;
    for (let y = from; y <= to; y++) sum += Math.exp(-0.5 * ((y - center) / sigma) ** 2);
    for (let y = from; y <= to; y++) probs[y] += (weight * Math.exp(-0.5 * ((y - center) / sigma) ** 2)) / sum;
  }

  /**
   * The served distribution for the position `guess` was made for, from the GPT's log-probabilities there (views
   * combined): the gate's mix for a gated field, else the tables'. Undefined when the mix would be the GPT's alone.
   */
  mix(logProbs: ArrayLike<number>, guess: MemoryGuess, track?: MemoryTrack, hidden?: ArrayLike<number>): Float64Array | undefined {
    const gated = this.weights.gate?.exact[guess.field] !== undefined;
    if (!gated && guess.weight <= 0) return undefined;
    return mixWithGuess(logProbs, guess, gated ? this.weights.gate : undefined, track?.features(guess.field), hidden);
  }

  /** Whether `mix` needs the GPT's final hidden state (of the plain context) at the position: the gate reads it. */
  get readsHidden(): boolean {
    return Object.keys(this.weights.gate?.hidden ?? {}).length > 0;
  }

  /** The neighbours' weight, on top of the exact match's, for a field at a match length and nearest similarity. */
  nearWeight(field: MemoryField, matchLength: number, similarity: number): number {
    return this.weights.near[field][nearCell(matchLength, similarity)] ?? 0;
  }

  /** The weight the memory gets for a field at a match length (0 where none was fitted). */
  weightOf(field: MemoryField, matchLength: number): number {
    return this.weights[field][bucketOf(matchLength)] ?? 0;
  }

  /**
   * How much faster (> 1: slower) the context is played than the matched training performance: the time between
   * the first notes of the last `tempoGroups` chords in both, clamped to 4× either way.
   */
  private chordTempoRatio(doneOnsets: number[], alignedGroup: number, end: number, length: number): number {
    const matchedGroups = this.groupsIn(end, length);
    const k = Math.min(this.settings.tempoGroups, doneOnsets.length, matchedGroups);
    const last = alignedGroup - 1;
    if (k < 2 || last - k + 1 < 0) return 1;
    return tempoRatio(doneOnsets[doneOnsets.length - 1] - doneOnsets[doneOnsets.length - k], this.onset[this.groupStart[last]] - this.onset[this.groupStart[last - k + 1]]);
  }

  /** The complete chords a match of `length` flat tokens ending at flat position `end` spans. */
  private groupsIn(end: number, length: number): number {
    return this.boundariesBefore[end + 1] - this.boundariesBefore[end + 1 - length] - 1;
  }

  /**
   * How differently the context and a matched performance shape time: the standard deviation of the logs of their
   * chord-to-chord interval ratios over the matched chords (0: one is the other at another tempo). With fewer than
   * two intervals to compare there is no evidence either way: 0.5, a typical spread.
   */
  private rubatoSpread(doneOnsets: number[], alignedGroup: number, end: number, length: number): number {
    const matchedGroups = this.groupsIn(end, length);
    const k = Math.min(this.settings.tempoGroups, doneOnsets.length, matchedGroups, alignedGroup);
    const logs: number[] = [];
    const n = doneOnsets.length;
    for (let j = 1; j < k; j++) {
      const mine = doneOnsets[n - j] - doneOnsets[n - j - 1];
      const g = alignedGroup - j;
      const theirs = this.onset[this.groupStart[g]] - this.onset[this.groupStart[g - 1]];
      if (mine > 0 && theirs > 0) logs.push(Math.log(mine / theirs));
    }
    if (logs.length < 2) return 0.5;
    const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
    return Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / logs.length);
  }

  /**
   * How much longer (> 1) the context holds its notes than the matched training performance: the geometric mean of
   * the duration ratios of the aligned notes (same pitch, same chord) of the last `tempoGroups` matched chords.
   */
  private articulationRatio(state: ContextState, alignedGroup: number, end: number, length: number): number {
    const matchedGroups = this.groupsIn(end, length);
    const k = Math.min(this.settings.tempoGroups, state.done.length, matchedGroups, alignedGroup);
    let sum = 0;
    let n = 0;
    for (let j = 1; j <= k; j++) {
      const durs = state.doneDurs[state.doneDurs.length - j];
      const g = alignedGroup - j;
      const notes = Array.from({ length: this.groupStart[g + 1] - this.groupStart[g] }, (_, i) => this.groupStart[g] + i).sort((a, b) => this.pitch[a] - this.pitch[b] || this.dur[a] - this.dur[b]);
      if (notes.length !== durs.length) continue;
      notes.forEach((at, i) => {
        sum += Math.log(durs[i] / this.dur[at]);
        n++;
      });
    }
    return n > 0 ? Math.min(4, Math.max(0.25, Math.exp(sum / n))) : 1;
  }

  /** The longest suffix of `query` found in the flat sequence, and where its matches end (at most maxMatches, evenly spread). */
  private longestMatch(query: number[]): { length: number; ends: number[] } {
    const n = this.flat.length;
    const sa = this.suffixes;
    let lo = 0;
    let hi = n;
    let length = 0;
    let best: [number, number] = [0, 0];
    // Reversed: character k of a reversed suffix starting at s is flat[n-1-s-k]; of the query, query[len-1-k].
    const at = (s: number, k: number) => (n - 1 - s - k >= 0 ? this.flat[n - 1 - s - k] : -1);
    for (let k = 0; k < Math.min(query.length, this.settings.maxMatch); k++) {
      const c = query[query.length - 1 - k];
      let a = lo;
      let b = hi;
      while (a < b) {
        const mid = (a + b) >>> 1;
        if (at(sa[mid], k) < c) a = mid + 1;
        else b = mid;
      }
      const first = a;
      b = hi;
      while (a < b) {
        const mid = (a + b) >>> 1;
        if (at(sa[mid], k) <= c) a = mid + 1;
        else b = mid;
      }
      if (a === first) break;
      lo = first;
      hi = a;
      length = k + 1;
      best = [lo, hi];
    }
    const [from, to] = best;
    const count = to - from;
    const take = Math.min(count, this.settings.maxMatches);
    const ends: number[] = [];
    for (let i = 0; i < take; i++) ends.push(n - 1 - sa[from + Math.floor((i * count) / take)]);
    // Matches in stream order, so the vote does not depend on how the suffix array broke ties.
    ends.sort((x, y) => x - y);
    return { length, ends };
  }
}

/** How much slower (> 1) the context plays than a training performance over the same span: mine / theirs, within 4× either way (1 without a span). */
function tempoRatio(mine: number, theirs: number): number {
  return mine > 0 && theirs > 0 ? Math.min(4, Math.max(0.25, mine / theirs)) : 1;
}

interface NoteArrays {
  dt: Uint8Array;
  dur: Uint8Array;
  pitch: Uint8Array;
}

/** The notes ("127 dt dur pitch") of a token stream, in order; a file's lone end marker is skipped. */
export function parseNotes(tokens: ArrayLike<number>): NoteArrays {
  const dt: number[] = [];
  const dur: number[] = [];
  const pitch: number[] = [];
  for (let i = 0; i + 3 < tokens.length; i++) {
    if (tokens[i] !== SEP || tokens[i + 1] === SEP) continue;
    dt.push(tokens[i + 1]);
    dur.push(tokens[i + 2]);
    pitch.push(tokens[i + 3]);
    i += 3;
  }
  return { dt: Uint8Array.from(dt), dur: Uint8Array.from(dur), pitch: Uint8Array.from(pitch) };
}

interface ContextState {
  next: 'sep' | MemoryField;
  /** Complete chords before the current one (sorted pitches) and their onsets (quanta from the context's first note). */
  done: number[][];
  doneOnsets: number[];
  /** The durations of the complete chords' notes, in the order of `done`'s pitches. */
  doneDurs: number[][];
  /** Pitches of the chord in progress, in the order played. */
  current: number[];
  /** Every complete note's pitch, in the order played, and its onset (quanta from the context's first note). */
  recent: number[];
  recentOnsets: number[];
}

/**
 * Reads a context the way the memory sees it: its notes from the first separator on, grouped into chords.
 * When the next token is a pitch, the note being written already has its dt, so it has already joined the
 * current chord or closed it.
 */
export function readContext(context: ArrayLike<number>, chordGap: number): ContextState | undefined {
  let i = 0;
  while (i < context.length && context[i] !== SEP) i++;
  if (i === context.length) return undefined;
  const done: number[][] = [];
  const doneOnsets: number[] = [];
  const doneDurs: number[][] = [];
  let currentDurs: number[] = [];
  const recent: number[] = [];
  const recentOnsets: number[] = [];
  let current: number[] = [];
  let currentOnset = 0;
  let time = 0;
  let first = true;
  const startNote = (dt: number) => {
    if (!first) time += dt;
    if (current.length && dt > chordGap) {
      const order = current.map((_, j) => j).sort((a, b) => current[a] - current[b] || currentDurs[a] - currentDurs[b]);
      done.push(order.map((j) => current[j]));
      doneDurs.push(order.map((j) => currentDurs[j]));
      doneOnsets.push(currentOnset);
      current = [];
      currentDurs = [];
    }
    if (current.length === 0) currentOnset = time;
    first = false;
  };
  for (;;) {
    if (context[i] !== SEP) return undefined; // not in the tokenizer's grammar: no guess
    const rest = context.length - i - 1;
    if (rest === 0) return { next: 'dt', done, doneOnsets, doneDurs, current, recent, recentOnsets };
    if (context[i + 1] === SEP) {
      i++; // a piece's lone end marker
      continue;
    }
    // From its dt on, the note being written has joined the current chord or closed it.
    if (rest === 1 || rest === 2) {
      startNote(context[i + 1]);
      return { next: rest === 1 ? 'dur' : 'pitch', done, doneOnsets, doneDurs, current, recent, recentOnsets };
    }
    startNote(context[i + 1]);
    current.push(context[i + 3]);
    currentDurs.push(context[i + 2]);
    recent.push(context[i + 3]);
    recentOnsets.push(time);
    if (rest === 3) return { next: 'sep', done, doneOnsets, doneDurs, current, recent, recentOnsets };
    i += 4;
  }
}

/** The flat query for complete chords: BOUNDARY, sorted pitches, …, BOUNDARY (only the last maxMatch tokens matter). */
function flatQuery(done: number[][], maxMatch: number): number[] {
  const out: number[] = [BOUNDARY];
  for (let g = done.length - 1; g >= 0 && out.length <= maxMatch; g--) {
    for (let j = done[g].length - 1; j >= 0; j--) out.push(done[g][j]);
    out.push(BOUNDARY);
  }
  return out.reverse();
}

/** Suffix array of the reversed sequence, each suffix compared over at most `depth` tokens (ties by position). */
function reversedSuffixArray(flat: Int16Array, depth: number): Int32Array {
  const n = flat.length;
  const rev = new Int16Array(n);
  for (let i = 0; i < n; i++) rev[i] = flat[n - 1 - i];
  const sa = Int32Array.from({ length: n }, (_, i) => i);
  sa.sort((x, y) => {
    for (let k = 0; k < depth; k++) {
      const a = x + k < n ? rev[x + k] : -1;
      const b = y + k < n ? rev[y + k] : -1;
      if (a !== b) return a - b;
      if (a === -1) break;
    }
    return x - y;
  });
  return sa;
}
