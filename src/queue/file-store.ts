// Results (and validated prompts) as files under one directory (RESULTS_STORE=dir). Several machines
// share results by mounting the same directory (see docs/discord.md); the default keeps them in Redis.
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { MissingResultError, ResultStore } from './result-store.js';

export class FileStore extends ResultStore {
  constructor(readonly root: string) {
    super();
  }

  private pathOf(key: string): string {
    return path.join(this.root, this.checkKey(key));
  }

  async put(key: string, bytes: Uint8Array): Promise<string> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    // Write then rename, so a reader never sees half a file (e.g. after a worker is killed mid-write).
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, file);
    return key;
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingResultError(key);
      throw err;
    }
  }

  /** Deletes results and prompts last written before `cutoffMs`; returns how many entries went. */
  async sweep(cutoffMs: number): Promise<number> {
    let removed = 0;
    for (const area of ['results', 'prompts']) {
      const dir = path.join(this.root, area);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        const p = path.join(dir, name);
        const s = await stat(p).catch(() => null);
        if (s && s.mtimeMs < cutoffMs) {
          await rm(p, { recursive: true, force: true });
          removed += 1;
        }
      }
    }
    return removed;
  }
}
