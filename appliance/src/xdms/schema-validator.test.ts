import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { SchemaValidator, ValidationTimeoutError, ValidatorCrashError } from './schema-validator.js';

/**
 * A stand-in for the xmllint worker, speaking its protocol: a document "hang"
 * keeps the thread busy for good (as a pathological schema run would), "crash"
 * ends the thread, anything else is valid.
 */
const STAND_IN = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => {
  const xml = m.files[0].contents;
  if (xml === 'hang') for (;;);
  if (xml === 'crash') process.exit(7);
  parentPort.postMessage({ kind: 'parley-validated', id: m.id, code: 0, stderr: '' });
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
