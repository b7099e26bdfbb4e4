import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { tempStore } from '../../../test/support/temp-store.js';
import { createLogger } from '../log.js';
import { writesOf } from '../store/write-queue.js';
import { UsageRecorder } from './usage-recorder.js';
import type { UsageEvent } from './usage-types.js';

let temp: Awaited<ReturnType<typeof tempStore>>;
let ds: DataSource;
const log = createLogger('silent');

beforeAll(async () => {
  temp = await tempStore('usage-recorder');
  ds = temp.ds;
});
afterAll(async () => {
  await temp.cleanup();
});
beforeEach(async () => {
  await ds.query('DELETE FROM usage_records');
});

const event = (i: number): UsageEvent => ({ kind: 'pager', at: 1_000 + i, user: `sip:u${i}@example.com`, peer: 'sip:bob@example.com', outcome: 'delivered', status: 200, reason: 'OK', bytes: i });
const count = async (): Promise<number> => Number(((await ds.query('SELECT COUNT(*) AS n FROM usage_records')) as { n: number }[])[0].n);

describe('usage recorder (C5: batched, never losing an accepted record)', () => {
  it('commits a burst of records as one write of the write queue, not one commit each', async () => {
    const commits: number[] = [];
    writesOf(ds).onCommit = (_s, writes) => commits.push(writes);
    const recorder = new UsageRecorder(ds, { flushMs: 20, maxBatch: 10_000 }, log);
    for (let i = 0; i < 500; i++) recorder.record(event(i));
    expect(recorder.pending).toBe(500); // nothing awaited by the caller
    await recorder.flush();
    writesOf(ds).onCommit = null;
    expect(await count()).toBe(500);
    expect(commits).toEqual([1]);
    const rows = (await ds.query('SELECT user, bytes FROM usage_records ORDER BY id')) as { user: string; bytes: number }[];
    expect(rows.map((r) => Number(r.bytes))).toEqual(Array.from({ length: 500 }, (_, i) => i)); // in the order recorded
    await recorder.close();
  });

  it('writes every field of a record as given, nulls where a source has none, past the preallocated buffer and in order', async () => {
    const recorder = new UsageRecorder(ds, { flushMs: 60_000, maxBatch: 100_000 }, log);
    recorder.record({ kind: 'session', at: 5, user: 'sip:a@example.com', peer: 'sip:b@example.com', service: 'sip:g@example.com', outcome: 'ended', status: 200, reason: 'BYE "gone", \\ ünï 😀', bytes: 12, messages: 3, durationMs: 4_000 });
    for (let i = 0; i < 2_500; i++) recorder.record(event(i));
    await recorder.flush();
    const rows = (await ds.query('SELECT * FROM usage_records ORDER BY id')) as Record<string, unknown>[];
    expect(rows).toHaveLength(2_501);
    const { id: _id, ...first } = rows[0];
    expect(first).toEqual({ at: 5, kind: 'session', user: 'sip:a@example.com', peer: 'sip:b@example.com', service: 'sip:g@example.com', outcome: 'ended', status: 200, reason: 'BYE "gone", \\ ünï 😀', bytes: 12, messages: 3, duration_ms: 4_000 });
    expect(rows[1]).toMatchObject({ at: 1_000, service: null, messages: null, duration_ms: null });
    expect(rows.slice(1).map((r) => Number(r.bytes))).toEqual(Array.from({ length: 2_500 }, (_, i) => i));
    await recorder.close();
  });

  it('keeps a batch whose commit failed and commits it on a later flush, in order', async () => {
    const recorder = new UsageRecorder(ds, { flushMs: 60_000, maxBatch: 10_000 }, log);
    for (let i = 0; i < 3; i++) recorder.record(event(i));
    await ds.query('ALTER TABLE usage_records RENAME TO usage_records_away');
    await recorder.flush();
    expect(recorder.pending).toBe(3);
    recorder.record(event(3));
    await ds.query('ALTER TABLE usage_records_away RENAME TO usage_records');
    await recorder.flush();
    expect(recorder.pending).toBe(0);
    const rows = (await ds.query('SELECT bytes FROM usage_records ORDER BY id')) as { bytes: number }[];
    expect(rows.map((r) => Number(r.bytes))).toEqual([0, 1, 2, 3]);
    await recorder.close();
  });

  it('commits what is buffered when closed (a clean stop), without waiting for the interval', async () => {
    const recorder = new UsageRecorder(ds, { flushMs: 60_000, maxBatch: 10_000 }, log);
    for (let i = 0; i < 7; i++) recorder.record(event(i));
    await recorder.close();
    expect(await count()).toBe(7);
  });

  it('flushes on its own once the interval passes', async () => {
    const recorder = new UsageRecorder(ds, { flushMs: 10, maxBatch: 10_000 }, log);
    recorder.record(event(1));
    const deadline = Date.now() + 10_000;
    // waiting for the timer's commit: the row appears
    while ((await count()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(await count()).toBe(1);
    await recorder.close();
  });
});
