import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { tempStore } from '../../../test/support/temp-store.js';
import { openStore } from './data-source.js';
import { writesOf } from './write-queue.js';

let store: Awaited<ReturnType<typeof tempStore>>;
let dir: string;
let ds: DataSource;

beforeAll(async () => {
  store = await tempStore('writes');
  ({ dir, ds } = store);
  await ds.query('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)');
});
afterAll(async () => {
  await store.cleanup();
});

describe('write queue (group commit on one SQLite connection)', () => {
  it('runs many overlapping multi-statement writes without interleaving them', async () => {
    const writes = writesOf(ds);
    await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        writes.transaction(async (em) => {
          await em.query('INSERT INTO t (k, v) VALUES (?, ?)', [`k${i}`, 0]);
          await new Promise((r) => setImmediate(r)); // let other writers try to cut in
          await em.query('UPDATE t SET v = ? WHERE k = ?', [i, `k${i}`]);
        }),
      ),
    );
    const rows = (await ds.query('SELECT COUNT(*) AS n, SUM(v) AS s FROM t')) as { n: number; s: number }[];
    expect(rows[0]).toEqual({ n: 300, s: (299 * 300) / 2 });
  });

  it('rolls back only the write that failed; the others in its batch commit', async () => {
    const writes = writesOf(ds);
    const results = await Promise.allSettled([
      writes.transaction((em) => em.query('INSERT INTO t (k, v) VALUES (?, ?)', ['a', 1])),
      writes.transaction(async (em) => {
        await em.query('INSERT INTO t (k, v) VALUES (?, ?)', ['b', 2]);
        await em.query('INSERT INTO t (k, v) VALUES (?, ?)', ['a', 3]); // duplicate key: fails
      }),
      writes.transaction((em) => em.query('INSERT INTO t (k, v) VALUES (?, ?)', ['c', 4])),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const keys = ((await ds.query("SELECT k FROM t WHERE k IN ('a','b','c') ORDER BY k")) as { k: string }[]).map((r) => r.k);
    expect(keys).toEqual(['a', 'c']);
  });

  it('resolves a write only once it is committed (visible to another connection)', async () => {
    await writesOf(ds).transaction((em) => em.query('INSERT INTO t (k, v) VALUES (?, ?)', ['durable', 7]));
    const other = await openStore(dir);
    expect(await other.query("SELECT v FROM t WHERE k = 'durable'")).toEqual([{ v: 7 }]);
    await other.destroy();
  });

  it('goes on after a connection that fails to be released, and after a failing commit', async () => {
    // a DataSource whose query runner misbehaves, as a broken driver or pool would
    let releases = 0;
    let commits = 0;
    const fake = {
      createQueryRunner: () => ({
        manager: {},
        isTransactionActive: true,
        startTransaction: async () => undefined,
        query: async () => undefined,
        commitTransaction: async () => {
          if (++commits === 2) throw new Error('disk I/O error');
        },
        rollbackTransaction: async () => undefined,
        release: async () => {
          if (++releases === 1) throw new Error('release failed');
        },
      }),
    } as unknown as DataSource;
    const writes = writesOf(fake);
    await expect(writes.transaction(async () => 'first')).resolves.toBe('first');
    await expect(writes.transaction(async () => 'second')).rejects.toThrow('disk I/O error');
    await expect(writes.transaction(async () => 'third')).resolves.toBe('third');
  });
});
