/**
 * The sampling settings Maestro serves by default — the CLI, the Discord command and the music report share them, so
 * what the report measures is what a user gets. A module of its own: the bot process reads them without loading tfjs.
 */
export const DEFAULT_SAMPLING = { temperature: 0.9, topK: 0, topP: 0.95 } as const;
