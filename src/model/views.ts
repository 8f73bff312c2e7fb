/**
 * Views: the GPT's prediction as the mean of its predictions for the same context transposed by a few semitones
 * and played a little slower or faster (test-time augmentation), each view's distribution mapped back before
 * averaging: a pitch moved back by the transposition, a dt or duration rescaled by the tempo.
 *
 * Why: the style memory (memory.ts) holds the training performances note for note; what the mix needs from the
 * GPT is the part that generalises. A fine-tuned GPT has also half memorised its pieces, in their own keys and
 * tempi, and is over-confident wherever a validation passage resembles them; the same context moved a little asks
 * it for what it learned about music in general (the base was pre-trained with pitch-shift augmentation, so it
 * reads transposed music as well). Measured on the thesis protocol (session 18, memory refitted for each):
 * transpositions −2..2 took baroque 1.577 → 1.564, romantic 1.479 → 1.473, vanguard 1.600 → 1.598, most of it on
 * the pieces the training part does not hold; the GPT's own loss, alone, gets worse for vanguard. Making the
 * transposed views also 10 % slower or faster took baroque on to 1.559 but cost romantic 0.003 and vanguard 0.001,
 * so the tempo change is chosen per style. The price is one forward pass per view.
 *
 * The plain context may count more than each moved one (`View.weight`; `maestro memory --plain-weight`): the moved
 * views smooth the GPT's part, and how much smoothing the mix wants differs by style. Measured (session 22, memory
 * refitted each time, in-sample / two-fold CV), plain weight 1 → 2 → 3 → 5: vanguard 1.5984 → 1.5962 → 1.5953 →
 * **1.5947** (CV 1.5963; 8: 1.5948, 12: 1.5953), romantic 1.4735 → 1.4723 → **1.4720** (CV 1.4734; with session
 * 22's soup 3: 1.4717, 5: 1.4719), baroque (its views also moved in tempo) 1.5539 → **1.5534** (CV 1.5554; 4:
 * 1.5547). Served: romantic 3, baroque 2. Same forward passes, no cost to the loss — but the continuations follow
 * the prompt more: vanguard at 5 was classified vanguard in 67 % / 69 % of the music report's continuations (seeds
 * 1 / 2) against 83 % / 89 % at 1, so vanguard keeps the even mean.
 */
import { streamFields, TOKEN_FIELDS, type TokenField } from '../music/tokenizer.js';

/** One view of a context: every pitch moved by `semitones`, every dt and duration multiplied by `tempo`. */
export interface View {
  semitones: number;
  /** > 1: slower (longer gaps and notes). */
  tempo: number;
  /** How much this view counts in the mean, relative to a view without one (default 1). */
  weight?: number;
}

/** The context as it is. */
export const PLAIN_VIEW: View = { semitones: 0, tempo: 1 };

/**
 * The views `maestro memory --views n --view-tempo f --plain-weight w` builds: the plain context and its
 * transpositions by ±1..±n semitones; with `f` > 0 every transposed view is also played f slower or faster,
 * alternately (−n slower, −n+1 faster, …), so that the same passes cover both kinds of change. The plain view counts
 * `w` times as much as each of the others in the mean (the same forward passes).
 */
export function defaultViews(n: number, tempoChange = 0, plainWeight = 1): View[] {
  const views: View[] = [];
  const plain = n > 0 && plainWeight !== 1 ? { ...PLAIN_VIEW, weight: plainWeight } : PLAIN_VIEW;
  for (let k = -n; k <= n; k++) {
    const slower = views.filter((v) => v.semitones !== 0).length % 2 === 0;
    views.push(k === 0 ? plain : { semitones: k, tempo: tempoChange === 0 ? 1 : slower ? 1 + tempoChange : 1 - tempoChange });
  }
  return views;
}

/** A view's weight in the mean. */
export const weightOf = (view: View): number => view.weight ?? 1;

/** The largest weight a view may carry (memory.json and `maestro memory --plain-weight` check the same bound). */
export const MAX_VIEW_WEIGHT = 16;

/** Whether `w` is a weight a view may carry: a number above 0, at most MAX_VIEW_WEIGHT. */
export const isViewWeight = (w: unknown): w is number => typeof w === 'number' && w > 0 && w <= MAX_VIEW_WEIGHT;

/** Pitch tokens a view may hold (the grammar's 1..126; a view keeps a note at the edge there). */
const PITCH_RANGE = [1, 126] as const;
const TIMING_RANGE = { dt: [0, 126], dur: [1, 126] } as const;

/** The (n, tempo change, plain weight) whose defaultViews are `views`, or undefined when they are not of that pattern. */
export function viewPattern(views: readonly View[]): { n: number; tempoChange: number; plainWeight: number } | undefined {
  const n = (views.length - 1) / 2;
  if (!Number.isInteger(n) || n < 0) return undefined;
  const first = views.find((v) => v.semitones !== 0);
  const tempoChange = first ? Math.round(Math.abs(first.tempo - 1) * 1000) / 1000 : 0;
  const plainWeight = n > 0 ? weightOf(views[n]) : 1;
  const same = defaultViews(n, tempoChange, plainWeight).every(
    (v, i) => v.semitones === views[i].semitones && Math.abs(v.tempo - views[i].tempo) < 1e-9 && weightOf(v) === weightOf(views[i]),
  );
  return same ? { n, tempoChange, plainWeight } : undefined;
}

/** The `maestro memory` arguments that rebuild `views` (none when they are not of the defaultViews pattern). */
export function viewArgs(views: readonly View[] | undefined): string[] {
  const pattern = views && viewPattern(views);
  if (!pattern) return [];
  return [
    '--views', String(pattern.n),
    ...(pattern.tempoChange ? ['--view-tempo', String(pattern.tempoChange)] : []),
    ...(pattern.plainWeight !== 1 ? ['--plain-weight', String(pattern.plainWeight)] : []),
  ];
}

const clamp = (x: number, [lo, hi]: readonly [number, number]) => Math.min(hi, Math.max(lo, x));

/** A token of field `field` as `view` sees it. */
export function viewToken(token: number, field: TokenField, view: View): number {
  if (field === 'pitch') return view.semitones === 0 ? token : clamp(token + view.semitones, PITCH_RANGE);
  if ((field === 'dt' || field === 'dur') && view.tempo !== 1) return clamp(Math.round(token * view.tempo), TIMING_RANGE[field]);
  return token;
}

/** `tokens` (a window or a history, possibly starting mid-note) as `view` sees it. */
export function viewOf(tokens: ArrayLike<number>, view: View): number[] {
  if (isPlainView(view)) return Array.from(tokens);
  const fields = streamFields(tokens);
  return Array.from(tokens, (x, i) => viewToken(x, TOKEN_FIELDS[fields[i]], view));
}

/**
 * How a view's timing distribution maps back: row d' of the matrix spreads the view's bin d' (an interval of width
 * 1 around d', i.e. width 1/tempo in the context's own time) over the context's bins by overlap. Cached per tempo.
 */
const rebinCache = new Map<number, { to: number; share: number }[][]>();
function rebin(tempo: number): { to: number; share: number }[][] {
  let m = rebinCache.get(tempo);
  if (m) return m;
  m = [];
  for (let dv = 0; dv < 128; dv++) {
    const [a, b] = [(dv - 0.5) / tempo, (dv + 0.5) / tempo];
    const row: { to: number; share: number }[] = [];
    for (let d = Math.max(0, Math.floor(a)); d <= Math.min(127, Math.ceil(b)); d++) {
      const overlap = Math.min(b, d + 0.5) - Math.max(a, d - 0.5);
      if (overlap > 0) row.push({ to: d, share: overlap / (b - a) });
    }
    m.push(row);
  }
  rebinCache.set(tempo, m);
  return m;
}

/**
 * The views' log-probabilities for one next token (of field `field`) combined: the mean of their probabilities
 * (weighted by `View.weight`), each mapped back to the context's own terms (a transposed view's belief in pitch x + k
 * is a belief in x; a slower view's belief in dt d' a belief in d'/tempo, spread over the bins it overlaps). `rows[v]`
 * holds view v's log-probabilities or logits (each row is normalised first). Returns normalised log-probabilities.
 */
export function combineViews(rows: readonly ArrayLike<number>[], views: readonly View[], field: TokenField): Float64Array {
  const vocab = rows[0].length;
  const out = new Float64Array(vocab);
  const p = new Float64Array(vocab);
  rows.forEach((row, v) => {
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) max = Math.max(max, row[i]);
    let sum = 0;
    for (let i = 0; i < vocab; i++) sum += (p[i] = Math.exp(row[i] - max));
    const { semitones, tempo } = views[v];
    sum /= weightOf(views[v]); // a view of weight w adds w times its normalised distribution
    if (field === 'pitch' && semitones !== 0) {
      for (let x = 0; x < vocab; x++) {
        const from = x + semitones;
        if (from >= 0 && from < vocab) out[x] += p[from] / sum;
      }
    } else if ((field === 'dt' || field === 'dur') && tempo !== 1) {
      const m = rebin(tempo);
      // The separator keeps its own bin (a dt position may hold a piece's end marker).
      for (let dv = 0; dv < vocab; dv++) {
        if (dv === vocab - 1) out[dv] += p[dv] / sum;
        else for (const { to, share } of m[dv]) if (to < vocab - 1) out[field === 'dur' ? Math.max(1, to) : to] += (p[dv] / sum) * share; // no duration is 0
      }
    } else for (let x = 0; x < vocab; x++) out[x] += p[x] / sum;
  });
  let total = 0;
  for (let x = 0; x < vocab; x++) total += out[x];
  for (let x = 0; x < vocab; x++) out[x] = Math.log(out[x] / total);
  return out;
}

/** The field of the token after one of field `last` (a pitch is followed by its separator). */
export function fieldAfter(last: TokenField): TokenField {
  return TOKEN_FIELDS[(TOKEN_FIELDS.indexOf(last) + 1) % TOKEN_FIELDS.length];
}

/** Whether `view` is the context as it is. */
export function isPlainView(view: View): boolean {
  return view.semitones === 0 && view.tempo === 1;
}

/** Whether `views` is just the plain context (no extra passes). */
export function isPlain(views: readonly View[] | undefined): boolean {
  return !views || views.length === 0 || (views.length === 1 && isPlainView(views[0]));
}
