/**
 * ABC notation → MIDI bytes: a melody typed into a chat message, or an .abc file as folk-tune sites publish them,
 * enters the pipeline as an uploaded MIDI file would, so everything after this module is the same. abcjs (the
 * renderer most ABC sites use) parses the text and writes the MIDI.
 *
 * Discord's slash-command options are one line: a tune pasted into one arrives with its header lines joined by spaces
 * ("X:1 T:The Kesh M:6/8 L:1/8 K:G |:GAG GAB|…"), which ABC would read as one header holding the whole tune.
 * `unfoldHeaders` puts each header field back on its own line, and the tune's body after the key field.
 */
import abcjs from 'abcjs';

/** Text that is not a melody in ABC notation: the message says why, for the person who typed it. */
export class AbcInputError extends Error {}

/** Longer than any folk tune's page; Discord's option cap is 6,000. */
export const MAX_ABC_CHARS = 6000;

/** A one-line example for messages and help texts: Ode to Joy's first phrase in D major, in crotchets at 120 a minute
 * (without L: and Q:, ABC's notes are quavers and abcjs plays 180 crotchets a minute: a typed melody would race). */
export const ABC_EXAMPLE = 'L:1/4 Q:1/4=120 K:D FFGA|AGFE|DDEF|F>EE2|';

export interface AbcMelody {
  /** A standard MIDI file of the tune's first melody (chord symbols are not played: they are not what was written). */
  midi: Uint8Array;
  /** The tune's title (T:), when it has one. */
  title?: string;
  /** Notes and chords in the tune (what abcjs read as notes; rests not counted). */
  notes: number;
  /**
   * The key its K: field declares, when that is a major or minor key ("G major", "E minor"); absent for a modal key
   * (Dorian, Mixolydian, …: their scales are not a major or minor key's), K:none or no K: field.
   */
  key?: string;
}

// The key field's value: a tonic with an optional mode ("G", "Gmaj", "F# minor", "Am", "D dor"), or none.
const KEY_VALUE = /^K:[ \t]*(?:(?:[A-G][#b]?(?:[ \t]*(?:maj(?:or)?|min(?:or)?|m|mix(?:olydian)?|dor(?:ian)?|phr(?:ygian)?|lyd(?:ian)?|loc(?:rian)?|aeo(?:lian)?|ion(?:ian)?)(?![a-z]))?)|none|HP|Hp)?/i;

/** One-line text with header fields back on lines of their own (text that has line breaks is returned as it is). */
export function unfoldHeaders(text: string): string {
  if (text.includes('\n')) return text;
  // Header fields are a letter and a colon at the start of a line; in one line, after a space. The body never has
  // "<letter>:" after a space (its fields are inline, in brackets), so a split there is a field.
  const key = /(?:^|\s)K:/.exec(text);
  if (!key) return text;
  const keyStart = key.index + key[0].length - 2;
  const head = text.slice(0, keyStart).trim().replace(/\s+(?=[A-Za-z]:)/g, '\n');
  const value = KEY_VALUE.exec(text.slice(keyStart))![0];
  let body = text.slice(keyStart + value.length).trim();
  // ABC wants the key field last, but a person typing one line may not know it ("K:C L:1/4 CCGG|…"): the note length,
  // meter and tempo fields whose values cannot be notes move before it.
  const late: string[] = [];
  for (let m = LATE_FIELD.exec(body); m; m = LATE_FIELD.exec(body)) {
    late.push(m[0].trim());
    body = body.slice(m[0].length).trim();
  }
  return [head, ...late, value.trim(), body].filter((part) => part.length > 0).join('\n');
}

/** A note-length, meter or tempo field with its value (L:1/4, M:6/8, M:C|, Q:1/4=120, Q:100) at the start of a body. */
const LATE_FIELD = /^[LMQ]:[ \t]*(?:\d+\/\d+=\d+|\d+\/\d+|\d+|C\|?|none)(?=\s|$)/;

/**
 * abcjs' warnings are HTML for a web page ("Music Line:1:2: Unknown character ignored:  t<span …>h</span>is"): in
 * plain words for a chat message, with the character it stumbled on. Line and column are left out: they count the
 * lines after `unfoldHeaders`, not the ones the person typed.
 */
export function plainWarning(warning: string): string {
  const parts = /^Music Line:\d+:\d+:\s*(.*?):\s*(.*)$/s.exec(warning);
  const marked = /<span[^>]*>(.*?)<\/span>/s.exec(warning)?.[1];
  const text = (html: string) => html.replace(/<[^>]*>/g, '').replace(/\s+/g, ' ').trim();
  if (!parts || marked === undefined) return text(warning).slice(0, 160);
  const context = text(parts[2]);
  return `${parts[1].toLowerCase()}: "${text(marked)}"${context.length > 1 ? ` in "${context.slice(0, 60)}"` : ''}`;
}

/** The melody in ABC text as a MIDI file; throws AbcInputError with a message for the user when it is not one. */
export function abcToMidi(text: string): AbcMelody {
  const source = unfoldHeaders(text.replace(/\r\n?/g, '\n').trim());
  if (source.length === 0) throw new AbcInputError(`the melody is empty: write it in ABC notation, e.g. "${ABC_EXAMPLE}"`);
  if (source.length > MAX_ABC_CHARS) throw new AbcInputError(`the melody is ${source.length.toLocaleString('en')} characters long; at most ${MAX_ABC_CHARS.toLocaleString('en')} are read`);
  const [tune] = abcjs.parseOnly(source);
  // abcjs reads around what it does not understand; a person who typed it should hear what was skipped.
  const warnings = tune?.warnings ?? [];
  if (warnings.length > 0) {
    throw new AbcInputError(`that is not ABC notation I can read (${plainWarning(warnings[0])}${warnings.length > 1 ? `, and ${warnings.length - 1} more` : ''}); e.g. "${ABC_EXAMPLE}"`);
  }
  const notes = countNotes(tune);
  if (notes === 0) throw new AbcInputError(`the melody has no notes: write them in ABC notation, e.g. "${ABC_EXAMPLE}"`);
  // From the tune already parsed (not the text, which abcjs would parse again): one tune, one file.
  const midi = abcjs.synth.getMidiFile(tune, { midiOutputType: 'binary', chordsOff: true }) as Uint8Array;
  const title = tune.metaText?.title?.trim();
  const key = declaredKey(tune);
  return { midi, notes, ...(title ? { title } : {}), ...(key ? { key } : {}) };
}

function declaredKey(tune: abcjs.TuneObject): string | undefined {
  const { root, acc, mode } = tune.getKeySignature();
  if (!/^[A-G]$/.test(root)) return undefined;
  const name = mode === '' ? 'major' : mode === 'm' ? 'minor' : undefined;
  return name && `${root}${acc === '#' || acc === 'b' ? acc : ''} ${name}`;
}

function countNotes(tune: abcjs.TuneObject | undefined): number {
  let notes = 0;
  for (const line of tune?.lines ?? []) {
    for (const staff of line.staff ?? []) {
      for (const voice of staff.voices ?? []) {
        for (const el of voice) if (el.el_type === 'note' && (el as { pitches?: unknown[] }).pitches?.length) notes++;
      }
    }
  }
  return notes;
}
