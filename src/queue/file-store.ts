// Results (and validated prompts) are files under one directory; jobs and Redis only carry their keys.
// Several machines can share results by mounting the same directory (see docs/discord.md).
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

const KEY = /^[\w-]+(?:\.[\w-]+)*(?:\/[\w-]+(?:\.[\w-]+)*)*$/;

export class FileStore {
  constructor(readonly root: string) {}

  private pathOf(key: string): string {
    // Keys are built by our own code, but they end up in paths: refuse anything that could escape the root.
    if (!KEY.test(key)) throw new Error(`Invalid file-store key: ${JSON.stringify(key)}`);
    return path.join(this.root, key);
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
    return new Uint8Array(await readFile(this.pathOf(key)));
  }

  async putJson(key: string, value: unknown): Promise<string> {
    return this.put(key, new TextEncoder().encode(JSON.stringify(value, null, 2)));
  }

  async getJson<T>(key: string): Promise<T> {
    return JSON.parse(new TextDecoder().decode(await this.get(key))) as T;
  }

  async removeDir(prefix: string): Promise<void> {
    await rm(this.pathOf(prefix), { recursive: true, force: true });
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
