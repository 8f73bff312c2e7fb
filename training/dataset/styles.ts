/**
 * Style definitions live in one config file (`training/styles.json`), not in code: an admin adds a
 * style (e.g. classical = Mozart + Haydn) by editing it. Shape:
 *
 *   { "seed": 2023, "piecesPerStyle": 50, "validationFraction": 0.1,
 *     "styles": [ { "name": "baroque", "label": "Baroque (Bach)",
 *                   "composers": ["Johann Sebastian Bach"],      // MAESTRO canonical_composer spellings
 *                   "catalogComposers": ["Bach"] } ] }           // index.csv spellings (optional)
 *
 * `seed`, `piecesPerStyle` and `validationFraction` may also be set per style.
 */
import { readFileSync } from 'node:fs';

export interface StyleDefinition {
  name: string;
  label: string;
  /** MAESTRO `canonical_composer` values. */
  composers: string[];
  /** Catalog (`index.csv`) composer values; defaults to each composer's last name. */
  catalogComposers: string[];
  piecesPerStyle: number;
  seed: number;
  validationFraction: number;
}

export class StylesConfigError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'StylesConfigError';
  }
}

const isStringArray = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string' && s.trim() !== '');

/** The last word of a composer's name, without accents, lower case: "Frédéric Chopin" → "chopin". */
export function composerSurname(name: string): string {
  const plain = name.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().trim();
  const firstComposer = plain.split('/')[0]!.trim();
  const words = firstComposer.split(/\s+/);
  return words[words.length - 1] ?? firstComposer;
}

export function parseStyles(json: unknown, file = 'styles.json'): StyleDefinition[] {
  const fail = (problem: string): never => {
    throw new StylesConfigError(file, problem);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('must be a JSON object with a "styles" array');
  const root = json as Record<string, unknown>;
  const intOr = (v: unknown, fallback: number, what: string, min: number) => {
    if (v === undefined) return fallback;
    if (!Number.isInteger(v) || (v as number) < min) fail(`${what} must be an integer ≥ ${min}`);
    return v as number;
  };
  const fractionOr = (v: unknown, fallback: number, what: string) => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !(v > 0 && v < 1)) fail(`${what} must be a number between 0 and 1 (exclusive)`);
    return v as number;
  };
  const seed = intOr(root.seed, 2023, '"seed"', 0);
  const pieces = intOr(root.piecesPerStyle, 50, '"piecesPerStyle"', 1);
  const fraction = fractionOr(root.validationFraction, 0.1, '"validationFraction"');
  if (!Array.isArray(root.styles) || root.styles.length === 0) fail('"styles" must be a non-empty array');
  const seen = new Set<string>();
  return (root.styles as unknown[]).map((s, i) => {
    const where = `styles[${i}]`;
    if (typeof s !== 'object' || s === null) fail(`${where} must be an object`);
    const st = s as Record<string, unknown>;
    if (typeof st.name !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(st.name)) {
      fail(`${where}.name must be a lower-case identifier like "baroque" (got ${JSON.stringify(st.name)})`);
    }
    const name = st.name as string;
    if (seen.has(name)) fail(`style "${name}" is defined twice`);
    seen.add(name);
    if (typeof st.label !== 'string' || st.label.trim() === '') fail(`style "${name}": "label" must be a non-empty string`);
    if (!isStringArray(st.composers) || st.composers.length === 0) {
      fail(`style "${name}": "composers" must be a non-empty list of MAESTRO composer names, e.g. ["Johann Sebastian Bach"]`);
    }
    const composers = st.composers as string[];
    if (st.catalogComposers !== undefined && !isStringArray(st.catalogComposers)) {
      fail(`style "${name}": "catalogComposers" must be a list of names`);
    }
    return {
      name,
      label: st.label as string,
      composers,
      catalogComposers: (st.catalogComposers as string[] | undefined) ?? composers.map((c) => {
        const surname = composerSurname(c);
        return surname.charAt(0).toUpperCase() + surname.slice(1);
      }),
      piecesPerStyle: intOr(st.piecesPerStyle, pieces, `style "${name}": "piecesPerStyle"`, 1),
      seed: intOr(st.seed, seed, `style "${name}": "seed"`, 0),
      validationFraction: fractionOr(st.validationFraction, fraction, `style "${name}": "validationFraction"`),
    };
  });
}

export function loadStyles(file: string): StyleDefinition[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new StylesConfigError(file, `cannot read the styles file (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new StylesConfigError(file, `is not valid JSON (${(e as Error).message})`);
  }
  return parseStyles(json, file);
}
