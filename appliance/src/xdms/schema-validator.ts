import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { ValidateReply, ValidateRequest } from './schema-validator-protocol.js';

export { readSchema } from './schema-files.js';

export interface ValidationResult {
  valid: boolean;
  /** libxml2's messages, without the file-name prefix */
  errors: string[];
}

/** A validation that did not finish within `timeoutMs`: its worker was replaced. Worth a retry later (503). */
export class ValidationTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`schema validation timed out after ${timeoutMs} ms`);
    this.name = 'ValidationTimeoutError';
  }
}

/** The worker that held a validation exited or failed; it was replaced (500). */
export class ValidatorCrashError extends Error {
  constructor(reason: string) {
    super(`schema validation worker failed: ${reason}`);
    this.name = 'ValidatorCrashError';
  }
}

export interface SchemaValidatorOptions {
  /** worker threads (default 1) */
  size?: number;
  /** a validation not answered by then is failed and its worker replaced (default 10 s) */
  timeoutMs?: number;
  log?: Logger;
  /** how a worker is started (tests start stand-ins) */
  spawn?: () => Worker;
}

interface Job {
  request: ValidateRequest;
  resolve(r: ValidationResult): void;
  reject(e: Error): void;
  /** null until the slot's worker is running: its start-up is not the validation's time */
  timer: NodeJS.Timeout | null;
}

/** One worker and the validations it holds; the slot outlives the worker when it is replaced. */
interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
  /** the worker has started running (its 'online' event): deadlines run from then */
  online: boolean;
}

const defaultSpawn = (): Worker => new Worker(new URL('./schema-validator-worker.js', import.meta.url));

/**
 * Validates XML documents against the application usages' XSDs (X1, X2) in
 * worker threads, so a validation never blocks the SIP event loop. Every
 * validation settles: a worker that exits or errors is replaced and what it held
 * is rejected (ValidatorCrashError); a validation that takes longer than the
 * timeout is rejected (ValidationTimeoutError) and its worker is terminated and
 * replaced, the other validations it held being handed to the new one.
 */
export class SchemaValidator {
  private readonly slots: Slot[] = [];
  private readonly timeoutMs: number;
  private readonly spawnWorker: () => Worker;
  private readonly log?: Logger;
  private next = 0;
  private closed = false;

  constructor(opts: SchemaValidatorOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.spawnWorker = opts.spawn ?? defaultSpawn;
    this.log = opts.log;
    for (let i = 0; i < (opts.size ?? 1); i++) {
      const slot: Slot = { worker: null as unknown as Worker, jobs: new Map(), online: false };
      this.slots.push(slot);
      this.start(slot);
    }
  }

  private start(slot: Slot): void {
    const w = this.spawnWorker();
    w.unref();
    slot.worker = w;
    slot.online = false;
    // A thread's start-up is not a validation's time: on a loaded machine (two CI runs on two
    // cores) a new worker took longer than a 200 ms timeout to start, and the validation handed to
    // it after a timeout failed too. What was posted meanwhile gets its deadline now; a worker
    // that fails to start says so by 'error' or 'exit'.
    w.once('online', () => {
      if (slot.worker !== w) return;
      slot.online = true;
      for (const [id, job] of slot.jobs) job.timer ??= this.deadline(slot, id);
    });
    w.on('message', (m: ValidateReply) => {
      if (m.kind !== 'parley-validated') return;
      const job = slot.jobs.get(m.id);
      if (!job) return;
      this.settle(slot, m.id, job);
      if (m.failure !== undefined) job.reject(new Error(`schema validation could not run: ${m.failure}`));
      else job.resolve({ valid: m.valid, errors: m.errors });
    });
    w.on('error', (err) => this.crashed(slot, w, err.message));
    w.on('exit', (code) => this.crashed(slot, w, `exited with code ${code}`));
  }

  private settle(slot: Slot, id: number, job: Job): void {
    if (job.timer !== null) clearTimeout(job.timer);
    slot.jobs.delete(id);
  }

  /** The worker died under its validations: they fail (which document did it is unknown); a new worker takes the slot. */
  private crashed(slot: Slot, w: Worker, reason: string): void {
    if (slot.worker !== w || this.closed) return; // a worker we retired ourselves
    this.log?.error({ reason, held: slot.jobs.size }, 'schema validation worker failed; replacing it');
    const held = [...slot.jobs];
    for (const [id, job] of held) this.settle(slot, id, job);
    this.start(slot);
    for (const [, job] of held) job.reject(new ValidatorCrashError(reason));
  }

  /** One validation took too long: it fails, its worker is terminated, the validations queued behind it move to a new worker. */
  private timedOut(slot: Slot, id: number): void {
    const job = slot.jobs.get(id);
    if (!job) return;
    this.settle(slot, id, job);
    this.log?.warn({ timeoutMs: this.timeoutMs, schema: job.request.main?.fileName ?? job.request.schemas[0] }, 'schema validation timed out; replacing its worker');
    const old = slot.worker;
    this.start(slot);
    void old.terminate();
    // the time they spent queued behind the stuck one was not theirs: a fresh deadline each,
    // from when the new worker runs
    for (const other of slot.jobs.values()) {
      if (other.timer !== null) clearTimeout(other.timer);
      other.timer = null;
      slot.worker.postMessage(other.request);
    }
    job.reject(new ValidationTimeoutError(this.timeoutMs));
  }

  private deadline(slot: Slot, id: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.timedOut(slot, id), this.timeoutMs);
    timer.unref();
    return timer;
  }

  /**
   * Validates `xml` against `schemas[0]`, which may import or include the others;
   * or, given `main` (a schema generated for one element, subtree-schema.ts),
   * against that, which includes some of `schemas`.
   */
  validate(xml: string, schemas: readonly string[], main?: { fileName: string; contents: string }): Promise<ValidationResult> {
    if (this.closed) return Promise.reject(new Error('the schema validator is closed'));
    const id = this.next++;
    const slot = this.slots[id % this.slots.length];
    // file names only: the worker reads and compiles each schema once (schema-validator-worker.ts)
    const request: ValidateRequest = { kind: 'parley-validate', id, xml, schemas, ...(main ? { main } : {}) };
    return new Promise((resolve, reject) => {
      slot.jobs.set(id, { request, resolve, reject, timer: slot.online ? this.deadline(slot, id) : null });
      slot.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const slot of this.slots) {
      for (const [id, job] of [...slot.jobs]) {
        this.settle(slot, id, job);
        job.reject(new Error('the schema validator is closed'));
      }
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
