import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { tempStore } from '../../../test/support/temp-store.js';
import { openStore } from './data-source.js';
import { writesOf } from './write-queue.js';
import { StoreChangeWatcher, documentsTopic, markChanged } from './store-changes.js';

// two connections to one store file stand for two nodes sharing it
let temp: Awaited<ReturnType<typeof tempStore>>;
let other: DataSource;

beforeAll(async () => {
  temp = await tempStore('store-changes');
  other = await openStore(temp.dir);
});
afterAll(async () => {
  await other.destroy();
  await temp.cleanup();
});

/** A watcher on `ds` counting the reloads of each topic. */
async function watcherOn(ds: DataSource, topics: string[]): Promise<{ watcher: StoreChangeWatcher; reloads: Map<string, number> }> {
  const watcher = new StoreChangeWatcher(ds, { intervalMs: 60_000 });
  const reloads = new Map<string, number>();
  await watcher.open();
  for (const t of topics) watcher.subscribe(t as 'users', () => Promise.resolve(void reloads.set(t, (reloads.get(t) ?? 0) + 1)));
  return { watcher, reloads };
}

const write = (ds: DataSource, topic: string) => writesOf(ds).transaction((em) => Promise.resolve(markChanged(em, topic as 'users')));

describe('store change watcher', () => {
  it("reloads a topic another node changed, and only that topic, and never for its own node's writes", async () => {
    const a = await watcherOn(temp.ds, ['users', 'quota', documentsTopic('im-preferences')]);
    await write(temp.ds, 'users');
    await a.watcher.poll();
    expect(a.reloads.size).toBe(0);

    await write(other, 'quota');
    await write(other, documentsTopic('im-preferences'));
    await a.watcher.poll();
    expect(Object.fromEntries(a.reloads)).toEqual({ quota: 1, [documentsTopic('im-preferences')]: 1 });
    // nothing new: no reload
    await a.watcher.poll();
    expect(a.reloads.get('quota')).toBe(1);
  });

  it('bumps a topic once per batch however many writes of the batch change it', async () => {
    const before = (await temp.ds.query(`SELECT version FROM store_changes WHERE topic = 'profiles'`)) as { version: number }[];
    await Promise.all([write(temp.ds, 'profiles'), write(temp.ds, 'profiles'), write(temp.ds, 'profiles')]);
    const after = (await temp.ds.query(`SELECT version FROM store_changes WHERE topic = 'profiles'`)) as { version: number }[];
    expect(Number(after[0].version) - Number(before[0].version)).toBe(1);
  });

  it("reloads when another node's write came between this node's own (the version skipped one)", async () => {
    const a = await watcherOn(temp.ds, ['recordings']);
    await write(other, 'recordings');
    await write(temp.ds, 'recordings');
    await a.watcher.poll();
    expect(a.reloads.get('recordings')).toBe(1);
  });

  it('refuses a change marked outside a write', () => {
    expect(() => writesOf(temp.ds).markChanged('users')).toThrow(/outside a write/);
  });
});
