/**
 * RFC 4180 CSV reading: quoted fields may hold commas, doubled quotes and newlines; CRLF or LF;
 * a UTF-8 BOM is ignored. Small enough to own, and the catalogs here need nothing more.
 */

export class CsvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsvError';
  }
}

/** Parse CSV text into rows of fields. */
export function parseCsvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let inQuotes = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let fieldStarted = false;
  const endField = () => {
    row.push(field);
    field = '';
    fieldStarted = false;
  };
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (inQuotes) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else field += c;
    } else if (c === '"' && !fieldStarted) {
      inQuotes = true;
      fieldStarted = true;
    } else if (c === ',') endField();
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endField();
      rows.push(row);
      row = [];
    } else {
      field += c;
      fieldStarted = true;
    }
  }
  if (inQuotes) throw new CsvError('unterminated quoted field at end of file');
  if (fieldStarted || row.length > 0) {
    endField();
    rows.push(row);
  }
  // Blank lines are not records.
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

/** Parse CSV with a header row into objects; checks that `required` columns exist. */
export function parseCsv(text: string, required: readonly string[] = [], what = 'CSV'): Record<string, string>[] {
  const [header, ...body] = parseCsvRows(text);
  if (!header) throw new CsvError(`${what} is empty`);
  const missing = required.filter((c) => !header.includes(c));
  if (missing.length > 0) throw new CsvError(`${what} lacks column(s) ${missing.join(', ')} (has: ${header.join(', ')})`);
  return body.map((fields, n) => {
    if (fields.length !== header.length) {
      throw new CsvError(`${what} row ${n + 2} has ${fields.length} fields, the header has ${header.length}`);
    }
    const record: Record<string, string> = {};
    header.forEach((name, k) => (record[name] = fields[k]!));
    return record;
  });
}
