/**
 * A failure whose message says everything a user needs (a damaged model file, say): the CLI prints the message
 * alone, where an unexpected error also gets its stack trace. Kept free of imports so that the CLI's entry point
 * can test for it without loading TensorFlow.js.
 */
export class KnownError extends Error {}
