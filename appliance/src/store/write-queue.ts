import type { DataSource, EntityManager } from 'typeorm';

interface Pending {
  fn: (em: EntityManager) => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Every write to the store goes through here, for two reasons:
 * - TypeORM's sqlite3 driver has a single connection, so overlapping transactions
 *   would interleave their statements ("cannot start a transaction within a transaction");
 * - with synchronous=FULL each commit costs an fsync, so writes that arrive together
 *   share one transaction (group commit). Each runs in its own SAVEPOINT: one that
 *   fails is rolled back alone and only its caller sees the error.
 * A write's promise resolves only after the commit that holds it.
 */
export class WriteQueue {
  private pending: Pending[] = [];
  private draining = false;

  /** Told how long each batch took to commit, in seconds (/metrics: store write latency). */
  onCommit: ((seconds: number, writes: number) => void) | null = null;

  constructor(private readonly ds: DataSource) {}

  transaction<T>(fn: (em: EntityManager) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Commits batches until none is left. Never rejects: one failing batch must not stop the next. */
  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        try {
          await this.commit(batch);
        } catch (error) {
          // commit() settles its batch itself; anything escaping it fails whatever is unsettled
          for (const op of batch) op.reject(error);
        }
      }
    } finally {
      this.draining = false;
      if (this.pending.length > 0) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    const qr = this.ds.createQueryRunner();
    const started = process.hrtime.bigint();
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      await qr.startTransaction();
      for (const op of batch) {
        await qr.query('SAVEPOINT parley_write');
        try {
          const value = await op.fn(qr.manager);
          await qr.query('RELEASE parley_write');
          outcomes.push({ ok: true, value });
        } catch (error) {
          await qr.query('ROLLBACK TO parley_write');
          await qr.query('RELEASE parley_write');
          outcomes.push({ ok: false, error });
        }
      }
      await qr.commitTransaction();
      this.onCommit?.(Number(process.hrtime.bigint() - started) / 1e9, batch.length);
    } catch (error) {
      if (qr.isTransactionActive) await qr.rollbackTransaction().catch(() => undefined);
      for (const op of batch) op.reject(error);
      return;
    } finally {
      // a connection that cannot be released must not hang every later write (the outcome stands)
      await qr.release().catch(() => undefined);
    }
    batch.forEach((op, i) => {
      const o = outcomes[i];
      if (o.ok) op.resolve(o.value);
      else op.reject(o.error);
    });
  }
}

const queues = new WeakMap<DataSource, WriteQueue>();

/** The write queue of a data source (one per store). */
export function writesOf(ds: DataSource): WriteQueue {
  let q = queues.get(ds);
  if (q === undefined) {
    q = new WriteQueue(ds);
    queues.set(ds, q);
  }
  return q;
}
