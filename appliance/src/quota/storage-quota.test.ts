import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { tempStore } from '../../../test/support/temp-store.js';
import { MessageCipher } from '../im/deferred/message-cipher.js';
import { ConversationStore } from '../history/conversation-store.js';
import { DeferredStore } from '../im/deferred/deferred-store.js';
import { LocalDomain } from '../core/local-domain.js';
import { createLogger } from '../log.js';
import { StorageQuota, type QuotaWarning } from './storage-quota.js';
import { levelOf, parseBytes, percentOf } from './quota-levels.js';

const D = 'parley.test';
const SERVICE = `sip:storage@${D}`;
let temp: Awaited<ReturnType<typeof tempStore>>;
let ds: DataSource;
let quota: StorageQuota;
let conversations: ConversationStore;
let deferred: DeferredStore;
const warnings: QuotaWarning[] = [];

beforeAll(async () => {
  temp = await tempStore('quota');
  ds = temp.ds;
  const cipher = MessageCipher.loadOrCreate(temp.dir);
  quota = new StorageQuota(ds, { defaultBytes: 1000, warnAt: [50, 80], serviceAor: SERVICE, domain: new LocalDomain(D, []) });
  await quota.load();
  quota.onWarning = (w) => warnings.push(w);
  conversations = new ConversationStore(ds, cipher, { keywordIndex: false });
  conversations.account = quota.conversations;
  deferred = new DeferredStore(ds, cipher, { retention: 60, maxPerUser: 100, maxPerSender: 100 }, createLogger('silent'));
  deferred.account = quota.deferred;
});
afterAll(async () => {
  await temp.cleanup();
});

const text = (n: number) => ({ sender: `sip:alice@${D}`, recipients: [`sip:bob@${D}`], contentType: 'text/plain', body: Buffer.alloc(n, 'a') });
const ledger = async (user: string) => ((await ds.query('SELECT conversation_bytes AS c, deferred_bytes AS d, warned_level AS w FROM storage_usage WHERE username = ?', [user])) as { c: number; d: number; w: number }[])[0];
const message = (recipient: string, n: number, sender = `sip:bob@${D}`) => ({ recipient, fromHeader: `<${sender}>`, senderAor: sender, contentType: 'text/plain', body: Buffer.alloc(n, 'b'), receivedAt: Date.now() });

describe('storage quota ledger (H3)', () => {
  it('lets a concurrent burst fill the quota but never overshoot it, and the ledger matches the stored bytes', async () => {
    const c = await conversations.start(`sip:alice@${D}`, 'pager', 'pager:bob', [`sip:bob@${D}`], 'Chat');
    for (let i = 0; i < 6; i++) await conversations.append(c, text(100));
    const results = await Promise.all(Array.from({ length: 9 }, () => conversations.append(c, text(100))));
    expect(results.filter((r) => !('refused' in r))).toHaveLength(4);
    expect(results.filter((r) => 'refused' in r && r.refused === 'quota')).toHaveLength(5);
    expect(await ledger('alice')).toEqual({ c: 1000, d: 0, w: 100 });
    expect(quota.usage('alice')).toMatchObject({ usedBytes: 1000, percent: 100, level: 100 });
    // 50 told after the sixth; in the burst the first refusal came before 80 was stored: "reached" supersedes it
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.filter((w) => w.usage.user === 'alice').map((w) => w.level)).toEqual([50, 100]);
  });

  it('gives bytes back when a conversation is deleted, and lowers the level silently', async () => {
    const [c] = await conversations.list(`sip:alice@${D}`);
    const before = warnings.length;
    expect(await conversations.remove(c.publicId)).toBe(true);
    expect(await ledger('alice')).toEqual({ c: 0, d: 0, w: 0 });
    expect(warnings.length).toBe(before);
  });

  it('counts deferred bodies as sent, not the service’s notices, and gives them back on delivery, purge and expiry', async () => {
    await deferred.add(message('carol', 300));
    await deferred.add(message('carol', 50, SERVICE));
    await deferred.add(message('carol', 200, `sip:dave@${D}`));
    expect(await ledger('carol')).toMatchObject({ c: 0, d: 500 });
    const stored = await deferred.oldest('carol', 10);
    await deferred.removeMany(stored.filter((m) => m.senderAor === `sip:bob@${D}`));
    expect((await ledger('carol')).d).toBe(200);
    await deferred.purgeExpired(Date.now() + 3_600_000);
    expect((await ledger('carol')).d).toBe(0);
    await deferred.add(message('carol', 400));
    expect(await deferred.add(message('carol', 700))).toEqual({ stored: false, refusal: 'recipient-over-quota' });
    expect(await deferred.add(message('carol', 700, SERVICE))).toEqual({ stored: true });
    await deferred.purgeRecipient('carol');
    expect((await ledger('carol')).d).toBe(0);
  });

  it('recounts a ledger that went wrong from the stored data', async () => {
    const c = await conversations.start(`sip:erin@${D}`, 'pager', 'pager:bob', [`sip:bob@${D}`], 'Chat');
    await conversations.append(c, text(120));
    await deferred.add(message('erin', 30));
    await ds.query('UPDATE storage_usage SET conversation_bytes = 9999, deferred_bytes = 7 WHERE username = ?', ['erin']);
    await ds.query("INSERT INTO storage_usage (username, conversation_bytes) VALUES ('ghost', 55)");
    const changes = await quota.recount();
    expect(changes.find((x) => x.user === 'erin')).toEqual({ user: 'erin', before: 150, after: 150 });
    expect(await ledger('erin')).toMatchObject({ c: 120, d: 30 });
    expect(await ledger('ghost')).toMatchObject({ c: 0, d: 0 });
    expect(await quota.recount('erin')).toEqual([{ user: 'erin', before: 150, after: 150 }]);
  });

  it('takes a user’s own quota and returns them to the default', async () => {
    expect(await quota.setQuota('erin', 100)).toEqual({ before: null, after: 100 });
    expect(quota.usage('erin')).toMatchObject({ quotaBytes: 100, override: true, percent: 150 });
    expect(await quota.setQuota('erin', null)).toEqual({ before: 100, after: null });
    expect(quota.usage('erin')).toMatchObject({ quotaBytes: 1000, override: false });
  });
});

describe('quota arithmetic', () => {
  it('computes percent, level and sizes', () => {
    expect(percentOf(999, 1000)).toBe(99);
    expect(percentOf(0, 0)).toBe(0);
    expect(levelOf(800, 1000, [50, 80, 100])).toBe(80);
    expect(levelOf(799, 1000, [50, 80, 100])).toBe(50);
    expect(levelOf(0, 0, [50, 100])).toBe(0);
    expect(parseBytes('100M')).toBe(100 * 2 ** 20);
    expect(parseBytes('2KiB')).toBe(2048);
    expect(parseBytes('12')).toBe(12);
    expect(parseBytes('lots')).toBeNull();
  });
});
