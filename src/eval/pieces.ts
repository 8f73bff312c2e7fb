/**
 * Which performances are of the same piece. Titles in MAESTRO, ASAP and piano-midi-de are spelled many ways
 * ("Prelude & Fugue in G Minor, WTK II", "Prelude and Fugue in G Minor, WTC II,  BWV 885", "Fugue_bwv_885"), so
 * each title yields identity tokens (BWV number, opus[/number], numbered sonata/ballade/suite, WTC book + key,
 * a few unique names) and performances sharing a token are joined (union–find). A set-level title such as
 * "Etudes-Tableaux Op. 33" joins every numbered piece of that opus. Over-joining only makes splits stricter,
 * which is the safe direction for an honest held-out score.
 */

export type Style = 'baroque' | 'romantic' | 'vanguard';
export const STYLES: readonly Style[] = ['baroque', 'romantic', 'vanguard'];

const NOTE_PC: Record<string, number> = { c: 0, d: 2, e: 4, f: 5, g: 7, a: 9, b: 11 };
const UNIQUE_NAMES = ['barcarolle', 'berceuse', 'polka', 'lilac', 'italian concerto', 'chromatic fantasy', 'fantaisie impromptu', 'polonaise fantaisie', 'andante spianato', 'rondo', 'toccata', 'duet'];

export interface PieceTokens {
  /** Tokens that identify the piece, prefixed with the composer. */
  exact: string[];
  /** "composer:op:N" for a set-level title (an opus without a number): joins every "op:N:*". */
  opusSets: string[];
}

function composerKey(composer: string): string {
  const c = composer.toLowerCase();
  if (c.includes('bach')) return 'bach';
  if (c.includes('chopin')) return 'chopin';
  if (c.includes('rachmaninoff') || c.includes('rachmaninov')) return 'rachmaninoff';
  return c.replace(/[^a-z]/g, '');
}

/** Tonic pitch class and mode named in a title ("in C-sharp Minor", "Bb_minor"), if any. */
function titleKey(t: string): { pc: number; minor: boolean } | undefined {
  const m = /\bin ([a-g])(?:[- ]?(sharp|flat|#|b))? (major|minor)\b/.exec(t) ?? /\b([a-g])(#|b)?_(major|minor)\b/.exec(t);
  if (!m) return undefined;
  let pc = NOTE_PC[m[1]];
  if (m[2] === 'sharp' || m[2] === '#') pc += 1;
  if (m[2] === 'flat' || m[2] === 'b') pc += 11;
  return { pc: pc % 12, minor: m[3] === 'minor' };
}

export function pieceTokens(composer: string, title: string): PieceTokens {
  const who = composerKey(composer);
  const t = title.toLowerCase().replace(/\s+/g, ' ').trim();
  const exact = new Set<string>();
  const opusSets: string[] = [];

  for (const m of t.matchAll(/bwv[\s_]*(\d+)/g)) exact.add(`${who}:bwv:${m[1]}`);

  // Well-Tempered Clavier: book + key gives the BWV number (24 per book, C, c, C#, c#, … in order).
  const book = /\b(?:wt[ck]|book|part)\s*_?(ii|i|2|1)\b/.exec(t) ?? /clavier_part(1|2)/.exec(t);
  const key = titleKey(t);
  if (who === 'bach' && book && key) {
    const second = book[1] === 'ii' || book[1] === '2';
    exact.add(`${who}:bwv:${(second ? 870 : 846) + 2 * key.pc + (key.minor ? 1 : 0)}`);
  }

  // ASAP folder names where the number is the opus: Scherzos_31, Polonaises_53.
  const asapOpus = /^(?:scherzos|polonaises)_(\d+)$/.exec(t);
  if (asapOpus) exact.add(`${who}:op:${asapOpus[1]}`);

  // Not \b: piano-midi-de and ASAP names glue words with underscores ("8_Etudes-tableaux_Opus_33_5").
  const opus = /(?:^|[^a-z])op(?:us)?\.?[\s_]*(\d+)(.*)$/.exec(t);
  if (opus) {
    const rest = opus[2];
    const numbers: string[] = [];
    const list = /^\s*,?\s*nos?\.?\s*([\d ,and]+)/.exec(rest);
    const single = /^(?:\s*,?\s*no\.?\s*|\/|_)(\d+)/.exec(rest);
    if (list) numbers.push(...(list[1].match(/\d+/g) ?? []));
    else if (single) numbers.push(single[1]);
    if (numbers.length === 0) {
      exact.add(`${who}:op:${opus[1]}`);
      opusSets.push(`${who}:op:${opus[1]}`);
    } else {
      for (const n of numbers) exact.add(`${who}:op:${opus[1]}:${n}`);
    }
  }

  const numbered = /(?:^|[^a-z])(english suite|french suite|partita|sonata|ballades?|scherzo)[\s_]*(?:no\.?\s*)?(\d+)/.exec(t);
  if (numbered) exact.add(`${who}:${numbered[1].replace(/s$/, '').replace(' ', '')}:${numbered[2]}`);

  for (const name of UNIQUE_NAMES) {
    if (t.replace(/[_-]/g, ' ').includes(name)) exact.add(`${who}:name:${name}`);
  }
  if (exact.size === 0) exact.add(`${who}:title:${t.replace(/[^a-z0-9]/g, '')}`);
  return { exact: [...exact], opusSets };
}

/** Groups items into pieces: returns a piece id (the smallest index of its group, as a string) per item. */
export function groupPieces(items: readonly { composer: string; title: string }[]): string[] {
  const parent = items.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  const union = (a: number, b: number) => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  const owner = new Map<string, number>();
  const tokens = items.map((it) => pieceTokens(it.composer, it.title));
  tokens.forEach((tk, i) => {
    for (const tok of tk.exact) {
      const o = owner.get(tok);
      if (o === undefined) owner.set(tok, i);
      else union(o, i);
    }
  });
  tokens.forEach((tk, i) => {
    for (const set of tk.opusSets) {
      for (const [tok, o] of owner) if (tok.startsWith(`${set}:`)) union(o, i);
    }
  });
  return items.map((_, i) => String(find(i)));
}
