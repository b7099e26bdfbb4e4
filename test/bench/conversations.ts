// `npm run bench -- --only conversations`: stored conversations (issue 11, H1/A2), in-process against a
// temporary data folder. Prints figures and a RESULT line; asserts nothing about time.
//
// 1. store: messages/s appended through ConversationStore (sealed with AES-256-GCM, FTS5-indexed,
//    each in the write queue's group commit), 64 appends in flight.
// 2. search: BENCH_CONVERSATION_MESSAGES (1,000,000) messages seeded in one transaction per 10,000,
//    sealed the same way (checked by reading some back through the store), then p50/p99 of typical
//    console searches (ConversationSearch, the query the admin API runs).
// 3. export: a 10,000-message conversation exported by ExportJobs in each format (time and size).
// BENCH_CONVERSATION_PARTS=store (comma-separated: store,search,export; default all) runs only those parts.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '../../appliance/src/store/data-source.js';
import { MessageCipher } from '../../appliance/src/im/deferred/message-cipher.js';
import { ConversationStore } from '../../appliance/src/history/conversation-store.js';
import { ConversationSearch, type ConversationFilter } from '../../appliance/src/history/conversation-search.js';
import { EXPORT_DEFAULTS, ExportJobs } from '../../appliance/src/history/export-jobs.js';
import type { ConversationRow } from '../../appliance/src/store/entities.js';

const TOTAL = Number(process.env.BENCH_CONVERSATION_MESSAGES ?? 1_000_000);
const USERS = 1000;
const CONVERSATIONS = 10_000;
const BATCH = 10_000;
const YEAR_MS = 365 * 86_400_000;
const T0 = Date.UTC(2025, 0, 1);
const DOMAIN = 'bench.test';
const aor = (i: number) => `sip:user${i}@${DOMAIN}`;

// a deterministic generator, so every run seeds the same words
// (mulberry32: 32-bit integer arithmetic, no loss of precision)
let seed = 42;
function rnd(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const VOCABULARY = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}x`);
/** words seeded at known rates: rare 0.01%, medium 1%, common 10% of messages */
const MARKERS = [['zanzibar', 0.0001], ['budget', 0.01], ['meeting', 0.1]] as const;
function text(): string {
  const words = Array.from({ length: 6 + Math.floor(rnd() * 14) }, () => VOCABULARY[Math.floor(rnd() ** 2 * VOCABULARY.length)]);
  for (const [w, p] of MARKERS) if (rnd() < p) words.splice(Math.floor(rnd() * words.length), 0, w);
  return words.join(' ');
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const dir = mkdtempSync(path.join(os.tmpdir(), 'parley-bench-conversations-'));
const ds = await openStore(dir);
const cipher = MessageCipher.loadOrCreate(dir);
const store = new ConversationStore(ds, cipher, { keywordIndex: true });
const result: Record<string, unknown> = {};
const PARTS = new Set((process.env.BENCH_CONVERSATION_PARTS ?? 'store,search,export').split(',').map((p) => p.trim()));

try {
  // 1. appends through the store
  if (PARTS.has('store')) {
    const c = await store.start(aor(0), 'pager', `pager:${aor(1)}`, [aor(1)], 'append bench');
    const n = Number(process.env.BENCH_CONVERSATION_APPENDS ?? 5000);
    let next = 0;
    const cpu = process.cpuUsage();
    const start = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < n) {
          next++;
          await store.append(c, { sender: aor(0), recipients: [aor(1)], contentType: 'text/plain', body: Buffer.from(text()) });
        }
      }),
    );
    const perSecond = n / ((performance.now() - start) / 1000);
    const used = process.cpuUsage(cpu);
    // the process's user+system CPU over the appends (this process is the store: no SIP, no other work)
    const cpuPer1000 = (used.user + used.system) / 1e6 / (n / 1000);
    console.log(`store: ${n} messages appended through ConversationStore (sealed, indexed, 64 in flight): ${perSecond.toFixed(0)} messages/s, ${cpuPer1000.toFixed(3)} CPU-s per 1,000`);
    result.store = { messages: n, perSecond, cpuPer1000 };
    await store.remove(c.publicId);
  }

  // 2. seed TOTAL messages, one transaction per 10,000, multi-row INSERTs
  const conversations: { id: number; publicId: string; owner: number; peer: number }[] = [];
  if (PARTS.has('search')) {
    const start = performance.now();
    await ds.transaction(async (em) => {
      for (let i = 0; i < CONVERSATIONS; i += 500) {
        const values: unknown[] = [];
        for (let k = i; k < Math.min(i + 500, CONVERSATIONS); k++) {
          const owner = k % USERS;
          const peer = (owner + 1 + Math.floor(rnd() * (USERS - 1))) % USERS;
          const c = { id: 1000 + k, publicId: `bench${k.toString(36).padStart(8, '0')}`, owner, peer };
          values.push(c.id, c.publicId, aor(owner), `pager:${aor(peer)}`, `Chat ${k}`, JSON.stringify([aor(peer)]), T0);
          conversations.push(c);
        }
        await em.query(
          `INSERT INTO conversations (id, public_id, owner, kind, capture_key, name, peers, recording, created_at, first_at, last_at, message_count, bytes) VALUES ${Array(values.length / 7).fill("(?, ?, ?, 'pager', ?, ?, ?, 0, ?, 0, 0, 0, 0)").join(', ')}`,
          values,
        );
      }
    });
    const ROWS = 500;
    for (let done = 0; done < TOTAL; done += BATCH) {
      await ds.transaction(async (em) => {
        for (let b = 0; b < BATCH && done + b < TOTAL; b += ROWS) {
          const messages: unknown[] = [];
          const index: unknown[] = [];
          const n = Math.min(ROWS, TOTAL - done - b);
          const first = (await em.query('SELECT COALESCE(MAX(id), 0) AS id FROM conversation_messages'))[0].id as number;
          for (let k = 0; k < n; k++) {
            const c = conversations[Math.floor(rnd() * CONVERSATIONS)];
            const body = text();
            const plain = Buffer.from(body);
            const fromOwner = rnd() < 0.5;
            messages.push(first + k + 1, c.id, aor(fromOwner ? c.owner : c.peer), JSON.stringify([aor(fromOwner ? c.peer : c.owner)]), 'text/plain', cipher.encrypt(plain, `conversation:${c.publicId}`), plain.length, T0 + Math.floor(((done + b + k) / TOTAL) * YEAR_MS));
            index.push(first + k + 1, body);
          }
          await em.query(`INSERT INTO conversation_messages (id, conversation_id, sender, recipients, content_type, body, bytes, stored_at) VALUES ${Array(n).fill('(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`, messages);
          await em.query(`INSERT INTO conversation_fts (rowid, body) VALUES ${Array(n).fill('(?, ?)').join(', ')}`, index);
        }
      });
      if ((done / BATCH) % 10 === 9) process.stdout.write(`  seeded ${done + BATCH} …\n`);
    }
    await ds.query(`UPDATE conversations SET message_count = s.n, bytes = s.b, first_at = s.f, last_at = s.l FROM
      (SELECT conversation_id AS cid, COUNT(*) AS n, SUM(bytes) AS b, MIN(stored_at) AS f, MAX(stored_at) AS l FROM conversation_messages GROUP BY conversation_id) s WHERE conversations.id = s.cid`);
    await ds.query('ANALYZE');
    const seconds = (performance.now() - start) / 1000;
    // the seeded bodies open through the store: the same sealing as append
    const probe = (await store.get(conversations[Math.floor(rnd() * CONVERSATIONS)].publicId))!;
    const opened = await store.messages(probe, 0, 3);
    if (opened.length === 0 || !opened.every((m) => /^[\w ]+$/.test(m.body.toString()))) throw new Error(`seeded bodies do not open through ConversationStore: ${JSON.stringify(opened.map((m) => m.body.toString()))}`);
    console.log(`seed: ${TOTAL} messages in ${CONVERSATIONS} conversations of ${USERS} users, ${seconds.toFixed(1)} s (${(TOTAL / seconds).toFixed(0)} messages/s, batches of ${BATCH}), database ${(statSync(path.join(dir, 'parley.sqlite')).size / 2 ** 20).toFixed(0)} MiB`);
    result.seed = { messages: TOTAL, seconds };
  }

  // typical console searches, each timed 20 times (first page of 50, with the total)
  if (PARTS.has('search')) {
    const search = new ConversationSearch(ds);
    const month = (m: number) => ({ from: T0 + m * 30 * 86_400_000, to: T0 + (m + 1) * 30 * 86_400_000 });
    const queries: [string, ConversationFilter][] = [
      ['keyword, rare (0.01%)', { keyword: 'zanzibar' }],
      ['keyword, 1%', { keyword: 'budget' }],
      ['keyword, 10%', { keyword: 'meeting' }],
      ['two keywords', { keyword: 'budget meeting' }],
      ['prefix keyword', { keyword: 'budg*' }],
      ['participant', { participant: aor(17) }],
      ['participant + keyword', { participant: aor(17), keyword: 'meeting' }],
      ['peer + keyword 1%', { peer: aor(23), keyword: 'budget' }],
      ['one month', month(5)],
      ['keyword 10% + one month', { keyword: 'meeting', ...month(5) }],
      ['no filter', {}],
    ];
    const all: number[] = [];
    const rows: Record<string, { p50: number; p99: number; total: number }> = {};
    for (const [name, f] of queries) {
      const times: number[] = [];
      let total = 0;
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        total = (await search.search(f, 1, 50)).total;
        times.push(performance.now() - t);
      }
      all.push(...times);
      rows[name] = { p50: pct(times, 50), p99: pct(times, 99), total };
      console.log(`search: ${name.padEnd(26)} p50 ${pct(times, 50).toFixed(1).padStart(7)} ms  p99 ${pct(times, 99).toFixed(1).padStart(7)} ms  (${total} conversations)`);
    }
    console.log(`search: all typical queries      p50 ${pct(all, 50).toFixed(1).padStart(7)} ms  p99 ${pct(all, 99).toFixed(1).padStart(7)} ms`);
    result.search = { queries: rows, p50: pct(all, 50), p99: pct(all, 99) };
  }

  // 3. a 10,000-message conversation, exported in each format
  if (PARTS.has('export')) {
    const c = await store.start(aor(1), 'pager', `pager:${aor(2)}`, [aor(2)], 'Export bench');
    const n = 10_000;
    await Promise.all(Array.from({ length: 64 }, async (_, w) => {
      for (let i = w; i < n; i += 64) await store.append(c, { sender: aor(i % 2 ? 1 : 2), recipients: [aor(i % 2 ? 2 : 1)], contentType: 'text/plain', body: Buffer.from(`${text()} "quoted", <b>${i}</b>`) });
    }));
    const row = (await store.get(c.publicId)) as ConversationRow;
    const jobs = new ExportJobs(ds, store, { ...EXPORT_DEFAULTS, maxJobs: 10 });
    const out: Record<string, { seconds: number; bytes: number }> = {};
    for (const format of ['json', 'csv', 'html'] as const) {
      const start = performance.now();
      const started = await jobs.start(row, format, 'bench');
      let job = started;
      while (job.state === 'running') {
        await new Promise((r) => setTimeout(r, 5));
        job = (await jobs.get(started.id))!;
      }
      const seconds = (performance.now() - start) / 1000;
      const bytes = job.bytes;
      if (job.state !== 'done' || job.done !== n) throw new Error(`export ${format}: ${job.state} ${job.done}/${n} ${job.error}`);
      out[format] = { seconds, bytes };
      console.log(`export: ${n} messages as ${format.padEnd(4)} ${seconds.toFixed(2)} s, ${(bytes / 2 ** 20).toFixed(1)} MiB`);
    }
    jobs.close();
    result.export = out;
  }
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  await ds.destroy();
  rmSync(dir, { recursive: true, force: true });
}
