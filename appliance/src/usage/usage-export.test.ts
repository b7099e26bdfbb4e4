import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { parse } from 'csv-parse/sync';
import { tempStore } from '../../../test/support/temp-store.js';
import { createLogger } from '../log.js';
import { UsageRecorder } from './usage-recorder.js';
import { USAGE_COLUMNS, UsageError, parseBound, usageQuery, usageStream, type UsageQuery } from './usage-export.js';

let temp: Awaited<ReturnType<typeof tempStore>>;
let ds: DataSource;
const DAY = Date.UTC(2026, 10, 1);

beforeAll(async () => {
  temp = await tempStore('usage-export');
  ds = temp.ds;
  const recorder = new UsageRecorder(ds, { flushMs: 60_000, maxBatch: 100_000 }, createLogger('silent'));
  // 2,500 records in the same millisecond (the pages must not skip or repeat ties), then a few others
  for (let i = 0; i < 2500; i++) recorder.record({ kind: 'pager', at: DAY + 1000, user: 'sip:alice@example.com', peer: `sip:u${i}@example.com`, outcome: 'delivered', status: 200, reason: 'OK', bytes: i });
  recorder.record({ kind: 'pager', at: DAY - 1, user: 'sip:alice@example.com', peer: 'sip:bob@example.com', outcome: 'stored', status: 202, reason: 'Accepted', bytes: 1 });
  recorder.record({ kind: 'exploded', at: DAY + 2000, user: 'sip:carol@example.com', peer: 'sip:bob@example.com', service: 'sip:team@example.com', outcome: 'refused', status: 403, reason: 'Blocked, "really"\r\nby bob', bytes: 5 });
  recorder.record({ kind: 'session', at: DAY + 3000, user: 'sip:dave@example.com', peer: 'sip:erin@example.com', outcome: 'ended', reason: 'bye-caller', messages: 4, durationMs: 1500, bytes: 40 });
  recorder.record({ kind: 'pager', at: DAY + 86_400_000, user: 'sip:bob@example.com', peer: 'sip:alice@example.com', outcome: 'delivered', status: 200, reason: 'OK', bytes: 1 });
  // text someone else wrote (a reason phrase, a user part) that a spreadsheet would take for a formula
  recorder.record({ kind: 'pager', at: DAY + 5 * 86_400_000, user: 'sip:frank@example.com', peer: 'sip:+4420@example.com', outcome: 'refused', status: 480, reason: '=HYPERLINK("http://evil.example","x")', bytes: 1 });
  await recorder.close();
});
afterAll(async () => {
  await temp.cleanup();
});

async function text(q: UsageQuery, format: 'csv' | 'json'): Promise<string> {
  let out = '';
  for await (const chunk of usageStream(ds, q, format)) out += String(chunk);
  return out;
}

describe('usage export (C5)', () => {
  it('writes RFC 4180 CSV: a header row, CRLF line ends, quoted fields with commas, quotes and line breaks', async () => {
    const out = await text({ from: DAY + 2000, to: DAY + 3001 }, 'csv');
    expect(out.startsWith(`${USAGE_COLUMNS.join(',')}\r\n`)).toBe(true);
    expect(out).toContain('"Blocked, ""really""\r\nby bob"');
    const rows = parse(out, { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ at: new Date(DAY + 2000).toISOString(), kind: 'exploded', user: 'sip:carol@example.com', service: 'sip:team@example.com', outcome: 'refused', status: '403', reason: 'Blocked, "really"\r\nby bob', bytes: '5', messages: '', duration_ms: '' });
    expect(rows[1]).toMatchObject({ kind: 'session', outcome: 'ended', status: '', messages: '4', duration_ms: '1500', bytes: '40' });
  });

  it('makes CSV text cells a spreadsheet would read as formulas inert (a leading single quote); JSON Lines keeps them as recorded', async () => {
    const q = { from: DAY + 5 * 86_400_000, to: DAY + 5 * 86_400_000 + 1 };
    const [row] = parse(await text(q, 'csv'), { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
    expect(row).toMatchObject({ user: 'sip:frank@example.com', peer: 'sip:+4420@example.com', reason: '\'=HYPERLINK("http://evil.example","x")', status: '480' });
    const [line] = (await text(q, 'json')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(line).toMatchObject({ reason: '=HYPERLINK("http://evil.example","x")' });
  });

  it('writes JSON Lines, one record per line, nulls kept', async () => {
    const out = await text({ from: DAY + 3000, to: DAY + 3001 }, 'json');
    expect(out.endsWith('\n')).toBe(true);
    const lines = out.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([{ id: expect.any(Number), at: new Date(DAY + 3000).toISOString(), kind: 'session', user: 'sip:dave@example.com', peer: 'sip:erin@example.com', service: null, outcome: 'ended', status: null, reason: 'bye-caller', bytes: 40, messages: 4, durationMs: 1500 }]);
  });

  it('takes --from inclusive and --to exclusive, and pages through ties without skipping or repeating one', async () => {
    const lines = (await text({ from: DAY, to: DAY + 86_400_000 }, 'json')).trimEnd().split('\n').map((l) => JSON.parse(l) as { id: number; kind: string; bytes: number });
    expect(lines).toHaveLength(2502);
    expect(new Set(lines.map((l) => l.id)).size).toBe(2502);
    expect(lines.slice(0, 2500).map((l) => l.bytes)).toEqual(Array.from({ length: 2500 }, (_, i) => i));
    expect(lines.map((l) => l.kind).slice(2500)).toEqual(['exploded', 'session']);
  });

  it("narrows to one user's records, as user or as peer", async () => {
    const q = usageQuery({ from: '2026-10-31', to: '2026-11-03', user: 'Bob' }, 'example.com');
    const lines = (await text(q, 'json')).trimEnd().split('\n').map((l) => JSON.parse(l) as { user: string; peer: string });
    expect(lines.map((l) => [l.user, l.peer])).toEqual([
      ['sip:alice@example.com', 'sip:bob@example.com'],
      ['sip:carol@example.com', 'sip:bob@example.com'],
      ['sip:bob@example.com', 'sip:alice@example.com'],
    ]);
  });

  it('reads dates as YYYY-MM-DD (midnight UTC) or ISO 8601, and names what is wrong otherwise', () => {
    expect(parseBound('2026-11-01', '--from')).toBe(DAY);
    expect(parseBound('2026-11-01T08:30:00Z', '--from')).toBe(DAY + 8.5 * 3600_000);
    expect(parseBound('2026-11-01T08:30', '--from')).toBe(DAY + 8.5 * 3600_000);
    expect(parseBound('2026-11-01T10:30:00+02:00', '--from')).toBe(DAY + 8.5 * 3600_000);
    expect(() => parseBound('yesterday', '--from')).toThrow(/--from "yesterday": give a date/);
    expect(() => parseBound('2026-02-30', '--to')).toThrow(/--to "2026-02-30": no such date/);
    expect(() => parseBound('2026-13-01', '--to')).toThrow(UsageError);
    expect(() => usageQuery({ from: '2026-11-02', to: '2026-11-01' }, 'example.com')).toThrow(/must be after --from/);
    expect(() => usageQuery({ to: '2026-11-01' }, 'example.com')).toThrow(/--from is required/);
    expect(() => usageQuery({ from: '2026-11-01', to: '2026-11-02', user: 'a b' }, 'example.com')).toThrow(/--user/);
  });
});
