/**
 * The memory's second way of finding a place in the training performances: by the pitches just played, ignoring
 * their order. Each place (a note about to be played) is keyed by the bag of the pitches of the `notes` notes before
 * it, recent ones weighing more (`decay` per note back), normalised; a context's neighbours are the places whose
 * bags are most alike (cosine), and what was played next there — its pitch, and its dt and duration scaled to the
 * context's tempo (memory.ts) — is the guess, each neighbour weighted by exp((similarity − best) / temperature).
 *
 * Why: exact matching (memory.ts) breaks at the first difference, and performances of one piece differ — an extra
 * ornament, a dropped or added note, another edition (Rachmaninoff's second sonata has two). A bag of recent pitches
 * survives those. It is a k-nearest-neighbour language model (Khandelwal et al., 2020) with a hand-made key instead
 * of the network's hidden state, which would cost ~1 GB per style to store.
 */
export interface NeighbourSettings {
  /** Notes back that make a place's key. */
  notes: number;
  /** Weight of a note j notes back: decay^j (j = 0 for the last one). */
  decay: number;
  /** Neighbours that vote. */
  k: number;
  /** Softmax temperature over cosine similarities. */
  temperature: number;
}

export const DEFAULT_NEIGHBOUR_SETTINGS: NeighbourSettings = { notes: 16, decay: 0.9, k: 32, temperature: 0.02 };

export interface Neighbours {
  /** The nearest places (note indices), best first, and their weights (summing to 1). */
  places: number[];
  weights: number[];
  /** Cosine similarity of the nearest place (1 = the same bag of pitches). */
  similarity: number;
}

export class PitchNeighbours {
  /** Inverted index: for each pitch, the places whose key holds it and with what weight. */
  private readonly places: Int32Array[] = [];
  private readonly weights: Float32Array[] = [];
  /** Scratch space for one query's scores, one per place. */
  private readonly scores: Float64Array;

  constructor(
    private readonly pitch: Uint8Array,
    readonly settings: NeighbourSettings = DEFAULT_NEIGHBOUR_SETTINGS,
  ) {
    const n = pitch.length;
    const lists: { place: number[]; weight: number[] }[] = Array.from({ length: 128 }, () => ({ place: [], weight: [] }));
    const bag = new Float64Array(128);
    for (let k = 1; k < n; k++) {
      const held = this.fillBag(bag, (j) => pitch[k - 1 - j], Math.min(k, settings.notes));
      for (const p of held) {
        lists[p].place.push(k);
        lists[p].weight.push(bag[p]);
      }
    }
    for (const l of lists) {
      this.places.push(Int32Array.from(l.place));
      this.weights.push(Float32Array.from(l.weight));
    }
    this.scores = new Float64Array(n);
  }

  /** The places nearest to the context whose pitches, in the order played, are `recent`; undefined for none. */
  find(recent: readonly number[]): Neighbours | undefined {
    const { k, temperature } = this.settings;
    const bag = new Float64Array(128);
    const held = this.fillBag(bag, (j) => recent[recent.length - 1 - j], Math.min(recent.length, this.settings.notes));
    if (held.length === 0) return undefined;
    // Dot products with every place that shares a pitch with the query (the others score 0).
    const scores = this.scores;
    scores.fill(0);
    for (const p of held) {
      const places = this.places[p];
      const weights = this.weights[p];
      const q = bag[p];
      for (let i = 0; i < places.length; i++) scores[places[i]] += q * weights[i];
    }
    const places = topK(scores, k);
    if (places.length === 0) return undefined;
    const best = scores[places[0]];
    const raw = places.map((at) => Math.exp((scores[at] - best) / temperature));
    const sum = raw.reduce((a, b) => a + b, 0);
    return { places, weights: raw.map((w) => w / sum), similarity: best };
  }

  /** Fills `bag` (cleared first) with the normalised decayed counts of `count` pitches, pitchAt(0) the most recent; returns the pitches held. */
  private fillBag(bag: Float64Array, pitchAt: (j: number) => number, count: number): number[] {
    bag.fill(0);
    const held: number[] = [];
    for (let j = 0; j < count; j++) {
      const p = pitchAt(j);
      if (bag[p] === 0) held.push(p);
      bag[p] += this.settings.decay ** j;
    }
    let norm = 0;
    for (const p of held) norm += bag[p] * bag[p];
    norm = Math.sqrt(norm);
    for (const p of held) bag[p] /= norm;
    return held;
  }
}

/** The k places with the highest positive scores, best first (ties: the earlier place). */
function topK(scores: Float64Array, k: number): number[] {
  const top: number[] = [];
  let floor = 0; // a place must beat this to enter: the k-th best so far once there are k
  for (let at = 0; at < scores.length; at++) {
    const s = scores[at];
    if (s <= floor) continue;
    let i = Math.min(top.length, k - 1);
    if (top.length < k) top.push(at);
    while (i > 0 && s > scores[top[i - 1]]) {
      top[i] = top[i - 1];
      i--;
    }
    top[i] = at;
    if (top.length === k) floor = scores[top[k - 1]];
  }
  return top;
}
