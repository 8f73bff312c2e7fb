import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A corpus directory (train.bin + val.bin) of a simple repeating melody, for training runs of a few steps. */
export function tinyCorpus(): string {
  const dir = mkdtempSync(join(tmpdir(), 'maestro-corpus-'));
  const notes: number[] = [];
  for (let i = 0; i < 1500; i++) notes.push(127, 8, 8, 60 + ((i * 7) % 12));
  writeFileSync(join(dir, 'train.bin'), Uint8Array.from(notes.slice(0, 5000)));
  writeFileSync(join(dir, 'val.bin'), Uint8Array.from(notes.slice(5000)));
  return dir;
}
