// The styles offered by /compose and /styles come from training/styles.json (written by the training side).
// The file is read defensively: a missing or malformed file falls back to the thesis' three styles,
// with a warning, rather than stopping the bot.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StyleInfo {
  name: string;
  label: string;
  composers: string[];
}

export const FALLBACK_STYLES: StyleInfo[] = [
  { name: 'baroque', label: 'Baroque', composers: ['Bach'] },
  { name: 'romantic', label: 'Romantic', composers: ['Chopin'] },
  { name: 'vanguard', label: 'Vanguard', composers: ['Rachmaninoff'] },
];

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function defaultStylesFile(): string {
  return path.resolve(REPO_ROOT, process.env.STYLES_FILE ?? 'training/styles.json');
}

export function loadStyles(file: string, warn: (msg: string) => void = () => {}): StyleInfo[] {
  if (!existsSync(file)) {
    warn(`styles file ${file} not found; offering the default styles`);
    return FALLBACK_STYLES;
  }
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    const list = (raw as { styles?: unknown }).styles;
    if (!Array.isArray(list)) throw new Error('no "styles" array');
    const styles: StyleInfo[] = [];
    for (const s of list) {
      if (!s || typeof s !== 'object') continue;
      const { name, label, composers } = s as Record<string, unknown>;
      if (typeof name !== 'string' || !/^[a-z][a-z0-9_-]{0,31}$/.test(name)) continue;
      styles.push({
        name,
        label: typeof label === 'string' && label.trim() ? label.trim().slice(0, 60) : name,
        composers: Array.isArray(composers) ? composers.filter((c): c is string => typeof c === 'string').slice(0, 20) : [],
      });
    }
    // Discord allows at most 25 choices.
    if (styles.length === 0) throw new Error('no usable style entries');
    return styles.slice(0, 25);
  } catch (err) {
    warn(`styles file ${file} is unusable (${(err as Error).message}); offering the default styles`);
    return FALLBACK_STYLES;
  }
}

/** models/<style>/card.json as `maestro train` writes it; read loosely, every field may be missing. */
export interface ModelCard {
  name?: unknown;
  description?: unknown;
  metrics?: unknown;
  data?: unknown;
  training?: unknown;
  [key: string]: unknown;
}

/** What `maestro memory` measured for models/<style>/memory.json, if present and parseable. */
export function loadMemoryFit(modelsDir: string, style: string): { notes?: unknown; valLoss?: unknown; gptValLoss?: unknown } | null {
  const json = readJsonObject(path.join(modelsDir, style, 'memory.json')) as { source?: { notes?: unknown }; fit?: { valLoss?: unknown; gptValLoss?: unknown } } | null;
  return json && { notes: json.source?.notes, valLoss: json.fit?.valLoss, gptValLoss: json.fit?.gptValLoss };
}

/** How `maestro performance` says the style is played (models/<style>/performance.json), if present and parseable. */
export function loadPerformanceFit(modelsDir: string, style: string): { pedal: boolean | null; performances?: unknown } | null {
  const json = readJsonObject(path.join(modelsDir, style, 'performance.json')) as { pedal?: { pedal?: unknown }; dynamics?: { fitted?: { performances?: unknown } } } | null;
  if (!json) return null;
  const rule = json.pedal?.pedal;
  return { pedal: rule === undefined ? null : rule !== null, performances: json.dynamics?.fitted?.performances };
}

/** models/<style>/card.json, if present and parseable. */
export function loadModelCard(modelsDir: string, style: string): ModelCard | null {
  return readJsonObject(path.join(modelsDir, style, 'card.json')) as ModelCard | null;
}

/** A JSON object from a file, or null when the file is missing or is not one (read loosely: /styles never fails on it). */
function readJsonObject(file: string): object | null {
  if (!existsSync(file)) return null;
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return json && typeof json === 'object' ? json : null;
  } catch {
    return null;
  }
}
