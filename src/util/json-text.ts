/**
 * JSON as Maestro writes it to disk: indented by two spaces like `JSON.stringify(value, null, 2)`, except that an array
 * holding only numbers stays on one line. A memory's gate keeps thousands of numbers (its hidden-state projections);
 * one per line made memory.json 14,000 lines of indentation, where one component per line reads as what it is.
 */
export function jsonText(value: unknown): string {
  // An array of numbers only, as JSON.stringify indents it: "[", then one number per line, then "]".
  return JSON.stringify(value, null, 2).replace(/\[\n\s*(-?[\d.eE+-]+(?:,\n\s*-?[\d.eE+-]+)*)\n\s*\]/g, (_, inner: string) => `[${inner.split(/,\n\s*/).join(', ')}]`) + '\n';
}
