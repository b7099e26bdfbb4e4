import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

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

interface Pending {
  resolve(r: ValidationResult): void;
  reject(e: Error): void;
}

/**
 * Validates XML documents against the application usages' XSDs (X1, X2) in
 * worker threads, so a validation never blocks the SIP event loop.
 */
export class SchemaValidator {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly schemaFiles = new Map<string, string>();
  private next = 0;

  constructor(size = 1) {
    for (let i = 0; i < size; i++) this.workers.push(this.spawn());
  }

  private spawn(): Worker {
    const url = new URL('./schema-validator-worker.js', import.meta.url);
    const w = new Worker(url);
    w.unref();
    w.on('message', (m: { kind: string; id: number; code: number; stderr: string }) => {
      if (m.kind !== 'parley-validated') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      // xmllint exit codes: 0 valid, 3/4 invalid, anything else a failure to run
      if (m.code === 0) p.resolve({ valid: true, errors: [] });
      else if (m.code === 3 || m.code === 4) p.resolve({ valid: false, errors: errorsOf(m.stderr) });
      else p.reject(new Error(`schema validation could not run (${m.code}): ${m.stderr.slice(0, 300)}`));
    });
    w.on('error', (err) => {
      for (const [id, p] of this.pending) {
        p.reject(err);
        this.pending.delete(id);
      }
    });
    return w;
  }

  private schema(file: string): string {
    let text = this.schemaFiles.get(file);
    if (text === undefined) {
      text = readFileSync(path.join(SCHEMA_DIR, file), 'utf8');
      for (const [from, to] of CATALOG) text = text.replaceAll(`schemaLocation="${from}"`, `schemaLocation="${to}"`);
      this.schemaFiles.set(file, text);
    }
    return text;
  }

  /** Validates `xml` against `schemas[0]`, which may import or include the others. */
  validate(xml: string, schemas: readonly string[]): Promise<ValidationResult> {
    const id = this.next++;
    const worker = this.workers[id % this.workers.length];
    const files = [{ fileName: 'document.xml', contents: xml }, ...schemas.map((f) => ({ fileName: f, contents: this.schema(f) }))];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ kind: 'parley-validate', id, schema: schemas[0], files });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function errorsOf(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.includes('error') && !l.endsWith('fails to validate'))
    .map((l) => l.replace(/^document\.xml:\d+: /, '').trim());
}
