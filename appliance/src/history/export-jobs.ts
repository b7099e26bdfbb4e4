import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, rmSync, type ReadStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import type { ConversationRow } from '../store/entities.js';
import type { ConversationStore } from './conversation-store.js';
import { exportWriter, type ExportFormat } from './export-formats.js';

/** One export job, as the node that runs it knows it. */
export interface ExportJob {
  id: string;
  conversation: string;
  format: ExportFormat;
  /** the console account that started it (only it may poll and download) */
  actor: string;
  state: 'running' | 'done' | 'failed';
  done: number;
  total: number;
  filename: string;
  contentType: string;
  error: string | null;
  createdAt: number;
  expiresAt: number | null;
}

export interface ExportJobsOptions {
  /** where the files are written (emptied at start: a job does not outlive its node) */
  dir: string;
  /** how long a finished file stays downloadable */
  ttlMs: number;
  /** jobs kept at once (running and finished); more are refused until some expire */
  maxJobs: number;
  /** messages read (and opened) per batch */
  batch: number;
}

export const EXPORT_DEFAULTS = { ttlMs: 60 * 60_000, maxJobs: 50, batch: 500 };

/** Too many jobs at once (the API answers 429). */
export class TooManyExportsError extends Error {
  constructor(max: number) {
    super(`at most ${max} exports at a time; wait for one to expire`);
    this.name = 'TooManyExportsError';
  }
}

/**
 * Conversation exports as background jobs owned by this node (A2): each writes its file in
 * `dir`, batch by batch through the store (opened, never held whole in memory), counting the
 * messages done for the console to poll. Jobs live in memory: a restart forgets them and their
 * files, and behind a load balancer the console must poll and download from the node that
 * started the job (docs/architecture.md says why that is enough, and what a shared table would add).
 * Files are 0600 and deleted `ttlMs` after they are finished, since they hold opened bodies.
 */
export class ExportJobs {
  private readonly jobs = new Map<string, ExportJob>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: ConversationStore,
    private readonly opts: ExportJobsOptions,
  ) {
    rmSync(opts.dir, { recursive: true, force: true });
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    this.timer = setInterval(() => this.sweep(), Math.min(opts.ttlMs, 60_000));
    this.timer.unref();
  }

  /** Starts exporting `c`; the job runs in the background. Throws TooManyExportsError. */
  start(c: ConversationRow, format: ExportFormat, actor: string, now = Date.now()): ExportJob {
    this.sweep(now);
    if (this.jobs.size >= this.opts.maxJobs) throw new TooManyExportsError(this.opts.maxJobs);
    const writer = exportWriter(format, c, now);
    const stamp = new Date(now).toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
    const job: ExportJob = {
      id: randomBytes(12).toString('base64url'),
      conversation: c.publicId,
      format,
      actor,
      state: 'running',
      done: 0,
      total: c.messageCount,
      filename: `conversation-${c.publicId}-${stamp}.${writer.extension}`,
      contentType: writer.contentType,
      error: null,
      createdAt: now,
      expiresAt: null,
    };
    this.jobs.set(job.id, job);
    void this.run(job, c);
    return job;
  }

  get(id: string): ExportJob | undefined {
    return this.jobs.get(id);
  }

  /** The finished file of a job, to stream to the client. */
  open(job: ExportJob): ReadStream {
    return createReadStream(this.fileOf(job));
  }

  /** Forgets expired jobs and deletes their files. */
  sweep(now = Date.now()): void {
    for (const job of this.jobs.values()) {
      if (job.expiresAt !== null && job.expiresAt <= now) {
        this.jobs.delete(job.id);
        rmSync(this.fileOf(job), { force: true });
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
  }

  private fileOf(job: ExportJob): string {
    return path.join(this.opts.dir, `${job.id}.${job.format}`);
  }

  private async run(job: ExportJob, c: ConversationRow): Promise<void> {
    const out = createWriteStream(this.fileOf(job), { mode: 0o600 });
    const write = async (chunk: string) => {
      // backpressure: wait for the file to take what it has before opening more messages
      if (!out.write(chunk)) await once(out, 'drain');
    };
    try {
      const writer = exportWriter(job.format, c, job.createdAt);
      await write(writer.head());
      // the messages stored when the job started: a conversation still recording may grow meanwhile
      let after = 0;
      while (job.done < job.total) {
        const page = await this.store.messages(c, after, Math.min(this.opts.batch, job.total - job.done));
        if (page.length === 0) break;
        for (const m of page) await write(writer.message(m, job.done++));
        after = page[page.length - 1].id;
      }
      // a conversation deleted meanwhile ends the export with what was read
      job.total = job.done;
      await write(writer.tail());
      await finish(out);
      job.state = 'done';
    } catch (err) {
      out.destroy();
      job.state = 'failed';
      job.error = err instanceof Error ? err.message : String(err);
    }
    job.expiresAt = Date.now() + this.opts.ttlMs;
  }
}

function finish(out: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    out.once('error', reject);
    out.end(resolve);
  });
}
