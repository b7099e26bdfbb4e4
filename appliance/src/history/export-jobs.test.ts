import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buffer } from 'node:stream/consumers';
import type { DataSource } from 'typeorm';
import { tempStore } from '../../../test/support/temp-store.js';
import { openStore } from '../store/data-source.js';
import { MessageCipher } from '../im/deferred/message-cipher.js';
import { ConversationStore } from './conversation-store.js';
import { EXPORT_DEFAULTS, ExportJobs, TooManyExportsError, type ExportJob } from './export-jobs.js';
import type { ConversationRow } from '../store/entities.js';

// two connections to one store file stand for two nodes: one runs the job, the other serves it
let temp: Awaited<ReturnType<typeof tempStore>>;
let other: DataSource;
let store: ConversationStore;
let conversation: ConversationRow;
const ALICE = 'sip:alice@parley.test';
const BOB = 'sip:bob@parley.test';
const MESSAGES = 120;

beforeAll(async () => {
  temp = await tempStore('export-jobs');
  other = await openStore(temp.dir);
  store = new ConversationStore(temp.ds, MessageCipher.loadOrCreate(temp.dir), { keywordIndex: false });
  conversation = await store.start(ALICE, 'pager', `pager:${BOB}`, [BOB], 'Chat with Bob');
  for (let i = 0; i < MESSAGES; i++) await store.append(conversation, { sender: ALICE, recipients: [BOB], contentType: 'text/plain', body: Buffer.from(`message ${i} ${'x'.repeat(200)}`) });
  conversation = (await store.get(conversation.publicId))!;
});
afterAll(async () => {
  await other.destroy();
  await temp.cleanup();
});

const options = { ...EXPORT_DEFAULTS, batch: 50, chunkBytes: 4096, maxJobs: 3 };

/** The job once it is no longer running (as `jobs` reads it from the store). */
async function finished(jobs: ExportJobs, id: string): Promise<ExportJob> {
  for (const end = Date.now() + 10_000; Date.now() < end; ) {
    const j = await jobs.get(id);
    if (j !== undefined && j.state !== 'running') return j;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`export ${id} still running after 10 s: ${JSON.stringify(await jobs.get(id))}`);
}

describe('export jobs in the store', () => {
  it('writes the output in chunks another node reads back whole, with the progress and size', async () => {
    const runner = new ExportJobs(temp.ds, store, options);
    const server = new ExportJobs(other, new ConversationStore(other, MessageCipher.loadOrCreate(temp.dir), { keywordIndex: false }), options);
    try {
      const started = await runner.start(conversation, 'csv', 'helpdesk');
      expect(started).toMatchObject({ state: 'running', done: 0, total: MESSAGES });
      const job = await finished(server, started.id);
      expect(job).toMatchObject({ state: 'done', done: MESSAGES, total: MESSAGES, actor: 'helpdesk' });
      const chunks = (await other.query('SELECT COUNT(*) AS n FROM export_chunks WHERE job_id = ?', [job.id])) as { n: number }[];
      expect(chunks[0].n).toBeGreaterThan(job.bytes / options.chunkBytes - 1);
      const bytes = await buffer(server.open(job));
      expect(bytes.length).toBe(job.bytes);
      const lines = bytes.toString('utf8').split('\r\n').filter((l) => l !== '');
      // a header row and one row per message, in order
      expect(lines).toHaveLength(MESSAGES + 1);
      expect(lines[1]).toContain('message 0 ');
      expect(lines[MESSAGES]).toContain(`message ${MESSAGES - 1} `);
    } finally {
      runner.close();
      server.close();
    }
  });

  it('fails a job whose node stopped mid-export, and deletes expired jobs with their output', async () => {
    const jobs = new ExportJobs(temp.ds, store, options);
    try {
      const now = Date.now();
      // a job left running by a node that stopped: no heartbeat for longer than staleMs
      await temp.ds.query(
        `INSERT INTO export_jobs (id, conversation, format, actor, state, done, total, bytes, chunks, filename, content_type, error, created_at, heartbeat_at, expires_at)
         VALUES ('orphan', ?, 'json', 'helpdesk', 'running', 10, ${MESSAGES}, 5, 1, 'x.json', 'application/json', NULL, ?, ?, NULL)`,
        [conversation.publicId, now - 60_000, now - options.staleMs - 1],
      );
      await temp.ds.query(`INSERT INTO export_chunks (job_id, seq, data) VALUES ('orphan', 0, X'7b7d')`);
      expect(await jobs.get('orphan', now)).toMatchObject({ state: 'failed', error: expect.stringMatching(/interrupted/) as unknown });
      expect(await temp.ds.query(`SELECT * FROM export_chunks WHERE job_id = 'orphan'`)).toEqual([]);

      const done = await finished(jobs, (await jobs.start(conversation, 'json', 'helpdesk')).id);
      await jobs.sweep(done.expiresAt! + 1);
      expect(await jobs.get(done.id)).toBeUndefined();
      expect(await temp.ds.query('SELECT job_id FROM export_chunks')).toEqual([]);
      expect(await temp.ds.query('SELECT id FROM export_jobs')).toEqual([]);
    } finally {
      jobs.close();
    }
  });

  it('refuses more than maxJobs at once, counted in the store for every instance', async () => {
    const jobs = new ExportJobs(temp.ds, store, options);
    // a second instance shares nothing in memory with the first: only the store counts for both
    // (on one connection: two connections of one process would wait for each other's write lock on
    // libuv's few threads, which two nodes, each its own process, do not share)
    const elsewhere = new ExportJobs(temp.ds, store, options);
    try {
      const results = await Promise.allSettled([jobs, elsewhere, jobs, elsewhere].map((j) => j.start(conversation, 'html', 'helpdesk')));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(options.maxJobs);
      expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason)).toEqual([expect.any(TooManyExportsError)]);
      for (const r of results) if (r.status === 'fulfilled') await finished(jobs, r.value.id);
    } finally {
      jobs.close();
      elsewhere.close();
    }
  });
});
