import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findSourceFont } from '../scripts/extract-piano.js';
import { DEFAULT_SOUNDFONT } from '../src/render/fluidsynth.js';
import { extractPreset, listPresets, SoundFontFormatError } from '../src/render/soundfont-extract.js';

const piano = new Uint8Array(readFileSync(DEFAULT_SOUNDFONT));

describe('soundfonts/piano.sf3', () => {
  it('holds exactly the acoustic grand (bank 0, program 0) and stays small', () => {
    expect(listPresets(piano)).toEqual([{ name: 'Grand Piano', bank: 0, program: 0 }]);
    expect(piano.length).toBeLessThanOrEqual(16 * 2 ** 20);
  });

  it('extraction is a fixed point: extracting the piano from itself changes nothing', () => {
    const again = extractPreset(piano, {
      bank: 0,
      program: 0,
      name: 'Grand Piano - Maestro piano',
      comment: 'Preset 000:000 extracted from MuseScore_General_Full.sf3 by scripts/extract-piano.ts (MIT; piano samples public domain)',
    });
    expect(Buffer.from(again).equals(Buffer.from(piano))).toBe(true);
  });

  it('rejects what is not a SoundFont or lacks the preset', () => {
    expect(() => listPresets(new Uint8Array(64))).toThrow(SoundFontFormatError);
    expect(() => extractPreset(piano, { bank: 0, program: 40 })).toThrow(/no preset 0:40/);
  });

  const source = findSourceFont();
  it.skipIf(!source)('regenerates byte for byte from the installed MuseScore General font', () => {
    if (!source) return;
    const full = new Uint8Array(readFileSync(source));
    const regenerated = extractPreset(full, {
      bank: 0,
      program: 0,
      name: 'Grand Piano - Maestro piano',
      comment: `Preset 000:000 extracted from ${source.split('/').pop()} by scripts/extract-piano.ts (MIT; piano samples public domain)`,
    });
    if (source.endsWith('MuseScore_General_Full.sf3')) expect(Buffer.from(regenerated).equals(Buffer.from(piano))).toBe(true);
    else expect(regenerated.length).toBe(piano.length);
  });
  if (!source) console.warn('render-soundfont.test: MuseScore General is not installed (apt-get install musescore-general-soundfont); regeneration check skipped');
});
