import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { tempStore } from '../../../../test/support/temp-store.js';
import { pino } from 'pino';
import { MessageCipher } from './message-cipher.js';
import { DeferredStore } from './deferred-store.js';

const log = pino({ level: 'silent' });
const LIMITS = { retention: 3600, maxPerUser: 300, maxPerSender: 250 };
let temp: Awaited<ReturnType<typeof tempStore>>;
let dir: string;
let ds: DataSource;
let store: DeferredStore;

beforeAll(async () => {
  temp = await tempStore('deferred');
  ({ dir, ds } = temp);
  store = new DeferredStore(ds, MessageCipher.loadOrCreate(dir), LIMITS, log);
  await store.load();
});
afterAll(async () => {
  await temp.cleanup();
});

const msg = (recipient: string, text: string, receivedAt = Date.now()) => ({
  recipient,
  fromHeader: '<sip:alice@parley.test>;tag=1',
  senderAor: 'sip:alice@parley.test',
  contentType: 'text/plain',
  body: Buffer.from(text),
  receivedAt,
});

describe('deferred store (P2)', () => {
  it('keeps the key file private (0600)', () => {
    expect(statSync(path.join(dir, 'message-store.key')).mode & 0o777).toBe(0o600);
  });

  it('commits a burst in group and returns messages in arrival order', async () => {
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.add(msg('bob', `m${i}`))));
    expect(store.pendingFor('bob')).toBe(200);
    const first = await store.oldest('bob', 3);
    expect(first.map((m) => m.body.toString())).toEqual(['m0', 'm1', 'm2']);
  });

  it('reads on after the last id a push run has read, never an expired message', async () => {
    const first = await store.oldest('bob', 3);
    const next = await store.oldest('bob', 3, first[2].id);
    expect(next.map((m) => m.body.toString())).toEqual(['m3', 'm4', 'm5']);
    await store.add(msg('hank', 'stale', Date.now() - 7200_000));
    await store.add(msg('hank', 'fresh'));
    expect((await store.oldest('hank', 10)).map((m) => m.body.toString())).toEqual(['fresh']);
    await store.purgeExpired();
  });

  it('encrypts bodies at rest and binds them to the recipient', async () => {
    await store.add(msg('carol', 'top secret plans'));
    const rows = (await ds.query("SELECT body FROM deferred_messages WHERE recipient = 'carol'")) as { body: Buffer }[];
    expect(rows[0].body.includes(Buffer.from('top secret'))).toBe(false);
    const cipher = MessageCipher.loadOrCreate(dir);
    expect(cipher.decrypt(rows[0].body, 'carol').toString()).toBe('top secret plans');
    expect(() => cipher.decrypt(rows[0].body, 'mallory')).toThrow();
  });

  it('removes a delivered message and counts down, once', async () => {
    await store.add(msg('carol', 'second'));
    const [m] = await store.oldest('carol', 1);
    await store.removeMany([m]);
    await store.removeMany([m]); // already gone (say, purged meanwhile): not counted down twice
    expect(store.pendingFor('carol')).toBe(1);
    const [rest] = await store.oldest('carol', 1);
    expect(rest.body.toString()).toBe('second');
    await store.removeMany([rest]);
    expect(store.pendingFor('carol')).toBe(0);
    expect(await store.oldest('carol', 1)).toEqual([]);
  });

  it('passes over a row that does not decrypt, reads on in its place, and logs it once', async () => {
    const logged: { msg: string; ids: number[]; why: string }[] = [];
    const sink = { write: (line: string) => void logged.push(JSON.parse(line) as { msg: string; ids: number[]; why: string }) };
    const watched = new DeferredStore(ds, MessageCipher.loadOrCreate(dir), LIMITS, pino({ level: 'error' }, sink));
    await watched.load();
    for (let i = 0; i < 6; i++) await watched.add(msg('ivan', `v${i}`));
    const ids = (await watched.oldest('ivan', 10)).map((m) => m.id);
    // v1 altered on disk; v3 given a body sealed for another recipient (the recipient is the cipher's associated data)
    await ds.query('UPDATE deferred_messages SET body = zeroblob(LENGTH(body)) WHERE id = ?', [ids[1]]);
    await ds.query("UPDATE deferred_messages SET body = (SELECT body FROM deferred_messages WHERE recipient = 'bob' LIMIT 1) WHERE id = ?", [ids[3]]);
    const text = (ms: { body: Buffer }[]) => ms.map((m) => m.body.toString());
    // a batch of two holds two readable messages: the unreadable ones are read past, not counted
    const first = await watched.oldest('ivan', 2);
    expect(text(first)).toEqual(['v0', 'v2']);
    expect(text(await watched.oldest('ivan', 2, first[1].id))).toEqual(['v4', 'v5']);
    expect(text(await watched.oldest('ivan', 10))).toEqual(['v0', 'v2', 'v4', 'v5']);
    expect(logged.map((l) => l.ids)).toEqual([[ids[1]], [ids[3]]]);
    expect(logged[0].why).toMatch(/authenticate/);
    // kept for the expiry sweep (or the right key): still counted as waiting
    expect(watched.pendingFor('ivan')).toBe(6);
    await watched.removeMany(await watched.oldest('ivan', 10));
    expect(watched.pendingFor('ivan')).toBe(2);
    expect(Number(((await ds.query("SELECT COUNT(*) AS n FROM deferred_messages WHERE recipient = 'ivan'")) as { n: number }[])[0].n)).toBe(2);
    await ds.query('DELETE FROM deferred_messages WHERE id IN (?, ?)', [ids[1], ids[3]]);
  });

  it('records failed attempts', async () => {
    const [m] = await store.oldest('bob', 1);
    await store.recordFailure(m.id, 3, 12345);
    const [again] = await store.oldest('bob', 1);
    expect(again.attempts).toBe(3);
    expect(again.nextAttemptAt).toBe(12345);
  });

  it('drops messages past their retention period', async () => {
    await store.add(msg('dave', 'old news', Date.now() - 7200_000));
    expect(store.pendingFor('dave')).toBe(1);
    expect(await store.purgeExpired()).toBe(1);
    expect(store.pendingFor('dave')).toBe(0);
  });

  it('holds the per-recipient limit and each sender\'s share of it under a concurrent burst', async () => {
    const from = (sender: string, i: number) => ({ ...msg('erin', `x${i}`), senderAor: `sip:${sender}@parley.test` });
    const first = await Promise.all(Array.from({ length: 400 }, (_, i) => store.add(from('alice', i))));
    expect(first.filter((r) => r.stored)).toHaveLength(250);
    expect(first.filter((r) => !r.stored && r.refusal === 'sender-share-full')).toHaveLength(150);
    const second = await Promise.all(Array.from({ length: 100 }, (_, i) => store.add(from('frank', i))));
    expect(second.filter((r) => r.stored)).toHaveLength(50);
    expect(second.filter((r) => !r.stored && r.refusal === 'recipient-full')).toHaveLength(50);
    expect(store.pendingFor('erin')).toBe(300);
    expect(Number(((await ds.query("SELECT COUNT(*) AS n FROM deferred_messages WHERE recipient = 'erin'")) as { n: number }[])[0].n)).toBe(300);
  });

  it('reports a message that expired while the server was down at the first sweep after start, once, and only after its deletion', async () => {
    const cpim = (id: string) => ({ ...msg('gail', ''), contentType: 'message/cpim', body: Buffer.from(`From: <sip:alice@parley.test>\r\nimdn.Message-ID: ${id}\r\n\r\nContent-Type: text/plain\r\n\r\nhi`), receivedAt: Date.now() - 7200_000 });
    await store.add(cpim('down-1'));
    await store.add(cpim('down-2'));
    await store.add({ ...msg('gail', 'plain text asks nothing'), receivedAt: Date.now() - 7200_000 });
    // the restart: a new store loads what is on disk before anyone listens for expiries
    const restarted = new DeferredStore(ds, MessageCipher.loadOrCreate(dir), LIMITS, log);
    await restarted.load();
    expect(restarted.pendingFor('gail')).toBe(3);
    const told: { body: string; stillStored: Promise<number> }[] = [];
    restarted.onExpiredMessage = (m) => {
      const stillStored = ds.query("SELECT COUNT(*) AS n FROM deferred_messages WHERE recipient = 'gail'").then((r: { n: number }[]) => Number(r[0].n));
      told.push({ body: m.body.toString(), stillStored });
    };
    // two sweeps at once (the interval's and the start's): each message is reported by one of them
    const removed = await Promise.all([restarted.purgeExpired(), restarted.purgeExpired()]);
    expect(removed[0] + removed[1]).toBe(3);
    expect(told.map((t) => /Message-ID: (\S+)/.exec(t.body)![1]).sort()).toEqual(['down-1', 'down-2']);
    for (const t of told) expect(await t.stillStored).toBe(0);
    expect(await restarted.purgeExpired()).toBe(0);
    expect(told).toHaveLength(2);
    expect(restarted.pendingFor('gail')).toBe(0);
  });

  it('counts what survives a restart', async () => {
    const again = new DeferredStore(ds, MessageCipher.loadOrCreate(dir), LIMITS, log);
    await again.load();
    expect(again.pendingFor('bob')).toBe(200);
  });
});
