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

/** rows in one INSERT: 12 columns each, well under SQLite's bound-parameter limit */
const ROWS_PER_INSERT = 400;

/**
 * Writes usage records (C5) in batches. `record` only appends to a buffer, so a source calls it
 * after answering its request and the answer never waits for the store; the buffer goes to the
 * write queue every `flushMs`, or at once when `maxBatch` records wait, as one write (one share of
 * a commit for the lot, however many records). A batch whose commit fails goes back to the front
 * of the buffer and is tried again: a record once accepted is kept until it is committed. `close`
 * (a clean stop, SIGTERM) commits whatever is left; a crash loses at most the last `flushMs`.
 */
export class UsageRecorder implements UsageSink {
  private buffer: Omit<UsageRecordRow, 'id'>[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly writes: WriteQueue;
  private closed = false;

  constructor(
    ds: DataSource,
    private readonly opts: UsageRecorderOptions,
    private readonly log: Logger,
  ) {
    this.writes = writesOf(ds);
  }

  /** Records waiting for their commit. */
  get pending(): number {
    return this.buffer.length;
  }

  record(e: UsageEvent): void {
    this.buffer.push({
      at: e.at ?? Date.now(),
      kind: e.kind,
      user: e.user,
      peer: e.peer,
      service: e.service ?? null,
      outcome: e.outcome,
      status: e.status ?? null,
      reason: e.reason ?? null,
      bytes: e.bytes ?? null,
      messages: e.messages ?? null,
      durationMs: e.durationMs ?? null,
    });
    if (this.buffer.length >= this.opts.maxBatch) this.schedule(0);
    else this.schedule(this.opts.flushMs);
  }

  /** Commits every buffered record (the ones that arrive meanwhile too); resolves when the buffer is empty or a commit failed. */
  async flush(): Promise<void> {
    while (this.flushing !== null) await this.flushing;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.writes
      .transaction(async (em) => {
        for (let i = 0; i < batch.length; i += ROWS_PER_INSERT) await em.insert(UsageRecordEntity, batch.slice(i, i + ROWS_PER_INSERT));
      })
      .catch((err: unknown) => {
        // kept, in order, ahead of what came meanwhile; tried again on the next flush
        this.buffer = batch.concat(this.buffer);
        this.log.warn({ err, records: batch.length }, 'usage records not committed; will retry');
        throw err;
      })
      .finally(() => {
        this.flushing = null;
      });
    try {
      await this.flushing;
    } catch {
      if (!this.closed) this.schedule(this.opts.flushMs);
      return;
    }
    if (this.buffer.length > 0 && !this.closed) this.schedule(this.buffer.length >= this.opts.maxBatch ? 0 : this.opts.flushMs);
  }

  /** A clean stop: no more timers, and what is buffered is committed (tried a few times). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (let attempt = 0; attempt < 3 && (this.buffer.length > 0 || this.flushing !== null); attempt++) await this.flush();
    if (this.buffer.length > 0) this.log.error({ records: this.buffer.length }, 'usage records lost at stop: the store would not take them');
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
