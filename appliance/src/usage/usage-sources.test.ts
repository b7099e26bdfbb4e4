import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource, EntityManager } from 'typeorm';
import { tempStore } from '../../../test/support/temp-store.js';
import { createLogger } from '../log.js';
import { MessageCipher } from '../im/deferred/message-cipher.js';
import { DeferredStore } from '../im/deferred/deferred-store.js';
import { ConversationStore } from '../history/conversation-store.js';
import type { UsageEvent } from './usage-types.js';

// The storage events the black-box test does not reach cheaply: a conversation message refused by
// the quota, a conversation deleted with the bytes it freed, a deferred message expiring.
let temp: Awaited<ReturnType<typeof tempStore>>;
let ds: DataSource;
const events: UsageEvent[] = [];
const sink = { record: (e: UsageEvent) => void events.push(e) };
const ALICE = 'sip:alice@parley.test';
const BOB = 'sip:bob@parley.test';

beforeAll(async () => {
  temp = await tempStore('usage-sources');
  ds = temp.ds;
});
afterAll(async () => {
  await temp.cleanup();
});

describe('usage records from the storage sources (C5)', () => {
  it('records conversation messages stored and refused (with the reason), and a deletion with the bytes it freed', async () => {
    const store = new ConversationStore(ds, MessageCipher.loadOrCreate(temp.dir), { keywordIndex: false });
    let used = 0;
    store.account = {
      admit: (_owner, bytes) => (used + bytes > 10 ? 'storage quota reached' : null),
      charge: (_em: EntityManager, _owner, delta) => {
        used += delta;
        return Promise.resolve();
      },
    };
    store.usage = sink;
    await store.load();
    const c = await store.start(ALICE, 'pager', `pager:${BOB}`, [BOB], 'Chat with Bob');
    const msg = (body: string) => ({ sender: ALICE, recipients: [BOB], contentType: 'text/plain', body: Buffer.from(body) });
    await store.append(c, msg('12345678'), 1000);
    await store.append(c, msg('too much'), 2000);
    await store.remove(c.publicId);
    expect(events.splice(0).map((e) => [e.kind, e.user, e.peer, e.outcome, e.reason ?? null, e.bytes])).toEqual([
      ['conversation', ALICE, BOB, 'stored', null, 8],
      ['conversation', ALICE, BOB, 'refused', 'storage quota reached', 8],
      ['conversation', ALICE, BOB, 'deleted', null, 8],
    ]);
  });

  it('records an im-history re-save as bytes stored again and an im-history deletion as bytes freed', async () => {
    const store = new ConversationStore(ds, MessageCipher.loadOrCreate(temp.dir), { keywordIndex: false });
    store.usage = sink;
    await store.load();
    const c = await store.start(ALICE, 'pager', `pager:${BOB}:xcap`, [BOB], 'Chat with Bob');
    await store.append(c, { sender: ALICE, recipients: [BOB], contentType: 'text/plain', body: Buffer.from('hello') }, 1000);
    events.length = 0;
    const copy = await store.applyChanges(ALICE, { remove: [], rename: [], stop: [], copy: [{ of: c.publicId, name: 'Kept' }] }, () => true);
    expect('created' in copy).toBe(true);
    await store.applyChanges(ALICE, { remove: [c.publicId], rename: [], stop: [], copy: [] }, () => true);
    expect(events.splice(0).map((e) => [e.kind, e.user, e.peer, e.outcome, e.bytes])).toEqual([
      ['conversation', ALICE, BOB, 'stored', 5],
      ['conversation', ALICE, BOB, 'deleted', 5],
    ]);
  });

  it('records a deferred message stored and expired, with its plaintext bytes', async () => {
    const store = new DeferredStore(ds, MessageCipher.loadOrCreate(temp.dir), { retention: 60, maxPerUser: 10, maxPerSender: 10 }, createLogger('silent'));
    store.usage = sink;
    await store.load();
    await store.add({ recipient: 'bob', fromHeader: `<${ALICE}>;tag=1`, senderAor: ALICE, contentType: 'text/plain', body: Buffer.from('see you'), receivedAt: 5000 });
    expect(await store.purgeExpired(5000 + 61_000)).toBe(1);
    expect(events.splice(0).map((e) => [e.kind, e.at, e.user, e.peer, e.outcome, e.bytes])).toEqual([
      ['deferred', 5000, 'bob', ALICE, 'stored', 7],
      ['deferred', 66_000, 'bob', ALICE, 'expired', 7],
    ]);
  });
});
