/**
 * Regenerates soundfonts/piano.sf3: the acoustic grand (bank 0, program 0) of MuseScore General,
 * cut out of the full General MIDI font with a byte-exact RIFF rewrite (src/render/soundfont-extract.ts).
 *
 *   apt-get install musescore-general-soundfont     # MuseScore_General_Full.sf3 (MIT; the piano is public domain)
 *   npx tsx scripts/extract-piano.ts [source.sf2|sf3] [out.sf3]
 *
 * With no arguments it uses the first source font it finds (see SOURCE_CANDIDATES).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { extractPreset, listPresets } from '../src/render/soundfont-extract.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where Debian's musescore-general-soundfont* packages install the full font, best first. */
export const SOURCE_CANDIDATES = [
  '/usr/share/sounds/sf3/MuseScore_General_Full.sf3', // musescore-general-soundfont
  '/usr/share/sounds/sf3/MuseScore_General_Lite.sf3', // musescore-general-soundfont-small (same piano samples)
];

export const DEFAULT_OUT = path.join(repoRoot, 'soundfonts', 'piano.sf3');

export function findSourceFont(): string | undefined {
  return SOURCE_CANDIDATES.find((p) => existsSync(p));
}

function main(argv: string[]): number {
  const source = argv[0] ?? findSourceFont();
  const out = argv[1] ?? DEFAULT_OUT;
  if (!source || !existsSync(source)) {
    console.error('No source SoundFont found. Install it with: apt-get install musescore-general-soundfont');
    return 1;
  }
  const bytes = new Uint8Array(readFileSync(source));
  const grand = listPresets(bytes).find((p) => p.bank === 0 && p.program === 0);
  const piano = extractPreset(bytes, {
    bank: 0,
    program: 0,
    name: `${grand?.name ?? 'Piano'} - Maestro piano`,
    comment: `Preset 000:000 extracted from ${path.basename(source)} by scripts/extract-piano.ts (MIT; piano samples public domain)`,
  });
  writeFileSync(out, piano);
  console.log(`${source} (${(bytes.length / 2 ** 20).toFixed(1)} MiB) -> ${out} (${(piano.length / 2 ** 20).toFixed(2)} MiB), preset "${grand?.name}"`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
