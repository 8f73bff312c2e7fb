export type RenderErrorCode = 'empty' | 'too-long' | 'no-soundfont' | 'bad-soundfont' | 'too-large' | 'bad-pcm';

/** Something we cannot turn into audio. `message` is written for the person who asked for it. */
export class RenderError extends Error {
  readonly code: RenderErrorCode;
  constructor(code: RenderErrorCode, message: string) {
    super(message);
    this.name = 'RenderError';
    this.code = code;
  }
}
