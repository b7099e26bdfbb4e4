import type { DataSource } from 'typeorm';
import { UsageRecordEntity, type UsageRecordRow } from '../store/entities.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';
import type { Logger } from '../log.js';
import type { UsageEvent, UsageSink } from './usage-types.js';

export interface UsageRecorderOptions {
  /** how long a record may wait in memory for others to share its commit, ms */
  flushMs: number;
  /** records that make a batch worth committing at once */
  maxBatch: number;
}

/** A record's values in the buffer, in this order (the row's columns but its generated id). */
const FIELDS = ['at', 'kind', 'user', 'peer', 'service', 'outcome', 'status', 'reason', 'bytes', 'messages', 'durationMs'] as const satisfies readonly (keyof Omit<UsageRecordRow, 'id'>)[];
const WIDTH = FIELDS.length;
/** records the buffer holds before it grows (it keeps what it grew to) */
const INITIAL_RECORDS = 1024;

/**
 * Writes usage records (C5) in batches. `record` only writes a record's values into a flat,
 * preallocated buffer (no row object per record: the pager calls it for every message), so a
 * source calls it after answering its request and the answer never waits for the store; the buffer
 * goes to the write queue every `flushMs`, or at once when `maxBatch` records wait, as one write
 * (one share of a commit for the lot, however many records): one INSERT whose single parameter is
 * the batch as JSON, read by SQLite's json_each off the event loop. TypeORM's insert builder cost
 * the relay 10% of its main thread (a parameter map and a lookup per value), and even a plain
 * multi-row INSERT binds 11 values per record on the main thread (~15 µs a record). A batch whose commit fails goes back to the
 * front of the buffer and is tried again: a record once accepted is kept until it is committed.
 * `close` (a clean stop, SIGTERM) commits whatever is left; a crash loses at most the last `flushMs`.
 */
export class UsageRecorder implements UsageSink {
  /** WIDTH values per record, `count` records; the next batch is written while one commits */
  private values: unknown[] = new Array<unknown>(INITIAL_RECORDS * WIDTH);
  private count = 0;
  /** the previous batch's array, reused once its commit is done */
  private spare: unknown[] | null = null;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly writes: WriteQueue;
  private readonly insertSql: string;
  private closed = false;

  constructor(
    ds: DataSource,
    private readonly opts: UsageRecorderOptions,
    private readonly log: Logger,
  ) {
    this.writes = writesOf(ds);
    this.insertSql = insertStatement(ds);
  }

  /** Records waiting for their commit. */
  get pending(): number {
    return this.count;
  }

  record(e: UsageEvent): void {
    // past the preallocated end, writing at the array's length appends (it grows like push)
    const v = this.values;
    let i = this.count * WIDTH;
    v[i++] = e.at ?? Date.now();
    v[i++] = e.kind;
    v[i++] = e.user;
    v[i++] = e.peer;
    v[i++] = e.service ?? null;
    v[i++] = e.outcome;
    v[i++] = e.status ?? null;
    v[i++] = e.reason ?? null;
    v[i++] = e.bytes ?? null;
    v[i++] = e.messages ?? null;
    v[i] = e.durationMs ?? null;
    this.count++;
    if (this.count >= this.opts.maxBatch) this.schedule(0);
    else this.schedule(this.opts.flushMs);
  }

  /** Commits every buffered record (the ones that arrive meanwhile too); resolves when the buffer is empty or a commit failed. */
  async flush(): Promise<void> {
    while (this.flushing !== null) await this.flushing;
    if (this.count === 0) return;
    const batch = this.values;
    const records = this.count;
    this.values = this.spare ?? new Array<unknown>(batch.length);
    this.spare = null;
    this.count = 0;
    this.flushing = this.writes
      .transaction(async (em) => {
        // one JSON array per record, so that SQLite reads each row's columns by index
        const rows = new Array<string>(records);
        for (let r = 0; r < records; r++) rows[r] = JSON.stringify(batch.slice(r * WIDTH, (r + 1) * WIDTH));
        await em.query(this.insertSql, [`[${rows.join(',')}]`]);
      })
      .then(
        () => {
          this.spare = batch;
        },
        (err: unknown) => {
          // kept, in order, ahead of what came meanwhile; tried again on the next flush
          this.values = batch.slice(0, records * WIDTH).concat(this.values.slice(0, this.count * WIDTH));
          this.count += records;
          this.log.warn({ err, records }, 'usage records not committed; will retry');
          throw err;
        },
      )
      .finally(() => {
        this.flushing = null;
      });
    try {
      await this.flushing;
    } catch {
      if (!this.closed) this.schedule(this.opts.flushMs);
      return;
    }
    if (this.count > 0 && !this.closed) this.schedule(this.count >= this.opts.maxBatch ? 0 : this.opts.flushMs);
  }

  /** A clean stop: no more timers, and what is buffered is committed (tried a few times). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (let attempt = 0; attempt < 3 && (this.count > 0 || this.flushing !== null); attempt++) await this.flush();
    if (this.count > 0) this.log.error({ records: this.count }, 'usage records lost at stop: the store would not take them');
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer !== null) {
      if (ms > 0) return; // already due
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
    this.timer.unref();
  }
}

/**
 * `INSERT INTO usage_records (…) SELECT value->>0, … FROM json_each(?) ORDER BY key`: every
 * record of a batch from one JSON text (SQLite ≥ 3.38 `->>`), in the order recorded, with the
 * table's and columns' names from the entity. A JSON null is SQL NULL, a JSON integer an INTEGER.
 * On PostgreSQL (the scale-out store, docs/architecture.md) the same batch goes through
 * `jsonb_array_elements … WITH ORDINALITY`, each value cast to its column's type, since `->>`
 * gives text there.
 */
function insertStatement(ds: DataSource): string {
  const meta = ds.getMetadata(UsageRecordEntity);
  const esc = (name: string): string => ds.driver.escape(name);
  const columns = FIELDS.map((f) => {
    const column = meta.findColumnWithPropertyName(f);
    if (column === undefined) throw new Error(`usage_records has no column for ${f}`);
    return column;
  });
  const names = columns.map((c) => esc(c.databaseName)).join(', ');
  const table = esc(meta.tableName);
  if (ds.options.type === 'postgres') {
    const values = columns.map((c, i) => `(value ->> ${i})::${pgType(ds.driver.normalizeType(c))}`);
    return `INSERT INTO ${table} (${names}) SELECT ${values.join(', ')} FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS batch(value, n) ORDER BY n`;
  }
  const values = FIELDS.map((_, i) => `value ->> ${i}`);
  return `INSERT INTO ${table} (${names}) SELECT ${values.join(', ')} FROM json_each(?) ORDER BY key`;
}

/** The PostgreSQL type a `->>` text is cast to, from TypeORM's normalized column type. */
function pgType(normalized: string): string {
  if (normalized === 'bigint' || normalized === 'int8') return 'bigint';
  if (normalized === 'integer' || normalized === 'int' || normalized === 'int4') return 'integer';
  return 'text';
}
