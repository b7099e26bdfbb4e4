import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import type { DataSource } from 'typeorm';
import type { UsageRecordRow } from '../store/entities.js';
import { inertCell } from '../util/csv-cell.js';

/** A bad export request (dates, format, user): told to the caller as it is, never a crash. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type UsageFormat = 'csv' | 'json';
const USAGE_FORMATS: readonly UsageFormat[] = ['csv', 'json'];

/** What to export: records with `from <= at < to` (ms), of one user (as `user` or `peer`) or all. */
export interface UsageQuery {
  from: number;
  to: number;
  /** an AOR, `sip:alice@example.com` */
  user?: string;
}

/** The columns, in CSV order (JSON Lines uses the same names, `durationMs` in camelCase). */
export const USAGE_COLUMNS = ['id', 'at', 'kind', 'user', 'peer', 'service', 'outcome', 'status', 'reason', 'bytes', 'messages', 'duration_ms'] as const;

/** records read per query: the export holds one page in memory, never the range */
const PAGE = 1000;

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
// ISO 8601 date and time, with seconds and fraction optional; no zone means UTC, like a date alone
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * A bound of the range: `YYYY-MM-DD` (midnight UTC) or an ISO 8601 date and time (UTC unless it
 * carries an offset). Anything else is a UsageError naming the option.
 * @example parseBound('2026-11-01', '--from') // Date.UTC(2026, 10, 1)
 */
export function parseBound(value: string, option: string): number {
  const v = value.trim();
  const bad = (why: string) => new UsageError(`${option} ${JSON.stringify(value)}: ${why}`);
  let ms: number;
  if (DATE_ONLY.test(v)) ms = Date.parse(`${v}T00:00:00Z`);
  else if (DATE_TIME.test(v)) ms = Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(v) ? v : `${v}Z`);
  else throw bad('give a date (YYYY-MM-DD) or an ISO 8601 date and time (2026-11-01T08:00:00Z)');
  // Date.parse refuses 2026-13-01 but may roll 2026-02-30 into March: the date must read back as written
  const day = Date.parse(`${v.slice(0, 10)}T00:00:00Z`);
  if (Number.isNaN(ms) || Number.isNaN(day) || new Date(day).toISOString().slice(0, 10) !== v.slice(0, 10)) throw bad('no such date');
  return ms;
}

/** The query from the caller's strings: both bounds required, `to` after `from`, the user as an AOR of the domain. */
export function usageQuery(o: { from?: string; to?: string; user?: string }, domain: string): UsageQuery {
  if (o.from === undefined || o.from === '') throw new UsageError('--from is required');
  if (o.to === undefined || o.to === '') throw new UsageError('--to is required');
  const from = parseBound(o.from, '--from');
  const to = parseBound(o.to, '--to');
  if (to <= from) throw new UsageError(`--to (${new Date(to).toISOString()}) must be after --from (${new Date(from).toISOString()}); --to is exclusive`);
  const q: UsageQuery = { from, to };
  if (o.user !== undefined && o.user !== '') q.user = userAor(o.user, domain);
  return q;
}

/** `alice` or `sip:alice@example.com` as the AOR records name (lower case). */
function userAor(u: string, domain: string): string {
  const v = u.trim().toLowerCase();
  if (v.startsWith('sip:')) return v;
  if (!/^[^\s@:;]+$/.test(v)) throw new UsageError(`--user ${JSON.stringify(u)}: give a user name or a sip: URI`);
  return `sip:${v}@${domain.toLowerCase()}`;
}

export function usageFormat(f: string | undefined): UsageFormat {
  const v = (f ?? 'csv').toLowerCase();
  if (!(USAGE_FORMATS as readonly string[]).includes(v)) throw new UsageError(`--format ${JSON.stringify(f)}: csv or json`);
  return v as UsageFormat;
}

interface RawRow {
  id: number;
  at: number | string;
  kind: string;
  user: string;
  peer: string;
  service: string | null;
  outcome: string;
  status: number | null;
  reason: string | null;
  bytes: number | string | null;
  messages: number | null;
  duration_ms: number | string | null;
}

/** One usage record as exported: the row, its time as ISO 8601. */
export type UsageRecordOut = Omit<UsageRecordRow, 'at'> & { at: string };

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

/**
 * The matching records in (at, id) order, a page at a time: keyset paging on the time index, so
 * each page is one short read (the server's writes go on between them; WAL keeps each read
 * consistent) and memory holds one page whatever the range.
 */
export async function* readUsage(ds: DataSource, q: UsageQuery): AsyncGenerator<UsageRecordOut> {
  let after: { at: number; id: number } = { at: q.from, id: -1 };
  for (;;) {
    const params: unknown[] = [after.at, after.at, after.id, q.to];
    let sql = 'SELECT * FROM usage_records WHERE (at > ? OR (at = ? AND id > ?)) AND at < ?';
    if (q.user !== undefined) {
      sql += ' AND (user = ? OR peer = ?)';
      params.push(q.user, q.user);
    }
    sql += ' ORDER BY at, id LIMIT ?';
    params.push(PAGE);
    const rows = (await ds.query(sql, params)) as RawRow[];
    for (const r of rows) {
      yield {
        id: Number(r.id),
        at: new Date(Number(r.at)).toISOString(),
        kind: r.kind,
        user: r.user,
        peer: r.peer,
        service: r.service,
        outcome: r.outcome,
        status: num(r.status),
        reason: r.reason,
        bytes: num(r.bytes),
        messages: num(r.messages),
        durationMs: num(r.duration_ms),
      };
    }
    if (rows.length < PAGE) return;
    const last = rows[rows.length - 1];
    after = { at: Number(last.at), id: Number(last.id) };
  }
}

/** A CSV cell: empty for "none", text made inert for spreadsheets (util/csv-cell.ts), numbers as they are. */
const cell = (v: string | number | null): string | number => (v === null ? '' : typeof v === 'string' ? inertCell(v) : v);

/**
 * One record as a CSV line (RFC 4180: CRLF, fields quoted when they hold a comma, quote or line
 * break). Text cells starting with = + - @ TAB or CR get a single quote in front (OWASP CSV
 * injection: a SIP reason phrase is the remote side's text); JSON Lines keeps every value as it is.
 */
function csvLine(r: UsageRecordOut): string {
  return stringify([[r.id, r.at, r.kind, cell(r.user), cell(r.peer), cell(r.service), r.outcome, cell(r.status), cell(r.reason), cell(r.bytes), cell(r.messages), cell(r.durationMs)]], { record_delimiter: '\r\n' });
}

async function* lines(ds: DataSource, q: UsageQuery, format: UsageFormat): AsyncGenerator<string> {
  if (format === 'csv') yield stringify([[...USAGE_COLUMNS]], { record_delimiter: '\r\n' });
  let batch = '';
  let n = 0;
  for await (const r of readUsage(ds, q)) {
    batch += format === 'csv' ? csvLine(r) : `${JSON.stringify(r)}\n`;
    // a chunk per hundred records: few enough writes, small enough to stream
    if (++n % 100 === 0) {
      yield batch;
      batch = '';
    }
  }
  if (batch !== '') yield batch;
}

/**
 * The export as a byte stream: CSV (RFC 4180, header row) or JSON Lines (one record per line).
 * Pulled by its reader: pages are read as the output drains (backpressure), so a month of a busy
 * site goes through in constant memory.
 */
export function usageStream(ds: DataSource, q: UsageQuery, format: UsageFormat): Readable {
  return Readable.from(lines(ds, q, format), { objectMode: false });
}

/** The media type and file name of an export. */
export function usageMedia(format: UsageFormat, q: UsageQuery): { type: string; filename: string } {
  const span = `${new Date(q.from).toISOString().slice(0, 10)}_${new Date(q.to).toISOString().slice(0, 10)}`;
  return format === 'csv'
    ? { type: 'text/csv; charset=utf-8; header=present', filename: `parley-usage-${span}.csv` }
    : { type: 'application/jsonl; charset=utf-8', filename: `parley-usage-${span}.jsonl` };
}
