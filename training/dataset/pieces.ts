/**
 * "Is this the same piece?" across MAESTRO, ASAP and piano-midi.de, whose titles are spelled
 * differently ("Prelude and Fugue in F-sharp Minor, WTC II" / "Prelude_bwv_883" /
 * "The_Well-Tempered_Clavier_Part1_BWV_846"; "Scherzo No. 2 in B-flat Minor, Op. 31" / "Scherzos_31").
 *
 * A title is reduced to catalogue keys scoped by composer surname:
 *  - BWV numbers (`bach:bwv883`), and for Well-Tempered Clavier titles without one, the BWV number
 *    computed from book and key (WTC I = BWV 846–869, WTC II = 870–893, in chromatic order major/minor);
 *  - opus numbers with their numbers inside the opus (`chopin:op10-5`); an opus without a number is a
 *    whole work (`chopin:op25`), which matches every number inside it;
 *  - a few ASAP folder names that carry no opus (Chopin's Ballades_1, Scherzos_20, Sonata_2_…);
 *  - a title without any catalogue number is compared by its plain words with the other title's
 *    words once catalogue numbers and parentheses are removed ("Sonata No. 2 in B-flat Minor" =
 *    "Sonata No. 2 in B-flat Minor, Op. 36 (1913)").
 * Matching errs towards "same": for validation hygiene, excluding one performance too many is
 * cheap, leaking a validation piece into training is not.
 */
import { composerSurname } from './styles.js';

export interface PieceIdentity {
  composer: string;
  /** Specific keys: equal keys mean the same piece. */
  keys: Set<string>;
  /** Whole works (opus without number): match any key of that opus. */
  wholeWorks: Set<string>;
  /** Title without catalogue numbers, parentheses or punctuation ("sonata no 2 in b flat minor"). */
  plainTitle: string;
  /** Whether the title carried a catalogue number (BWV, WTC book+key, opus, or a known ASAP name). */
  catalogued: boolean;
}

const PITCH_CLASS: Record<string, number> = { c: 0, d: 2, e: 4, f: 5, g: 7, a: 9, b: 11 };

function normalise(title: string): string {
  return title
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/_/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** BWV number of a Well-Tempered Clavier prelude & fugue from its book and key, if the title says both. */
function wtcBwv(t: string): number | undefined {
  const book =
    /\b(?:wtc|wtk|book)\s*(ii|2)\b/.test(t) || /clavier part\s*2/.test(t)
      ? 2
      : /\b(?:wtc|wtk|book)\s*(i|1)\b/.test(t) || /clavier part\s*1/.test(t)
        ? 1
        : undefined;
  if (book === undefined) return undefined;
  const key = /\bin ([a-g])(?:[- ]?(sharp|flat))? (major|minor)\b/.exec(t);
  if (!key) return undefined;
  const pc = (PITCH_CLASS[key[1]!]! + (key[2] === 'sharp' ? 1 : key[2] === 'flat' ? -1 : 0) + 12) % 12;
  return (book === 1 ? 846 : 870) + pc * 2 + (key[3] === 'minor' ? 1 : 0);
}

/** Chopin works that ASAP names by genre and number instead of opus. */
const ASAP_CHOPIN: [RegExp, (m: RegExpExecArray) => string | undefined][] = [
  [/^ballades (\d)$/, (m) => ['op23', 'op38', 'op47', 'op52'][Number(m[1]) - 1]],
  [/^scherzos (\d+)$/, (m) => `op${m[1]}`],
  [/^polonaises (\d+)$/, (m) => `op${m[1]}`],
  [/^sonata 2\b/, () => 'op35'],
  [/^sonata 3\b/, () => 'op58'],
  [/^barcarolle$/, () => 'op60'],
];

export function pieceIdentity(composer: string, title: string): PieceIdentity {
  const who = composerSurname(composer);
  const t = normalise(title);
  const keys = new Set<string>();
  const wholeWorks = new Set<string>();

  for (const m of t.matchAll(/\bbwv\s*(\d+)/g)) keys.add(`${who}:bwv${Number(m[1])}`);
  const wtc = wtcBwv(t);
  if (wtc !== undefined) keys.add(`${who}:bwv${wtc}`);

  // "op. 23, nos. 2, 4 and 5", "op 10 5", "opus 33 no. 3", "op. 32/5"
  for (const m of t.matchAll(/\bop(?:us)?\.?\s*(\d+)\b((?:(?:\s|,|\/|nos?\.?|and|&)+\d+\b)*)/g)) {
    const opus = Number(m[1]);
    const numbers = [...(m[2] ?? '').matchAll(/\d+/g)].map((n) => Number(n[0]));
    if (numbers.length === 0) wholeWorks.add(`${who}:op${opus}`);
    for (const n of numbers) keys.add(`${who}:op${opus}-${n}`);
  }
  if (who === 'chopin') {
    for (const [re, toKey] of ASAP_CHOPIN) {
      const m = re.exec(t);
      const k = m ? toKey(m) : undefined;
      if (k) wholeWorks.add(`${who}:${k}`);
    }
  }
  const plainTitle = t
    .replace(/\([^)]*\)/g, ' ')
    .replace(/\bop(?:us)?\.?\s*\d+\b((?:(?:\s|,|\/|nos?\.?|and|&)+\d+\b)*)/g, ' ')
    .replace(/\bbwv\s*\d+/g, ' ')
    .replace(/&/g, ' and ')
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
  const catalogued = keys.size > 0 || wholeWorks.size > 0;
  return { composer: who, keys, wholeWorks, plainTitle, catalogued };
}

function coveredBy(whole: Set<string>, other: PieceIdentity): boolean {
  for (const w of whole) {
    if (other.wholeWorks.has(w)) return true;
    for (const k of other.keys) if (k.startsWith(`${w}-`)) return true;
  }
  return false;
}

export function samePiece(a: PieceIdentity, b: PieceIdentity): boolean {
  if (a.composer !== b.composer) return false;
  for (const k of a.keys) if (b.keys.has(k)) return true;
  if (coveredBy(a.wholeWorks, b) || coveredBy(b.wholeWorks, a)) return true;
  // A title without catalogue number ("Sonata No. 2 in B-flat Minor") can only be compared by words.
  return (!a.catalogued || !b.catalogued) && a.plainTitle !== '' && a.plainTitle === b.plainTitle;
}
