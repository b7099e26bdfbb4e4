// The storage-quota part of `npm run bench` (run by run.mjs through tsx): usage computation for a
// user with 100,000 stored messages — the ledger read (what every admission, the XCAP quota
// document and the console read) against the recount that scans the stored data (the repair
// path). Prints figures, and `RESULT {json}` on the last line; asserts nothing.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { tempStore } from '../support/temp-store.js';
import { StorageQuota } from '../../appliance/src/quota/storage-quota.js';
import { quotaDocument } from '../../appliance/src/quota/quota-document.js';
import { LocalDomain } from '../../appliance/src/core/local-domain.js';

const MESSAGES = Number(process.env.BENCH_QUOTA_MESSAGES ?? 100_000);
const D = 'bench.test';
const OWNER = `sip:heavy@${D}`;

const temp = await tempStore('quota-bench');
const ds = temp.ds;
const domain = new LocalDomain(D, []);
const options = { defaultBytes: 2 ** 30, warnAt: [80, 95], serviceAor: `sip:storage@${D}`, domain };
try {
  // the data: one conversation of MESSAGES sealed-size bodies (random bytes stand for the sealed text), 10 other users with 100 each
  const fill = performance.now();
  await ds.transaction(async (em) => {
    const insertConversation = async (owner: string): Promise<number> => {
      await em.query(
        `INSERT INTO conversations (public_id, owner, kind, capture_key, name, peers, recording, created_at, first_at, last_at, message_count, bytes) VALUES (?, ?, 'pager', ?, 'bench', '[]', 0, 0, 0, 0, 0, 0)`,
        [randomBytes(12).toString('base64url'), owner, `pager:${owner}`],
      );
      const r = (await em.query('SELECT last_insert_rowid() AS id')) as { id: number }[];
      return Number(r[0].id);
    };
    const insertMessages = async (conversation: number, n: number): Promise<void> => {
      for (let i = 0; i < n; i += 500) {
        const rows = Math.min(500, n - i);
        const values: unknown[] = [];
        for (let j = 0; j < rows; j++) {
          const size = 40 + ((i + j) % 200);
          values.push(conversation, OWNER, '[]', 'text/plain', randomBytes(size + 28), size, Date.now());
        }
        await em.query(`INSERT INTO conversation_messages (conversation_id, sender, recipients, content_type, body, bytes, stored_at) VALUES ${Array(rows).fill('(?,?,?,?,?,?,?)').join(',')}`, values);
      }
    };
    await insertMessages(await insertConversation(OWNER), MESSAGES);
    for (let u = 0; u < 10; u++) await insertMessages(await insertConversation(`sip:user${u}@${D}`), 100);
  });
  console.log(`filled ${MESSAGES} messages in ${((performance.now() - fill) / 1000).toFixed(1)} s`);

  const quota = new StorageQuota(ds, options);
  await quota.load();
  // the repair path: the recount scans the user's stored messages
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await quota.recount('heavy');
    times.push(performance.now() - t);
  }
  const recountUser = Math.min(...times);
  const tAll = performance.now();
  await quota.recount();
  const recountAll = performance.now() - tAll;

  // the ledger: loaded once at start, then read from memory
  const tLoad = performance.now();
  const fresh = new StorageQuota(ds, options);
  await fresh.load();
  const load = performance.now() - tLoad;
  const READS = 100_000;
  const tRead = performance.now();
  let sum = 0;
  for (let i = 0; i < READS; i++) sum += fresh.usage('heavy').usedBytes;
  const readUs = ((performance.now() - tRead) * 1000) / READS;
  const tDoc = performance.now();
  for (let i = 0; i < 10_000; i++) quotaDocument(fresh.usage('heavy'), fresh.levels);
  const docUs = ((performance.now() - tDoc) * 1000) / 10_000;
  const usage = fresh.usage('heavy');
  if (sum !== usage.usedBytes * READS) throw new Error('the ledger changed while read');

  console.log(`user with ${MESSAGES} stored messages (${usage.usedBytes} bytes):`);
  console.log(`  ledger read (memory): ${(readUs * 1000).toFixed(0)} ns; quota document: ${docUs.toFixed(1)} µs; ledger load at start: ${load.toFixed(1)} ms`);
  console.log(`  recount from the data: ${recountUser.toFixed(1)} ms for the user (best of 5); ${recountAll.toFixed(1)} ms for every user`);
  console.log(`RESULT ${JSON.stringify({ messages: MESSAGES, bytes: usage.usedBytes, ledgerReadNs: readUs * 1000, documentUs: docUs, ledgerLoadMs: load, recountUserMs: recountUser, recountAllMs: recountAll })}`);
} finally {
  await temp.cleanup();
}
