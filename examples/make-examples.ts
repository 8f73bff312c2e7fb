/**
 * Writes the shipped example prompts from note lists (public-domain melodies), so the repository never
 * needs anyone's MIDI files: `npx tsx examples/make-examples.ts`.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeMidi } from '../src/music/midi.js';
import type { Note, NoteSequence } from '../src/music/note-sequence.js';

/** [pitch, beats] pairs; 0 = rest. */
type Line = [number, number][];

function melody(name: string, bpm: number, line: Line, bass: Line = []): NoteSequence {
  const beat = 60 / bpm;
  const notes: Note[] = [];
  for (const [voice, velocity] of [[line, 80], [bass, 60]] as const) {
    let t = 0;
    for (const [pitch, beats] of voice) {
      if (pitch > 0) notes.push({ pitch, velocity, startSec: t * beat, endSec: (t + beats * 0.95) * beat });
      t += beats;
    }
  }
  notes.sort((a, b) => a.startSec - b.startSec || b.pitch - a.pitch);
  return { notes, pedals: [], tempos: [{ timeSec: 0, bpm }], source: { name } };
}

// Beethoven, "Ode to Joy" (Symphony No. 9, 1824), first two phrases, with a simple bass.
const E = 64, F = 65, G = 67, D = 62, C = 60;
const ode: Line = [
  [E, 1], [E, 1], [F, 1], [G, 1], [G, 1], [F, 1], [E, 1], [D, 1],
  [C, 1], [C, 1], [D, 1], [E, 1], [E, 1.5], [D, 0.5], [D, 2],
  [E, 1], [E, 1], [F, 1], [G, 1], [G, 1], [F, 1], [E, 1], [D, 1],
  [C, 1], [C, 1], [D, 1], [E, 1], [D, 1.5], [C, 0.5], [C, 2],
];
const odeBass: Line = [
  [48, 4], [43, 4], [48, 4], [43, 2], [43, 2],
  [48, 4], [43, 4], [48, 4], [43, 2], [48, 2],
];

const here = dirname(fileURLToPath(import.meta.url));
writeFileSync(join(here, 'ode-to-joy.mid'), writeMidi(melody('Ode to Joy (Beethoven)', 112, ode, odeBass)));
console.log('wrote examples/ode-to-joy.mid');
