// Where results (audio, MIDI, piano roll, manifest) and validated prompts live between the bot and the
// workers. Jobs and Redis messages carry only keys. Two implementations:
// - RedisStore (default): the bytes live in the same Redis as the queues, with a TTL, so a worker on any
//   machine that reaches Redis can serve jobs — nothing else has to be shared.
// - FileStore (RESULTS_STORE=dir): files under RESULTS_DIR, for deployments that would rather keep
//   megabytes out of Redis memory; every machine must then mount the same directory.
const KEY = /^[\w-]+(?:\.[\w-]+)*(?:\/[\w-]+(?:\.[\w-]+)*)*$/;

/** Thrown by `get` for a key that was never written or has expired. */
export class MissingResultError extends Error {
  constructor(readonly key: string) {
    super(`No stored result under ${JSON.stringify(key)} (never written, or expired)`);
    this.name = 'MissingResultError';
  }
}

export abstract class ResultStore {
  abstract put(key: string, bytes: Uint8Array): Promise<string>;
  /** The bytes under `key`; rejects with MissingResultError when there are none. */
  abstract get(key: string): Promise<Uint8Array>;
  /** Deletes entries last written before `cutoffMs`; returns how many went. */
  abstract sweep(cutoffMs: number): Promise<number>;

  async putJson(key: string, value: unknown): Promise<string> {
    return this.put(key, new TextEncoder().encode(JSON.stringify(value, null, 2)));
  }

  async getJson<T>(key: string): Promise<T> {
    return JSON.parse(new TextDecoder().decode(await this.get(key))) as T;
  }

  /** Keys are built by our own code, but they end up in paths and Redis keys: refuse anything odd. */
  protected checkKey(key: string): string {
    if (!KEY.test(key)) throw new Error(`Invalid result-store key: ${JSON.stringify(key)}`);
    return key;
  }
}
