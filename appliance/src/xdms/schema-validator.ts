import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Logger } from '../log.js';

/** The folder of XSD copies (appliance/schemas), the same from src/ and dist/. */
const SCHEMA_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../schemas');

/** Network schema locations mapped to the local copies, as an XML catalog would (no fetches, ever). */
const CATALOG: [string, string][] = [
  ['http://www.w3.org/2001/xml.xsd', 'xml.xsd'],
  ['http://www.w3.org/2001/03/xml.xsd', 'xml.xsd'],
];

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

/** What the worker is asked to do (schema-validator-worker.ts). */
interface Request {
  kind: 'parley-validate';
  id: number;
  schema: string;
  files: { fileName: string; contents: string }[];
}

interface Job {
  request: Request;
  resolve(r: ValidationResult): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** One worker and the validations it holds; the slot outlives the worker when it is replaced. */
interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
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
      const slot: Slot = { worker: null as unknown as Worker, jobs: new Map() };
      this.slots.push(slot);
      this.start(slot);
    }
  }

  private start(slot: Slot): void {
    const w = this.spawnWorker();
    w.unref();
    slot.worker = w;
    w.on('message', (m: { kind: string; id: number; code: number; stderr: string }) => {
      if (m.kind !== 'parley-validated') return;
      const job = slot.jobs.get(m.id);
      if (!job) return;
      this.settle(slot, m.id, job);
      // xmllint exit codes: 0 valid, 3/4 invalid, anything else a failure to run
      if (m.code === 0) job.resolve({ valid: true, errors: [] });
      else if (m.code === 3 || m.code === 4) job.resolve({ valid: false, errors: errorsOf(m.stderr) });
      else job.reject(new Error(`schema validation could not run (${m.code}): ${m.stderr.slice(0, 300)}`));
    });
    w.on('error', (err) => this.crashed(slot, w, err.message));
    w.on('exit', (code) => this.crashed(slot, w, `exited with code ${code}`));
  }

  private settle(slot: Slot, id: number, job: Job): void {
    clearTimeout(job.timer);
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
    this.log?.warn({ timeoutMs: this.timeoutMs, schema: job.request.schema }, 'schema validation timed out; replacing its worker');
    const old = slot.worker;
    this.start(slot);
    void old.terminate();
    // the time they spent queued behind the stuck one was not theirs: a fresh deadline each
    for (const [otherId, other] of slot.jobs) {
      clearTimeout(other.timer);
      other.timer = this.deadline(slot, otherId);
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
    const files = [{ fileName: 'document.xml', contents: xml }, ...(main ? [main] : []), ...schemas.map((f) => ({ fileName: f, contents: readSchema(f) }))];
    const request: Request = { kind: 'parley-validate', id, schema: main?.fileName ?? schemas[0], files };
    return new Promise((resolve, reject) => {
      slot.jobs.set(id, { request, resolve, reject, timer: this.deadline(slot, id) });
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

const schemaTexts = new Map<string, string>();

/**
 * <xs:annotation> elements (any prefix), which say nothing to a validator (XSD 1.0 §3.13):
 * xmllint parses the schemas on every validation, and xml.xsd is 8.8 kB of which 1.1 kB is not prose.
 */
const ANNOTATION = /<([A-Za-z_][\w.-]*:)?annotation\b[^>]*?(\/>|>[\s\S]*?<\/\1annotation\s*>)/g;

/**
 * The text of a schema file of appliance/schemas as the validator uses it:
 * network locations mapped to the local copies, annotations left out.
 */
export function readSchema(file: string): string {
  let text = schemaTexts.get(file);
  if (text === undefined) {
    text = readFileSync(path.join(SCHEMA_DIR, file), 'utf8').replace(ANNOTATION, '');
    for (const [from, to] of CATALOG) text = text.replaceAll(`schemaLocation="${from}"`, `schemaLocation="${to}"`);
    schemaTexts.set(file, text);
  }
  return text;
}

function errorsOf(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.includes('error') && !l.endsWith('fails to validate'))
    .map((l) => l.replace(/^document\.xml:\d+: /, '').trim());
}
