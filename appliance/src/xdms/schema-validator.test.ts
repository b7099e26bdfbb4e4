import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { SchemaValidator, ValidationTimeoutError, ValidatorCrashError } from './schema-validator.js';

/**
 * A stand-in for the validation worker, speaking its protocol: a document "hang"
 * keeps the thread busy for good (as a pathological schema run would), "crash"
 * ends the thread, anything else is valid.
 */
const STAND_IN = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => {
  const xml = m.xml;
  if (xml === 'hang') for (;;);
  if (xml === 'crash') process.exit(7);
  parentPort.postMessage({ kind: 'parley-validated', id: m.id, valid: true, errors: [] });
});`;

const SCHEMAS = ['resource-lists.xsd'];
let validator: SchemaValidator | null = null;
let workers: Worker[] = [];

function make(timeoutMs = 60_000): SchemaValidator {
  workers = [];
  validator = new SchemaValidator({
    timeoutMs,
    spawn: () => {
      const w = new Worker(STAND_IN, { eval: true });
      workers.push(w);
      return w;
    },
  });
  return validator;
}

afterEach(async () => {
  await validator?.close();
  validator = null;
});

describe('SchemaValidator: every validation settles', () => {
  it('rejects what a terminated worker held, and the next validation succeeds on a new worker', async () => {
    const v = make();
    const pending = v.validate('hang', SCHEMAS);
    await workers[0].terminate();
    await expect(pending).rejects.toBeInstanceOf(ValidatorCrashError);
    await expect(v.validate('<ok/>', SCHEMAS)).resolves.toEqual({ valid: true, errors: [] });
    expect(workers).toHaveLength(2);
  });

  it('rejects what a worker held when it exits on its own', async () => {
    const v = make();
    const held = [v.validate('crash', SCHEMAS), v.validate('hang', SCHEMAS)];
    for (const p of held) await expect(p).rejects.toBeInstanceOf(ValidatorCrashError);
    await expect(v.validate('<ok/>', SCHEMAS)).resolves.toMatchObject({ valid: true });
  });

  it('times out a validation, replaces the worker, and hands it the validations queued behind', async () => {
    const v = make(200);
    const stuck = v.validate('hang', SCHEMAS);
    const behind = v.validate('<ok/>', SCHEMAS);
    const [a, b] = await Promise.allSettled([stuck, behind]);
    expect(a.status === 'rejected' && a.reason).toBeInstanceOf(ValidationTimeoutError);
    expect(b).toEqual({ status: 'fulfilled', value: { valid: true, errors: [] } });
    expect(workers.length).toBeGreaterThanOrEqual(2);
    await expect(v.validate('<ok/>', SCHEMAS)).resolves.toMatchObject({ valid: true });
  });
});

/** A worker that starts when told (`emit('online')`) and answers what the test makes it answer. */
class SlowStartingWorker extends EventEmitter {
  readonly posted: { id: number }[] = [];
  postMessage(m: { id: number }): void {
    this.posted.push(m);
  }
  unref(): void {}
  terminate(): Promise<number> {
    return Promise.resolve(0);
  }
}

describe('SchemaValidator: a deadline runs from when the worker runs', () => {
  it("does not count a worker's start-up against the validations posted to it, and times out the rest", async () => {
    const w = new SlowStartingWorker();
    validator = new SchemaValidator({ timeoutMs: 50, spawn: () => w as unknown as Worker });
    let settled = false;
    const first = validator.validate('<ok/>', SCHEMAS).finally(() => (settled = true));
    // three timeouts pass while the thread starts up
    await new Promise((r) => setTimeout(r, 150));
    expect(settled).toBe(false);
    w.emit('online');
    w.emit('message', { kind: 'parley-validated', id: w.posted[0].id, valid: true, errors: [] });
    await expect(first).resolves.toEqual({ valid: true, errors: [] });
    // once running, a validation it does not answer fails at its deadline
    const unanswered = validator.validate('<ok/>', SCHEMAS);
    await expect(unanswered).rejects.toBeInstanceOf(ValidationTimeoutError);
  });
});

describe('SchemaValidator: the libxml2 worker, schemas compiled once and kept', () => {
  const RL = 'urn:ietf:params:xml:ns:resource-lists';
  const list = (entries: string): string => `<?xml version="1.0" encoding="UTF-8"?><resource-lists xmlns="${RL}"><list name="l">${entries}</list></resource-lists>`;
  const valid = list('<entry uri="sip:a@example.com"><display-name>A</display-name></entry>');
  const invalid = list('<entry><display-name>no uri</display-name></entry>');
  // the built worker (npm run build): vitest runs the TypeScript sources, which a worker thread cannot load
  const real = (): SchemaValidator => new SchemaValidator({ spawn: () => new Worker(new URL('../../dist/xdms/schema-validator-worker.js', import.meta.url)) });
  const prefs = (v: string): string => `<im-preferences xmlns="urn:parley:params:xml:ns:im-prefs"><store-conversations>${v}</store-conversations></im-preferences>`;

  it('gives each document its own verdict, whatever the one before it was, on the same compiled schema', async () => {
    validator = real();
    const v = validator;
    // sequential on purpose: each run follows another on the same live instance
    const verdicts: boolean[] = [];
    for (const doc of [valid, invalid, valid, invalid, invalid, valid]) verdicts.push((await v.validate(doc, ['resource-lists.xsd', 'xml.xsd'])).valid);
    expect(verdicts).toEqual([true, false, true, false, false, true]);
    const bad = await v.validate(invalid, ['resource-lists.xsd', 'xml.xsd']);
    expect(bad.errors[0]).toMatch(/attribute 'uri' is required/);
  });

  it('switches between the schemas of different usages on the same instance', async () => {
    validator = real();
    const v = validator;
    const results = await Promise.all([
      v.validate(prefs('true'), ['parley-im-prefs.xsd']),
      v.validate(valid, ['resource-lists.xsd', 'xml.xsd']),
      v.validate(prefs('maybe'), ['parley-im-prefs.xsd']),
      v.validate(valid, ['parley-im-prefs.xsd']),
      v.validate(prefs('false'), ['parley-im-prefs.xsd']),
    ]);
    expect(results.map((r) => r.valid)).toEqual([true, true, false, false, true]);
  });

  it('refuses a document carrying a DOCTYPE or entity declarations, even one that would validate', async () => {
    validator = real();
    const withEntity = valid.replace('<resource-lists', `<!DOCTYPE resource-lists [<!ENTITY e "A">]><resource-lists`).replace('>A<', '>&e;<');
    await expect(validator.validate(withEntity, ['resource-lists.xsd', 'xml.xsd'])).rejects.toThrow(/not allowed/);
    await expect(validator.validate(valid, ['resource-lists.xsd', 'xml.xsd'])).resolves.toEqual({ valid: true, errors: [] });
  });

  it("loads only the usage's own schema files: an import outside its list is not read", async () => {
    validator = real();
    const rls = `<rls-services xmlns="urn:ietf:params:xml:ns:rls-services" xmlns:rl="${RL}"><service uri="sip:s@example.com"><list><rl:entry uri="sip:a@example.com"/></list><packages><package>presence</package></packages></service></rls-services>`;
    // rls-services.xsd imports resource-lists.xsd: without it in the list, the schema cannot compile
    await expect(validator.validate(rls, ['rls-services.xsd'])).rejects.toThrow(/could not run/);
    await expect(validator.validate(rls, ['rls-services.xsd', 'resource-lists.xsd', 'xml.xsd'])).resolves.toEqual({ valid: true, errors: [] });
  });
});
