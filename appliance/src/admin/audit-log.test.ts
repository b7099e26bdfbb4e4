import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { tempStore } from '../../../test/support/temp-store.js';
import { AuditLog } from './audit-log.js';

let temp: Awaited<ReturnType<typeof tempStore>>;
let log: AuditLog;

beforeAll(async () => {
  temp = await tempStore('audit-log');
  log = new AuditLog(temp.ds);
  // a failed login names whatever user name was typed
  await log.record({ actor: '=cmd|x', source: '127.0.0.1', action: 'auth.login_failed', target: '@SUM(A1)', after: { reason: 'bad password' } });
});
afterAll(async () => {
  await temp.cleanup();
});

describe('audit log CSV', () => {
  it('makes text cells a spreadsheet would read as formulas inert with a leading single quote (OWASP CSV injection)', async () => {
    const [row] = parse(await log.csv({}), { columns: true }) as Record<string, string>[];
    expect(row).toMatchObject({ actor: "'=cmd|x", source: '127.0.0.1', action: 'auth.login_failed', target: "'@SUM(A1)", after: '{"reason":"bad password"}' });
    // the API's JSON keeps them as recorded
    expect((await log.query({}, 1, 10)).items[0]).toMatchObject({ actor: '=cmd|x', target: '@SUM(A1)' });
  });
});
