import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource, EntityManager } from 'typeorm';
import { tempStore } from '../../../test/support/temp-store.js';
import { MessageCipher } from '../im/deferred/message-cipher.js';
import { ConversationStore, type StorageAccount } from './conversation-store.js';

let temp: Awaited<ReturnType<typeof tempStore>>;
let ds: DataSource;
let store: ConversationStore;
const charged = new Map<string, number>();
let limit = Infinity;

beforeAll(async () => {
  temp = await tempStore('conversations');
  ds = temp.ds;
  store = new ConversationStore(ds, MessageCipher.loadOrCreate(temp.dir), { keywordIndex: true });
  const account: StorageAccount = {
    admit: (owner, bytes) => ((charged.get(owner) ?? 0) + bytes > limit ? 'quota reached' : null),
    charge: (_em: EntityManager, owner, delta) => {
      charged.set(owner, (charged.get(owner) ?? 0) + delta);
      return Promise.resolve();
    },
  };
  store.account = account;
  await store.load();
});
afterAll(async () => {
  await temp.cleanup();
});

const ALICE = 'sip:alice@parley.test';
const BOB = 'sip:bob@parley.test';
const text = (sender: string, body: string) => ({ sender, recipients: [sender === ALICE ? BOB : ALICE], contentType: 'text/plain;charset=utf-8', body: Buffer.from(body) });

describe('conversation store (H1)', () => {
  it('starts one conversation when two messages of a new conversation arrive together, and keeps their order', async () => {
    const GINA = 'sip:gina@parley.test';
    const FRANK = 'sip:frank@parley.test';
    const key = 'pager:sip:frank@parley.test';
    // the pager capture's shape: start (or find) the recording, then append; both messages at once
    const capture = async (body: string) => store.append(await store.start(GINA, 'pager', key, [FRANK], 'Frank'), { sender: GINA, recipients: [FRANK], contentType: 'text/plain', body: Buffer.from(body) });
    await Promise.all([capture('first'), capture('second'), capture('third')]);
    const rows = (await ds.query('SELECT id FROM conversations WHERE owner = ? AND capture_key = ?', [GINA, key])) as { id: number }[];
    expect(rows).toHaveLength(1);
    const read = await store.messages(store.recordingFor(GINA, key)!);
    expect(read.map((m) => m.body.toString())).toEqual(['first', 'second', 'third']);
  });

  it('keeps the order of appends across a start: one accepted as the new row becomes visible queues after those that waited for it', async () => {
    const HANK = 'sip:hank@parley.test';
    const key = 'pager:sip:ida@parley.test';
    const startAs = { kind: 'pager', peers: ['sip:ida@parley.test'], name: 'Ida' };
    const message = (body: string) => ({ sender: HANK, recipients: ['sip:ida@parley.test'], contentType: 'text/plain', body: Buffer.from(body) });
    // the moment the row becomes visible (told synchronously after it is), a later message comes in:
    // it resumes from nothing, while the first two resume from the start's commit (the CI failure
    // of 2026-12-01: the later message took the lower id)
    let later: Promise<unknown> | null = null;
    store.onChanged = (owner) => {
      if (owner === HANK && later === null) later = store.appendRecording(HANK, key, startAs, message('third'));
    };
    try {
      const first = store.appendRecording(HANK, key, startAs, message('first'));
      const second = store.appendRecording(HANK, key, null, message('second'));
      await Promise.all([first, second]);
      await later;
    } finally {
      store.onChanged = null;
    }
    expect(later).not.toBeNull();
    const read = await store.messages(store.recordingFor(HANK, key)!);
    expect(read.map((m) => m.body.toString())).toEqual(['first', 'second', 'third']);
    // nothing records, nothing asked to start: not stored
    expect(await store.appendRecording(HANK, 'pager:sip:nobody@parley.test', null, message('x'))).toBeUndefined();
  });

  it('never leaves an append waiting for a start whose row was handed out and stopped before the start settled', async () => {
    const JOE = 'sip:joe@parley.test';
    const key = 'pager:sip:kim@parley.test';
    const startAs = { kind: 'pager', peers: ['sip:kim@parley.test'], name: 'Kim' };
    const message = (body: string) => ({ sender: JOE, recipients: ['sip:kim@parley.test'], contentType: 'text/plain', body: Buffer.from(body) });
    // right as the row becomes visible: the owner stops it (Conversation-Store: off), and a message
    // that asks to store comes in, while the first start's promise has not settled yet
    let late: Promise<{ stored: unknown } | undefined> | null = null;
    let stopped: Promise<void> | null = null;
    store.onChanged = (owner) => {
      if (owner !== JOE || late !== null) return;
      stopped = store.stop(JOE, key);
      late = store.appendRecording(JOE, key, startAs, message('after the stop'));
    };
    try {
      const first = await store.appendRecording(JOE, key, startAs, message('first'));
      expect(first?.stored).toMatchObject({ sender: JOE });
      await stopped;
      const outcome = await Promise.race([late, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2000))]);
      expect(outcome).not.toBe('still waiting');
      expect((outcome as { stored: unknown }).stored).toMatchObject({ sender: JOE });
    } finally {
      store.onChanged = null;
    }
  });

  it('stores messages sealed, in order, with the server time, and counts them on the conversation', async () => {
    const c = await store.start(ALICE, 'pager', 'pager:sip:bob@parley.test', [BOB], 'Chat with Bob');
    expect(await store.start(ALICE, 'pager', 'pager:sip:bob@parley.test', [BOB], 'again')).toBe(c);
    await Promise.all([store.append(c, text(ALICE, 'hello Bob'), 1000), store.append(c, text(BOB, 'hi Alice, café?'), 2000)]);
    const read = await store.messages(c);
    expect(read.map((m) => [m.sender, m.body.toString(), m.storedAt])).toEqual([
      [ALICE, 'hello Bob', 1000],
      [BOB, 'hi Alice, café?', 2000],
    ]);
    const raw = (await ds.query('SELECT body FROM conversation_messages WHERE conversation_id = ?', [c.id])) as { body: Buffer }[];
    expect(raw.some((r) => r.body.includes('hello'))).toBe(false);
    const [listed] = await store.list(ALICE);
    expect(listed).toMatchObject({ publicId: c.publicId, messageCount: 2, bytes: 9 + Buffer.byteLength('hi Alice, café?'), firstAt: 1000, lastAt: 2000 });
    expect(charged.get(ALICE)).toBe(listed.bytes);
  });

  it('finds messages by keyword (diacritics folded) without keeping the text in the index', async () => {
    const hits = (await ds.query("SELECT rowid FROM conversation_fts WHERE conversation_fts MATCH 'cafe'")) as { rowid: number }[];
    expect(hits).toHaveLength(1);
    const stored = (await ds.query("SELECT body FROM conversation_fts WHERE conversation_fts MATCH 'cafe'")) as { body: string | null }[];
    expect(stored[0].body).toBeNull();
  });

  it('keeps delivery notifications out, and refuses past the quota', async () => {
    const c = store.recordingFor(ALICE, 'pager:sip:bob@parley.test')!;
    const imdn = Buffer.from('From: <sip:bob@parley.test>\r\nTo: <sip:alice@parley.test>\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: x1\r\n\r\nContent-Type: message/imdn+xml\r\n\r\n<imdn/>');
    expect(await store.append(c, { sender: BOB, recipients: [ALICE], contentType: 'message/cpim', body: imdn })).toEqual({ refused: 'notification' });
    limit = charged.get(ALICE)! + 3;
    expect(await store.append(c, text(ALICE, 'four'))).toEqual({ refused: 'quota', reason: 'quota reached' });
    limit = Infinity;
  });

  it("refuses before the quota when the owner's profile allows no storage (the gate), and charges nothing", async () => {
    const c = store.recordingFor(ALICE, 'pager:sip:bob@parley.test')!;
    const before = charged.get(ALICE);
    store.gate = (owner) => (owner === ALICE ? 'Storage is not allowed for this user' : null);
    try {
      expect(await store.append(c, text(ALICE, 'not kept'))).toEqual({ refused: 'profile', reason: 'Storage is not allowed for this user' });
    } finally {
      store.gate = null;
    }
    expect(charged.get(ALICE)).toBe(before);
  });

  it('renames, and deletes a conversation with its messages, index entries and quota charge', async () => {
    const c = store.recordingFor(ALICE, 'pager:sip:bob@parley.test')!;
    expect(await store.rename(c.publicId, 'Lunch')).toBe(true);
    expect((await store.get(c.publicId))!.name).toBe('Lunch');
    expect(await store.remove(c.publicId)).toBe(true);
    expect(await store.remove(c.publicId)).toBe(false);
    expect(charged.get(ALICE)).toBe(0);
    expect(await ds.query('SELECT id FROM conversation_messages WHERE conversation_id = ?', [c.id])).toEqual([]);
    expect(await ds.query("SELECT rowid FROM conversation_fts WHERE conversation_fts MATCH 'cafe'")).toEqual([]);
    expect(store.records(ALICE)).toBe(false);
  });

  it('applies an owner\'s changes in one transaction: a copy re-sealed and indexed, renames, stops, deletions, quota charged', async () => {
    const c = await store.start(ALICE, 'pager', 'pager:sip:carol@parley.test', ['sip:carol@parley.test'], 'Carol');
    await store.append(c, text(ALICE, 'crème brûlée'), 5000);
    const other = await store.start(ALICE, 'pager', 'pager:sip:dave@parley.test', ['sip:dave@parley.test'], 'Dave');
    await store.append(other, text(ALICE, 'bye dave'), 6000);
    const before = charged.get(ALICE)!;
    const changed: string[] = [];
    store.onChanged = (owner) => changed.push(owner);
    const outcome = await store.applyChanges(ALICE, { copy: [{ of: c.publicId, name: 'Dessert' }], rename: [{ publicId: c.publicId, name: 'Carol 2' }], stop: [c.publicId], remove: [other.publicId] }, () => true);
    store.onChanged = null;
    expect('created' in outcome).toBe(true);
    const [copyId] = (outcome as { created: string[] }).created;
    const copy = (await store.get(copyId))!;
    expect(copy).toMatchObject({ name: 'Dessert', recording: false, messageCount: 1, firstAt: 5000, peers: c.peers });
    expect((await store.messages(copy)).map((m) => [m.body.toString(), m.storedAt])).toEqual([['crème brûlée', 5000]]);
    expect((await ds.query("SELECT rowid FROM conversation_fts WHERE conversation_fts MATCH 'creme'")) as unknown[]).toHaveLength(2);
    expect((await store.get(c.publicId))!).toMatchObject({ name: 'Carol 2', recording: false });
    expect(store.recordingFor(ALICE, 'pager:sip:carol@parley.test')).toBeUndefined();
    expect(await store.get(other.publicId)).toBeNull();
    expect(charged.get(ALICE)).toBe(before + copy.bytes - Buffer.byteLength('bye dave'));
    expect(changed).toEqual([ALICE]);
  });

  it('does nothing when the conversations changed under the edit, or a copy would pass the quota', async () => {
    const [c] = await store.list(ALICE);
    expect(await store.applyChanges(ALICE, { copy: [], rename: [{ publicId: c.publicId, name: 'never' }], stop: [], remove: [] }, () => false)).toEqual({ stale: true });
    limit = charged.get(ALICE)! + 1;
    const refused = await store.applyChanges(ALICE, { copy: [{ of: c.publicId, name: 'x' }], rename: [{ publicId: c.publicId, name: 'never' }], stop: [], remove: [] }, () => true);
    limit = Infinity;
    expect(refused).toEqual({ refused: 'quota', reason: 'quota reached' });
    expect((await store.get(c.publicId))!.name).not.toBe('never');
  });

  it('writes a concurrent burst in one turn: each append its own id and message in order, counters summed per conversation, one charge per owner, a deleted conversation\'s appends refused', async () => {
    const one = await store.start(BOB, 'pager', 'pager:sip:erin@parley.test', ['sip:erin@parley.test'], 'Erin');
    const two = await store.start(BOB, 'pager', 'pager:sip:frank@parley.test', ['sip:frank@parley.test'], 'Frank');
    const gone = await store.start(BOB, 'pager', 'pager:sip:gina@parley.test', ['sip:gina@parley.test'], 'Gina');
    const before = charged.get(BOB) ?? 0;
    const charges: number[] = [];
    const account = store.account!;
    store.account = { ...account, charge: (em, owner, delta) => (charges.push(delta), account.charge(em, owner, delta)) };
    try {
      // the deletion is queued first: its turn comes before the burst's
      const removed = store.remove(gone.publicId);
      const burst = Array.from({ length: 300 }, (_, i) => store.append([one, two, gone][i % 3], text(BOB, `burst ${i} word${i}`), 10_000 + i));
      const [results] = await Promise.all([Promise.all(burst), removed]);
      const stored = results.filter((r): r is Exclude<typeof r, { refused: unknown }> => !('refused' in r));
      expect(results.filter((r) => 'refused' in r)).toEqual(Array(100).fill({ refused: 'gone' }));
      expect(new Set(stored.map((r) => r.id)).size).toBe(200);
      for (const [c, k] of [[one, 0], [two, 1]] as const) {
        const read = await store.messages(c, 0, 1000);
        expect(read.map((m) => m.body.toString())).toEqual(Array.from({ length: 100 }, (_, j) => `burst ${3 * j + k} word${3 * j + k}`));
        expect(read.map((m) => m.id)).toEqual(stored.filter((r) => r.conversationId === c.id).map((r) => r.id));
        const row = (await store.get(c.publicId))!;
        expect(row).toMatchObject({ messageCount: 100, firstAt: 10_000 + k, lastAt: 10_000 + 297 + k, bytes: read.reduce((n, m) => n + m.bytes, 0) });
      }
      // the index has each stored message under its own id
      const [hit] = (await ds.query("SELECT rowid FROM conversation_fts WHERE conversation_fts MATCH 'word151'")) as { rowid: number }[];
      expect(hit.rowid).toBe(stored.find((r) => r.body.toString() === 'burst 151 word151')!.id);
      expect(charged.get(BOB)! - before).toBe(stored.reduce((n, r) => n + r.bytes, 0));
      // fewer charges than messages: one per owner per turn
      expect(charges.length).toBeLessThan(200);
    } finally {
      store.account = account;
    }
  });
});
