/**
 * Keeps one preset of a SoundFont (SF2, or SF3 with Ogg Vorbis samples) and drops everything else:
 * a RIFF rewrite that copies the preset, the instruments it uses and their samples byte for byte and
 * renumbers the indices. The sample data is copied verbatim, so the kept preset renders identically to
 * the same preset in the full font (checked in test/render-soundfont.test.ts when the full font is present).
 *
 * Layout (SoundFont 2.04 §4): RIFF 'sfbk' { LIST 'INFO', LIST 'sdta' { smpl [, sm24] },
 * LIST 'pdta' { phdr pbag pmod pgen inst ibag imod igen shdr } }. Each pdta list ends with a terminal record.
 */

export class SoundFontFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SoundFontFormatError';
  }
}

interface Chunk {
  id: string;
  data: Uint8Array;
}

const PHDR_SIZE = 38;
const BAG_SIZE = 4;
const MOD_SIZE = 10;
const GEN_SIZE = 4;
const INST_SIZE = 22;
const SHDR_SIZE = 46;

const GEN_INSTRUMENT = 41;
const GEN_SAMPLE_ID = 53;

/** sfSampleType bits; 0x10 is the SF3 extension meaning "Ogg Vorbis compressed". */
const SAMPLE_TYPE_MONO = 1;
const SAMPLE_TYPE_COMPRESSED = 0x10;
const SAMPLE_TYPE_ROM = 0x8000;
/** SoundFont 2.04 §7.10: every sample is followed by at least 46 zero-valued sample points. */
const SF2_SAMPLE_PADDING_POINTS = 46;

function fourcc(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function plausibleChunkAt(bytes: Uint8Array, at: number, end: number): boolean {
  if (at + 8 > end) return at >= end;
  return /^[\x20-\x7e]{4}$/.test(fourcc(bytes, at)) && at + 8 + view(bytes).getUint32(at + 4, true) <= end;
}

function readChunks(bytes: Uint8Array, start: number, end: number): Chunk[] {
  const chunks: Chunk[] = [];
  const dv = view(bytes);
  let at = start;
  while (at + 8 <= end) {
    const id = fourcc(bytes, at);
    const size = dv.getUint32(at + 4, true);
    if (at + 8 + size > end) throw new SoundFontFormatError(`chunk ${id} at byte ${at} runs past the end of its list`);
    chunks.push({ id, data: bytes.subarray(at + 8, at + 8 + size) });
    at += 8 + size + (size & 1);
    // Some writers (e.g. the tool that made MuseScore_General_Lite.sf3) omit the pad byte after an odd-sized chunk.
    if (size & 1 && !plausibleChunkAt(bytes, at, end) && plausibleChunkAt(bytes, at - 1, end)) at -= 1;
  }
  return chunks;
}

/** Splits a LIST chunk's data into its type and sub-chunks. */
function readList(chunk: Chunk): { type: string; chunks: Chunk[] } {
  if (chunk.id !== 'LIST') throw new SoundFontFormatError(`expected a LIST chunk, found ${chunk.id}`);
  return { type: fourcc(chunk.data, 0), chunks: readChunks(chunk.data, 4, chunk.data.length) };
}

function find(chunks: Chunk[], id: string): Chunk {
  const c = chunks.find((x) => x.id === id);
  if (!c) throw new SoundFontFormatError(`missing ${id} chunk`);
  return c;
}

function records(chunk: Chunk, size: number): Uint8Array[] {
  if (chunk.data.length % size !== 0) throw new SoundFontFormatError(`${chunk.id} size is not a multiple of ${size}`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < chunk.data.length; i += size) out.push(chunk.data.subarray(i, i + size));
  return out;
}

function u16(rec: Uint8Array, at: number): number {
  return view(rec).getUint16(at, true);
}

function name20(rec: Uint8Array): string {
  const end = rec.subarray(0, 20).indexOf(0);
  return new TextDecoder('latin1').decode(rec.subarray(0, end < 0 ? 20 : end));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function chunk(id: string, data: Uint8Array): Uint8Array {
  const head = new Uint8Array(8);
  for (let i = 0; i < 4; i++) head[i] = id.charCodeAt(i);
  view(head).setUint32(4, data.length, true);
  return concat(data.length & 1 ? [head, data, new Uint8Array(1)] : [head, data]);
}

function list(type: string, parts: Uint8Array[]): Uint8Array {
  const typeBytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) typeBytes[i] = type.charCodeAt(i);
  return chunk('LIST', concat([typeBytes, ...parts]));
}

/** INFO strings are zero-terminated and padded to an even length. */
function infoString(id: string, text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text.replace(/[^\x20-\x7e]/g, '?'));
  const padded = new Uint8Array(bytes.length + (bytes.length % 2 === 0 ? 2 : 1));
  padded.set(bytes);
  return chunk(id, padded);
}

export interface PresetSummary {
  name: string;
  bank: number;
  program: number;
}

export interface ExtractOptions {
  bank: number;
  program: number;
  /** Written to the INFO name (INAM). */
  name?: string;
  /** Written to the INFO comment (ICMT). */
  comment?: string;
}

interface ParsedFont {
  info: Chunk[];
  smpl: Uint8Array;
  sm24?: Uint8Array;
  phdr: Uint8Array[];
  pbag: Uint8Array[];
  pmod: Uint8Array[];
  pgen: Uint8Array[];
  inst: Uint8Array[];
  ibag: Uint8Array[];
  imod: Uint8Array[];
  igen: Uint8Array[];
  shdr: Uint8Array[];
}

function parse(bytes: Uint8Array): ParsedFont {
  if (bytes.length < 12 || fourcc(bytes, 0) !== 'RIFF' || fourcc(bytes, 8) !== 'sfbk') {
    throw new SoundFontFormatError('not a SoundFont (RIFF sfbk) file');
  }
  const riffEnd = Math.min(bytes.length, 8 + view(bytes).getUint32(4, true));
  const lists = readChunks(bytes, 12, riffEnd).filter((c) => c.id === 'LIST').map(readList);
  const byType = (t: string) => {
    const l = lists.find((x) => x.type === t);
    if (!l) throw new SoundFontFormatError(`missing LIST ${t}`);
    return l.chunks;
  };
  const sdta = byType('sdta');
  const pdta = byType('pdta');
  return {
    info: byType('INFO'),
    smpl: find(sdta, 'smpl').data,
    sm24: sdta.find((c) => c.id === 'sm24')?.data,
    phdr: records(find(pdta, 'phdr'), PHDR_SIZE),
    pbag: records(find(pdta, 'pbag'), BAG_SIZE),
    pmod: records(find(pdta, 'pmod'), MOD_SIZE),
    pgen: records(find(pdta, 'pgen'), GEN_SIZE),
    inst: records(find(pdta, 'inst'), INST_SIZE),
    ibag: records(find(pdta, 'ibag'), BAG_SIZE),
    imod: records(find(pdta, 'imod'), MOD_SIZE),
    igen: records(find(pdta, 'igen'), GEN_SIZE),
    shdr: records(find(pdta, 'shdr'), SHDR_SIZE),
  };
}

/** Lists the presets of a SoundFont (without the terminal EOP record). */
export function listPresets(bytes: Uint8Array): PresetSummary[] {
  const font = parse(bytes);
  return font.phdr.slice(0, -1).map((r) => ({ name: name20(r), program: u16(r, 20), bank: u16(r, 22) }));
}

/**
 * Copies the zones (bags with their generators and modulators) in bag range [from, to) into new lists,
 * rewriting the generator `indexGen` (instrument or sample index) through `remap`.
 */
function copyZones(
  bags: Uint8Array[],
  gens: Uint8Array[],
  mods: Uint8Array[],
  from: number,
  to: number,
  indexGen: number,
  remap: (oldIndex: number) => number,
  out: { bags: Uint8Array[]; gens: Uint8Array[]; mods: Uint8Array[] },
): void {
  for (let b = from; b < to; b++) {
    const bag = new Uint8Array(BAG_SIZE);
    view(bag).setUint16(0, out.gens.length, true);
    view(bag).setUint16(2, out.mods.length, true);
    out.bags.push(bag);
    for (let g = u16(bags[b], 0); g < u16(bags[b + 1], 0); g++) {
      const gen = gens[g].slice();
      if (u16(gen, 0) === indexGen) view(gen).setUint16(2, remap(u16(gen, 2)), true);
      out.gens.push(gen);
    }
    for (let m = u16(bags[b], 2); m < u16(bags[b + 1], 2); m++) out.mods.push(mods[m].slice());
  }
}

function terminal(size: number, name?: string, indexAt?: number, index?: number): Uint8Array {
  const rec = new Uint8Array(size);
  if (name) rec.set(new TextEncoder().encode(name));
  if (indexAt !== undefined && index !== undefined) view(rec).setUint16(indexAt, index, true);
  return rec;
}

function bagTerminal(gens: number, mods: number): Uint8Array {
  const rec = new Uint8Array(BAG_SIZE);
  view(rec).setUint16(0, gens, true);
  view(rec).setUint16(2, mods, true);
  return rec;
}

/** Returns a new SoundFont holding only the preset bank:program, its instruments and samples. */
export function extractPreset(bytes: Uint8Array, opts: ExtractOptions): Uint8Array {
  const font = parse(bytes);
  const presetIndex = font.phdr
    .slice(0, -1)
    .findIndex((r) => u16(r, 20) === opts.program && u16(r, 22) === opts.bank);
  if (presetIndex < 0) throw new SoundFontFormatError(`no preset ${opts.bank}:${opts.program} in this SoundFont`);

  // Instruments: in order of first use, so the output is deterministic.
  const instMap = new Map<number, number>();
  const mapInst = (old: number) => {
    if (!instMap.has(old)) instMap.set(old, instMap.size);
    return instMap.get(old)!;
  };
  const p = { bags: [] as Uint8Array[], gens: [] as Uint8Array[], mods: [] as Uint8Array[] };
  const pr = font.phdr[presetIndex];
  copyZones(font.pbag, font.pgen, font.pmod, u16(pr, 24), u16(font.phdr[presetIndex + 1], 24), GEN_INSTRUMENT, mapInst, p);

  const sampleMap = new Map<number, number>();
  const mapSample = (old: number) => {
    if (!sampleMap.has(old)) sampleMap.set(old, sampleMap.size);
    return sampleMap.get(old)!;
  };
  const i = { bags: [] as Uint8Array[], gens: [] as Uint8Array[], mods: [] as Uint8Array[] };
  const instRecs: Uint8Array[] = [];
  for (const [oldInst] of instMap) {
    const rec = font.inst[oldInst].slice();
    view(rec).setUint16(20, i.bags.length, true);
    instRecs.push(rec);
    copyZones(font.ibag, font.igen, font.imod, u16(font.inst[oldInst], 20), u16(font.inst[oldInst + 1], 20), GEN_SAMPLE_ID, mapSample, i);
  }
  // Stereo partners must come along so that sample links stay valid.
  for (const [oldSample] of sampleMap) {
    const type = u16(font.shdr[oldSample], 44);
    if ((type & ~(SAMPLE_TYPE_COMPRESSED | SAMPLE_TYPE_ROM)) !== SAMPLE_TYPE_MONO) mapSample(u16(font.shdr[oldSample], 42));
  }

  const smplParts: Uint8Array[] = [];
  const sm24Parts: Uint8Array[] = [];
  let smplBytes = 0;
  const shdrRecs: Uint8Array[] = [];
  for (const [oldSample] of sampleMap) {
    const rec = font.shdr[oldSample].slice();
    const dv = view(rec);
    const type = dv.getUint16(44, true);
    if (type & SAMPLE_TYPE_ROM) throw new SoundFontFormatError(`sample ${name20(rec)} lives in ROM, cannot extract it`);
    const start = dv.getUint32(20, true);
    const end = dv.getUint32(24, true);
    if (type & SAMPLE_TYPE_COMPRESSED) {
      // SF3: start/end are byte offsets of an Ogg Vorbis stream; loop points are relative to the sample, unchanged.
      smplParts.push(font.smpl.subarray(start, end));
      dv.setUint32(20, smplBytes, true);
      dv.setUint32(24, smplBytes + (end - start), true);
      smplBytes += end - start;
    } else {
      // SF2: 16-bit points; copy the sample and its zero padding, shift the loop points with it.
      const points = end - start + SF2_SAMPLE_PADDING_POINTS;
      const data = new Uint8Array(points * 2);
      data.set(font.smpl.subarray(start * 2, Math.min(font.smpl.length, (start + points) * 2)));
      smplParts.push(data);
      if (font.sm24) {
        const low = new Uint8Array(points);
        low.set(font.sm24.subarray(start, Math.min(font.sm24.length, start + points)));
        sm24Parts.push(low);
      }
      const shift = smplBytes / 2 - start;
      dv.setUint32(20, start + shift, true);
      dv.setUint32(24, end + shift, true);
      dv.setUint32(28, dv.getUint32(28, true) + shift, true);
      dv.setUint32(32, dv.getUint32(32, true) + shift, true);
      smplBytes += data.length;
    }
    if ((type & ~(SAMPLE_TYPE_COMPRESSED | SAMPLE_TYPE_ROM)) !== SAMPLE_TYPE_MONO) {
      dv.setUint16(42, sampleMap.get(dv.getUint16(42, true))!, true);
    } else {
      dv.setUint16(42, 0, true);
    }
    shdrRecs.push(rec);
  }

  const presetRec = pr.slice();
  view(presetRec).setUint16(24, 0, true);
  const pdta = list('pdta', [
    chunk('phdr', concat([presetRec, terminal(PHDR_SIZE, 'EOP', 24, p.bags.length)])),
    chunk('pbag', concat([...p.bags, bagTerminal(p.gens.length, p.mods.length)])),
    chunk('pmod', concat([...p.mods, terminal(MOD_SIZE)])),
    chunk('pgen', concat([...p.gens, terminal(GEN_SIZE)])),
    chunk('inst', concat([...instRecs, terminal(INST_SIZE, 'EOI', 20, i.bags.length)])),
    chunk('ibag', concat([...i.bags, bagTerminal(i.gens.length, i.mods.length)])),
    chunk('imod', concat([...i.mods, terminal(MOD_SIZE)])),
    chunk('igen', concat([...i.gens, terminal(GEN_SIZE)])),
    chunk('shdr', concat([...shdrRecs, terminal(SHDR_SIZE, 'EOS')])),
  ]);
  // Keep every chunk even-sized so that no reader has to deal with RIFF pad bytes.
  if (smplBytes & 1) smplParts.push(new Uint8Array(1));
  const sdta = list('sdta', [chunk('smpl', concat(smplParts)), ...(font.sm24 ? [chunk('sm24', concat(sm24Parts))] : [])]);

  // INFO: keep the version, engine and credits of the source; name and describe the extract.
  const keep = ['ifil', 'isng', 'irom', 'iver', 'ICRD', 'IENG', 'IPRD', 'ICOP'];
  const infoParts = font.info.filter((c) => keep.includes(c.id)).map((c) => chunk(c.id, c.data));
  infoParts.splice(2, 0, infoString('INAM', opts.name ?? `${name20(pr)} (extracted)`));
  if (opts.comment) infoParts.push(infoString('ICMT', opts.comment));
  const info = list('INFO', infoParts);

  const body = concat([new TextEncoder().encode('sfbk'), info, sdta, pdta]);
  return chunk('RIFF', body);
}
