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
