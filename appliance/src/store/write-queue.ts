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
  /** Told after a commit of the topics it bumped and their new versions (store/store-changes.ts). */
  onTopicsCommitted: ((versions: Map<string, number>) => void) | null = null;
  /** topics the batch being committed changes (markChanged), bumped once each before its commit */
  private batchTopics: Set<string> | null = null;

  private readonly sqlite: boolean;

  constructor(private readonly ds: DataSource) {
    this.sqlite = (ds.options as DataSource['options'] | undefined)?.type === 'sqlite';
  }

  transaction<T>(fn: (em: EntityManager) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  /**
   * Called inside one of this queue's transactions: the batch's commit also bumps `topic`'s row in
   * `store_changes`, once per batch however many of its writes changed the topic (group commit:
   * a burst of stored messages costs one counter update, not one each).
   */
  markChanged(topic: string): void {
    if (this.batchTopics === null) throw new Error(`store change '${topic}' marked outside a write`);
    this.batchTopics.add(topic);
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
    const topics = new Set<string>();
    let versions = new Map<string, number>();
    try {
      await qr.startTransaction();
      if (this.sqlite) await qr.query(TAKE_WRITE_LOCK);
      this.batchTopics = topics;
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
      this.batchTopics = null;
      if (topics.size > 0) versions = await bumpTopics(qr.manager, topics);
      await qr.commitTransaction();
      this.onCommit?.(Number(process.hrtime.bigint() - started) / 1e9, batch.length);
      if (versions.size > 0) this.onTopicsCommitted?.(versions);
    } catch (error) {
      this.batchTopics = null;
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

/**
 * SQLite only: a write as the batch's first statement, so the transaction takes the write lock
 * before it reads anything. TypeORM begins transactions DEFERRED; in WAL mode a transaction that
 * has read and then writes while another process (a second node, the CLI) committed since gets
 * SQLITE_BUSY at once, without the busy timeout, and cannot succeed
 * (sqlite.org/rescode.html#busy_snapshot). Writing first waits for the lock instead, like
 * BEGIN IMMEDIATE. The row is inserted once and ignored after; a commit that wrote nothing else
 * adds no WAL frame.
 */
const TAKE_WRITE_LOCK = `INSERT OR IGNORE INTO "store_changes" ("topic", "version") VALUES ('write-lock', 0)`;

/**
 * Bumps each topic's counter and reads its new version back, inside the batch's transaction: the
 * row lock (PostgreSQL) or the write lock (SQLite) makes the version read the one this commit
 * writes. Plain statements (two per topic): TypeORM's query builders cost an XCAP element PUT a
 * quarter of its server time. A topic with no row yet (a new application usage) gets one.
 */
async function bumpTopics(em: EntityManager, topics: Set<string>): Promise<Map<string, number>> {
  const versions = new Map<string, number>();
  const pg = em.connection.options.type === 'postgres';
  const p = pg ? '$1' : '?';
  for (const topic of [...topics].sort()) {
    await em.query(`UPDATE "store_changes" SET "version" = "version" + 1 WHERE "topic" = ${p}`, [topic]);
    let rows = (await em.query(`SELECT "version" FROM "store_changes" WHERE "topic" = ${p}`, [topic])) as { version: number | string }[];
    if (rows.length === 0) {
      await em.query(`INSERT INTO "store_changes" ("topic", "version") VALUES (${p}, 1) ON CONFLICT ("topic") DO UPDATE SET "version" = "store_changes"."version" + 1`, [topic]);
      rows = (await em.query(`SELECT "version" FROM "store_changes" WHERE "topic" = ${p}`, [topic])) as { version: number | string }[];
    }
    versions.set(topic, Number(rows[0].version));
  }
  return versions;
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
