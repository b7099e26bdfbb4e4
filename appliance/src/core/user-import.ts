import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { checkPassword, displayNameOf, nameOf } from './user-directory.js';

/** One row of an import file and what would happen to it. */
export interface ImportVerdict {
  /** line number in the file (the header is line 1) */
  line: number;
  name: string;
  verdict: 'create' | 'conflict' | 'invalid';
  reason?: string;
  /** the row's fields as read, for the rejected-rows file */
  fields: string[];
  /** the checked entry, for rows to create */
  entry?: { username: string; password: string | null; displayName: string | null };
}

/** The header an import file starts with (the CLI also takes the older "display name", or no header). */
const HEADER = /^(name)$|^(password)$|^(displayname|display name)$/i;

/** A CSV file that cannot be read as an import at all (400 naming what is wrong). */
export class ImportFormatError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = 'ImportFormatError';
  }
}

/**
 * Reads an import file (RFC 4180 CSV, UTF-8): a header row `name,password,displayName` (the
 * third column optional), then one user per row; blank lines and lines starting with `#` are
 * skipped. Without `requireHeader` (the CLI), a file may start with data at once, as before.
 */
export function readImportCsv(text: string, opts: { requireHeader: boolean; maxRows: number }): { line: number; fields: string[] }[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { relax_column_count: true, skip_empty_lines: true, comment: '#', comment_no_infix: true, info: true, trim: false }) as never;
  } catch (err) {
    const e = err as Error & { lines?: number };
    throw new ImportFormatError(`not readable as CSV: ${e.message}`, e.lines);
  }
  const rows = records.map((r) => ({ line: r.info.lines, fields: r.record }));
  const first = rows[0]?.fields.map((f) => f.trim()) ?? [];
  const isHeader = first.length >= 1 && first.length <= 3 && first[0].toLowerCase() === 'name' && (first.length < 2 || first[1].toLowerCase() === 'password') && first.every((f) => HEADER.test(f));
  if (isHeader) rows.shift();
  else if (opts.requireHeader) throw new ImportFormatError('the first row must be the header name,password,displayName', 1);
  if (rows.length > opts.maxRows) throw new ImportFormatError(`more than ${opts.maxRows} rows`);
  return rows;
}

/**
 * The verdict on every row, before anything is written: invalid (a rule of core/user-names.ts or
 * the password rule broken, a missing password without `generatePasswords`, too many columns),
 * conflict (the user exists, or an earlier row has the name), else create. One code path for the
 * CLI and the admin API.
 */
export function judgeImport(rows: { line: number; fields: string[] }[], existing: Set<string>, opts: { generatePasswords: boolean }): ImportVerdict[] {
  const seen = new Set<string>();
  return rows.map(({ line, fields }) => {
    const [rawName = '', password = '', display = ''] = fields;
    const name = rawName.trim();
    const v: ImportVerdict = { line, name, verdict: 'invalid', fields };
    try {
      if (fields.length > 3) throw new Error(`${fields.length} columns, at most 3 (name,password,displayName); quote a field that holds a comma`);
      const username = nameOf(name);
      v.name = username;
      if (password === '' && !opts.generatePasswords) throw new Error('no password (or import with generated passwords)');
      if (password !== '') checkPassword(password);
      const displayName = display.trim() === '' ? null : displayNameOf(display);
      if (existing.has(username) || seen.has(username)) {
        seen.add(username);
        return { ...v, verdict: 'conflict', reason: `user '${username}' already exists` };
      }
      seen.add(username);
      return { ...v, verdict: 'create', entry: { username, password: password === '' ? null : password, displayName } };
    } catch (err) {
      return { ...v, reason: (err as Error).message };
    }
  });
}

/** The rows not imported, as CSV: their fields as read, and a `reason` column. */
export function rejectedCsv(verdicts: ImportVerdict[]): string {
  const rejected = verdicts.filter((v) => v.verdict !== 'create');
  return stringify(
    rejected.map((v) => [v.line, v.fields[0] ?? '', v.fields[1] ?? '', v.fields[2] ?? '', v.reason ?? '']),
    { header: true, columns: ['line', 'name', 'password', 'displayName', 'reason'] },
  );
}
