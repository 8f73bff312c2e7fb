import { describe, it, expect } from 'vitest';
import { mkdtempSync, existsSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileStore } from '../src/queue/file-store.js';

describe('FileStore', () => {
  it('round-trips bytes and JSON under safe keys and refuses keys that could escape its root', async () => {
    const store = new FileStore(mkdtempSync(path.join(tmpdir(), 'maestro-store-')));
    await store.put('results/i-1/candidate-1.mid', new Uint8Array([1, 2, 3]));
    expect([...(await store.get('results/i-1/candidate-1.mid'))]).toEqual([1, 2, 3]);
    await store.putJson('results/i-1/manifest.json', { a: 1 });
    expect(await store.getJson('results/i-1/manifest.json')).toEqual({ a: 1 });
    for (const bad of ['../etc/passwd', '/abs', 'results/../../x', 'a//b', '']) {
      await expect(store.put(bad, new Uint8Array())).rejects.toThrow(/Invalid file-store key/);
    }
  });

  it('sweeps results and prompts older than the cutoff, keeping newer ones', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'maestro-store-'));
    const store = new FileStore(root);
    await store.put('results/i-old/candidate-1.ogg', new Uint8Array([1]));
    await store.put('prompts/i-old.mid', new Uint8Array([1]));
    await store.put('results/i-new/candidate-1.ogg', new Uint8Array([1]));
    const old = new Date(Date.now() - 10 * 86_400_000);
    utimesSync(path.join(root, 'results/i-old'), old, old);
    utimesSync(path.join(root, 'prompts/i-old.mid'), old, old);
    expect(await store.sweep(Date.now() - 7 * 86_400_000)).toBe(2);
    expect(existsSync(path.join(root, 'results/i-old'))).toBe(false);
    expect(existsSync(path.join(root, 'prompts/i-old.mid'))).toBe(false);
    expect(existsSync(path.join(root, 'results/i-new/candidate-1.ogg'))).toBe(true);
  });
});
