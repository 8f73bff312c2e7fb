/**
 * The sampling settings Maestro serves by default — the CLI, the Discord command and the music report share them, so
 * what the report measures is what a user gets. A module of its own: the bot process reads them without loading tfjs.
 *
 * Temperature 0.8 on the pitch (0.9 until session 19): the GPT's side of the served mix is an average of five views of
 * the context, flatter than one network's prediction, and at 0.9 it strayed more from the prompt's key. Music report,
 * seeds 1 and 2 (`maestro eval --report --temperature`): continuations in the requested style 71 / 73 % → 78 / 79 %,
 * in the prompt's key 15 / 15 % → 24 / 19 %, nothing copied or invalid at either.
 */
export const DEFAULT_SAMPLING = { temperature: 0.8, topK: 0, topP: 0.95 } as const;

/**
 * How strongly a continuation keeps to its prompt's key (music/key.ts `keyGuide`: notes outside the key's scale
 * e^strength times less likely; 0 = free). Without it the continuation forgets the prompt once the prompt leaves the
 * model's context window, and the memory can follow a matched passage into another key. Music report (`maestro eval
 * --report --key-strength`, session 29), seeds 1 and 2 against strength 0: in the prompt's key 43 / 43 % (was 22 / 26 %),
 * in it or a closely related key 89 / 93 % (was 58 / 51 %), in the requested style 75 / 81 % (was 82 / 82 %); strength
 * 0.5 (seed 1): key 33 %, related 82 %, style 77 %. Chromatic notes are part of a style (Chopin's most), so it stays soft.
 */
export const DEFAULT_KEY_STRENGTH = 1;

/**
 * The strength when the user names the key (`--key`, Discord `key:`): a request to compose *in* that key, so firmer. An
 * improvisation has no prompt to hold it there, and a model that has settled in another key holds to it against a bias
 * of 1 (improvising in D minor at 1, 6 seeds: D minor twice, F major, C major, but also A major; at 3, baroque D minor
 * and vanguard G minor, 6 seeds each: all in the key or a closely related one, the relative major most often).
 */
export const NAMED_KEY_STRENGTH = 3;

/** Bounds of `endingGraceSec`, in seconds (help texts quote them). */
export const ENDING_GRACE_MIN_SEC = 2;
export const ENDING_GRACE_MAX_SEC = 8;

/**
 * How much longer than asked a continuation may run to end on a tonic (sampler `endOn`): a quarter of the requested
 * length, within ENDING_GRACE_MIN_SEC..ENDING_GRACE_MAX_SEC. Without the tonic in the bass by then it ends where it
 * would have. Music report (session 30, seed 1, 30 s): endings on the tonic 17 % → 76 % (baroque 25 → 92 %, romantic
 * 11 → 64 %, vanguard 14 → 72 %), the first 30 s unchanged.
 */
export function endingGraceSec(seconds: number): number {
  return Math.min(ENDING_GRACE_MAX_SEC, Math.max(ENDING_GRACE_MIN_SEC, seconds / 4));
}

/** The served key strength: NAMED_KEY_STRENGTH when the key is named, else DEFAULT_KEY_STRENGTH. */
export function defaultKeyStrength(keyNamed: boolean): number {
  return keyNamed ? NAMED_KEY_STRENGTH : DEFAULT_KEY_STRENGTH;
}
