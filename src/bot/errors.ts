/** A problem the person who ran the command caused or can fix; its message is shown to them (ephemerally). */
export class UserFacingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserFacingError';
  }
}
