/**
 * Transposition views: the GPT's prediction as the mean of its predictions for the same context moved by a few
 * semitones (test-time augmentation), each view's pitch distribution moved back before averaging.
 *
 * Why: the style memory (memory.ts) holds the training performances note for note; what the mix needs from the
 * GPT is the part that generalises. A fine-tuned GPT has also memorised its pieces in their own keys and is
 * over-confident wherever a validation passage resembles them; the same context a semitone or two away asks it
 * for what it learned about music in general (the base was pre-trained with pitch-shift augmentation, so it reads
 * transposed music as well). Measured on the thesis protocol (session 18, views −2..2, memory refitted): baroque
 * 1.577 → 1.563, romantic 1.479 → 1.473, vanguard 1.600 → 1.598 — although the ensemble alone is worse than the
 * plain GPT for vanguard. The price is one forward pass per view.
 */
import { streamFields, TOKEN_FIELDS, type TokenField } from '../music/tokenizer.js';

const PITCH = TOKEN_FIELDS.indexOf('pitch');
/** Pitch tokens a view may hold (the grammar's 1..126; a view keeps a note at the edge there). */
const PITCH_LO = 1;
const PITCH_HI = 126;

/** A pitch token moved by `semitones`, kept within the pitch tokens. */
export function shiftPitch(token: number, semitones: number): number {
  return Math.min(PITCH_HI, Math.max(PITCH_LO, token + semitones));
}

/**
 * `tokens` (a window or a history, possibly starting mid-note) as the view `semitones` away: every pitch token
 * moved, the rest unchanged. Unlike transposeTokens (augmentation), the shift is never reduced: every view of
 * every context is the same distance away, so its prediction can be moved back by exactly that.
 */
export function transposeView(tokens: ArrayLike<number>, semitones: number): number[] {
  const fields = streamFields(tokens);
  return Array.from(tokens, (x, i) => (semitones !== 0 && fields[i] === PITCH ? shiftPitch(x, semitones) : x));
}

/**
 * The views' log-probabilities for one next token combined: the mean of their probabilities, a pitch view's
 * distribution read `semitones` back (its p(x + k) is the view's belief in x). Returns normalised log-probabilities.
 * `rows[v]` is view v's log-probabilities (or logits: each row is normalised first).
 */
export function combineViews(rows: readonly ArrayLike<number>[], views: readonly number[], field: TokenField): Float64Array {
  const vocab = rows[0].length;
  const out = new Float64Array(vocab);
  rows.forEach((row, v) => {
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) max = Math.max(max, row[i]);
    let sum = 0;
    for (let i = 0; i < vocab; i++) sum += Math.exp(row[i] - max);
    const logZ = max + Math.log(sum);
    const k = field === 'pitch' ? views[v] : 0;
    for (let x = 0; x < vocab; x++) {
      const from = x + k;
      if (from >= 0 && from < vocab) out[x] += Math.exp(row[from] - logZ);
    }
  });
  let total = 0;
  for (let x = 0; x < vocab; x++) total += out[x];
  for (let x = 0; x < vocab; x++) out[x] = Math.log(out[x] / total);
  return out;
}

/** The field of the token after a context whose last token has field `last` (a pitch is followed by its separator). */
export function fieldAfter(last: TokenField): TokenField {
  return last === 'sep' ? 'dt' : last === 'dt' ? 'dur' : last === 'dur' ? 'pitch' : 'sep';
}
