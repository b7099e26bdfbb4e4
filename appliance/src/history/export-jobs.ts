import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { LessThan, LessThanOrEqual, type DataSource, type EntityManager, type Repository } from 'typeorm';
import { ExportChunkEntity, ExportJobEntity, type ConversationRow, type ExportJobRow } from '../store/entities.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';
import type { Logger } from '../log.js';
import type { ConversationStore } from './conversation-store.js';
import { exportWriter, type ExportFormat } from './export-formats.js';

/** One export job, as every node reads it from the store. */
export interface ExportJob {
  id: string;
  conversation: string;
  format: ExportFormat;
  /** the console account that started it (only it may poll and download) */
  actor: string;
  state: 'running' | 'done' | 'failed';
  done: number;
  total: number;
  /** output bytes written */
  bytes: number;
  filename: string;
  contentType: string;
  error: string | null;
  createdAt: number;
  expiresAt: number | null;
}

export interface ExportJobsOptions {
  /** how long a finished job and its output stay downloadable */
  ttlMs: number;
  /** jobs kept at once (running and finished, all nodes); more are refused until some expire */
  maxJobs: number;
  /** messages read (and opened) per batch */
  batch: number;
  /** output bytes per `export_chunks` row */
  chunkBytes: number;
  /** a running job whose node gave no sign of life for this long is failed (its node stopped) */
  staleMs: number;
  /** where an earlier version wrote export files: deleted at start, as they hold opened bodies */
  legacyDir?: string;
}

export const EXPORT_DEFAULTS = { ttlMs: 60 * 60_000, maxJobs: 50, batch: 500, chunkBytes: 256 * 1024, staleMs: 15_000 };

/** How often a node stamps its running jobs (well inside `staleMs`). */
const HEARTBEAT_MS = 5_000;

/** Too many jobs at once (the API answers 429). */
export class TooManyExportsError extends Error {
  constructor(max: number) {
    super(`at most ${max} exports at a time; wait for one to expire`);
    this.name = 'TooManyExportsError';
  }
}

/**
 * Conversation exports as background jobs kept in the store (A2), so that any node answers a
 * job's progress and serves its download, and a restart forgets nothing. The job is a row of
 * `export_jobs`; its output is written, as the node running it produces it, into `export_chunks`
 * rows of about `chunkBytes` each, in order. Chunks rather than one blob per job: a blob would be
 * built whole in memory (neither SQLite nor PostgreSQL appends to one in place) and read whole to
 * serve it, where chunks keep one piece in memory on either side, and each is a short write that
 * does not hold the store's write lock for a whole export.
 *
 * The node running a job stamps it every few seconds; a running job left unstamped for `staleMs`
 * (its node stopped or restarted mid-export) is marked failed when it is next read or swept, and
 * the console can start it again. Finished jobs and their chunks are deleted `ttlMs` after they
 * end, since the output holds opened message bodies.
 */
export class ExportJobs {
  private readonly jobs: Repository<ExportJobRow>;
  private readonly writes: WriteQueue;
  /** jobs this node runs now (for the heartbeat) */
  private readonly running = new Set<string>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly ds: DataSource,
    private readonly store: ConversationStore,
    private readonly opts: ExportJobsOptions,
    private readonly log?: Logger,
  ) {
    this.jobs = ds.getRepository(ExportJobEntity);
    this.writes = writesOf(ds);
    if (opts.legacyDir !== undefined) rmSync(opts.legacyDir, { recursive: true, force: true });
    this.sweeper = setInterval(() => void this.sweep().catch((err: unknown) => this.log?.warn({ err }, 'export sweep failed')), Math.min(opts.ttlMs, 60_000));
    this.sweeper.unref();
    this.heartbeat = setInterval(() => void this.beat(), Math.min(HEARTBEAT_MS, opts.staleMs / 3));
    this.heartbeat.unref();
  }

  /** Starts exporting `c`; the job runs in the background on this node. Throws TooManyExportsError. */
  async start(c: ConversationRow, format: ExportFormat, actor: string, now = Date.now()): Promise<ExportJob> {
    await this.sweep(now);
    const writer = exportWriter(format, c, now);
    const stamp = new Date(now).toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
    const row: ExportJobRow = {
      id: randomBytes(12).toString('base64url'),
      conversation: c.publicId,
      format,
      actor,
      state: 'running',
      done: 0,
      total: c.messageCount,
      bytes: 0,
      chunks: 0,
      filename: `conversation-${c.publicId}-${stamp}.${writer.extension}`,
      contentType: writer.contentType,
      error: null,
      createdAt: now,
      heartbeatAt: now,
      expiresAt: null,
    };
    await this.writes.transaction(async (em) => {
      // inserted first, then counted in the same transaction: the write lock is taken before the
      // read, so concurrent starts (on any node) cannot both take the last place; over the limit,
      // the throw rolls the insert back
      await em.insert(ExportJobEntity, row);
      if ((await em.count(ExportJobEntity)) > this.opts.maxJobs) throw new TooManyExportsError(this.opts.maxJobs);
    });
    this.running.add(row.id);
    void this.run(row, c).finally(() => this.running.delete(row.id));
    return jobOf(row);
  }

  /** A job as the store has it (any node's); one whose node stopped mid-export is failed now. */
  async get(id: string, now = Date.now()): Promise<ExportJob | undefined> {
    const row = await this.jobs.findOneBy({ id });
    if (row === null || (row.expiresAt !== null && row.expiresAt <= now)) return undefined;
    // (a job this node runs is alive, however late its last stamp: its event loop was busy)
    if (row.state === 'running' && row.heartbeatAt < now - this.opts.staleMs && !this.running.has(id)) {
      await this.failStale(now);
      return this.get(id, now);
    }
    return jobOf(row);
  }

  /** A finished job's output, read from the store one chunk at a time. */
  open(job: ExportJob): Readable {
    const chunks = this.ds.getRepository(ExportChunkEntity);
    const id = job.id;
    return Readable.from(
      (async function* () {
        for (let seq = 0; ; seq++) {
          const chunk = await chunks.findOneBy({ jobId: id, seq });
          if (chunk === null) return;
          yield chunk.data;
        }
      })(),
      { objectMode: false },
    );
  }

  /** Deletes expired jobs with their output, and fails running jobs whose node stopped. */
  async sweep(now = Date.now()): Promise<void> {
    await this.failStale(now);
    await this.writes.transaction(async (em) => {
      const gone = await em.find(ExportJobEntity, { where: { expiresAt: LessThanOrEqual(now) }, select: { id: true } });
      for (const j of gone) await this.deleteOutput(em, j.id);
      if (gone.length > 0) await em.delete(ExportJobEntity, { expiresAt: LessThanOrEqual(now) });
    });
  }

  close(): void {
    clearInterval(this.sweeper);
    clearInterval(this.heartbeat);
  }

  private async failStale(now: number): Promise<void> {
    await this.writes.transaction(async (em) => {
      const stale = await em.find(ExportJobEntity, { where: { state: 'running', heartbeatAt: LessThan(now - this.opts.staleMs) }, select: { id: true } });
      for (const j of stale) {
        if (this.running.has(j.id)) continue;
        await this.deleteOutput(em, j.id);
        await em.update(ExportJobEntity, { id: j.id, state: 'running' }, { state: 'failed', error: 'interrupted: the node running it stopped; start the export again', expiresAt: now + this.opts.ttlMs });
      }
    });
  }

  private deleteOutput(em: EntityManager, jobId: string): Promise<unknown> {
    return em.delete(ExportChunkEntity, { jobId });
  }

  /** Stamps this node's running jobs: they are alive. */
  private async beat(): Promise<void> {
    const ids = [...this.running];
    if (ids.length === 0) return;
    try {
      await this.writes.transaction(async (em) => {
        for (const id of ids) await em.update(ExportJobEntity, { id, state: 'running' }, { heartbeatAt: Date.now() });
      });
    } catch (err) {
      this.log?.warn({ err }, 'export heartbeat failed');
    }
  }

  private async run(job: ExportJobRow, c: ConversationRow): Promise<void> {
    const pending: string[] = [];
    let pendingBytes = 0;
    /** Writes what is pending as the next chunk, with the progress; false when the job is no longer ours to run. */
    const flush = async (progress: Partial<ExportJobRow>): Promise<boolean> => {
      const data = pendingBytes > 0 ? Buffer.from(pending.join(''), 'utf8') : null;
      pending.length = 0;
      pendingBytes = 0;
      return this.writes.transaction(async (em) => {
        const seq = job.chunks;
        if (data !== null) {
          job.chunks++;
          job.bytes += data.length;
        }
        const { affected } = await em.update(ExportJobEntity, { id: job.id, state: 'running' }, { ...progress, done: job.done, bytes: job.bytes, chunks: job.chunks, heartbeatAt: Date.now() });
        if (affected === 0) return false;
        if (data !== null) await em.insert(ExportChunkEntity, { jobId: job.id, seq, data });
        return true;
      });
    };
    const write = async (piece: string): Promise<boolean> => {
      pending.push(piece);
      pendingBytes += Buffer.byteLength(piece);
      return pendingBytes < this.opts.chunkBytes || flush({});
    };
    try {
      const writer = exportWriter(job.format as ExportFormat, c, job.createdAt);
      if (!(await write(writer.head()))) return;
      // the messages stored when the job started: a conversation still recording may grow meanwhile
      let after = 0;
      while (job.done < job.total) {
        const page = await this.store.messages(c, after, Math.min(this.opts.batch, job.total - job.done));
        if (page.length === 0) break;
        for (const m of page) if (!(await write(writer.message(m, job.done++)))) return;
        after = page[page.length - 1].id;
        // the console polls progress: each page's count is in the store, with what is written so far
        if (!(await flush({}))) return;
      }
      // a conversation deleted meanwhile ends the export with what was read
      job.total = job.done;
      if (!(await write(writer.tail()))) return;
      await flush({ total: job.total, state: 'done', expiresAt: Date.now() + this.opts.ttlMs });
    } catch (err) {
      this.log?.warn({ err, job: job.id }, 'export failed');
      await this.writes
        .transaction(async (em) => {
          await this.deleteOutput(em, job.id);
          await em.update(ExportJobEntity, { id: job.id }, { state: 'failed', error: err instanceof Error ? err.message : String(err), expiresAt: Date.now() + this.opts.ttlMs });
        })
        .catch((e: unknown) => this.log?.warn({ err: e, job: job.id }, 'export failure not recorded'));
    }
  }
}

function jobOf(r: ExportJobRow): ExportJob {
  return {
    id: r.id,
    conversation: r.conversation,
    format: r.format as ExportFormat,
    actor: r.actor,
    state: r.state as ExportJob['state'],
    done: r.done,
    total: r.total,
    bytes: r.bytes,
    filename: r.filename,
    contentType: r.contentType,
    error: r.error,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
  };
}
