import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { addConsoleAccount, login, type AdminSession } from '../support/admin-client.js';
import { sipp, received } from '../support/sipp.js';
import { sendMessage } from '../support/sip-user.js';
import { xcapRequest } from '../support/xcap-client.js';

// SIPp answers only the first challenge and only with MD5, so MD5 is offered first here.
const CONFIG = { auth: { algorithms: ['MD5', 'SHA-256'] } };

let app: RunningAppliance;
let admin: AdminSession;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: { alice: 'alice-pw', bob: 'bob-pw' } });
  await addConsoleAccount(app, 'root', 'root-password-1');
  admin = await login(app, 'root', 'root-password-1');
});
afterAll(async () => {
  await app?.cleanup();
});

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string; field?: string } }).error;

/** SIPp registers `user` with `password` (contact on a port nobody listens on); the last status line it got. */
async function sippRegister(user: string, password: string, contactPort: number): Promise<string> {
  const r = await sipp({
    scenario: 'register.xml', remotePort: app.sipPort, service: user,
    auth: { user, password }, vars: { domain: app.domain, expires: '300', contact: `127.0.0.1:${contactPort}` },
  }).done;
  return received(r.messages).pop()!.split('\r\n')[0];
}

interface UserOut { name: string; displayName: string | null; disabled: boolean; devices: number; devicesByTransport: Record<string, number>; provisioningUrl: string; password?: string }

describe('admin API: users', () => {
  it('creates a user that can then REGISTER (SIPp), with a generated password shown once', async () => {
    const res = await admin.request('POST', '/users', { json: { name: 'Carol', displayName: 'Carol C' } });
    expect(res.status).toBe(201);
    const carol = (await res.json()) as UserOut;
    expect(carol).toMatchObject({ name: 'carol', displayName: 'Carol C', disabled: false, devices: 0 });
    expect(carol.password!.length).toBeGreaterThanOrEqual(16);
    expect(await sippRegister('carol', carol.password!, 5921)).toBe('SIP/2.0 200 OK');
    const again = (await (await admin.request('GET', '/users/CAROL')).json()) as UserOut;
    expect(again.password).toBeUndefined();
    expect(again.devices).toBe(1);
    expect(again.devicesByTransport.udp).toBe(1);
    // where carol's clients fetch their settings (A6), for the console's QR code
    expect(again.provisioningUrl).toBe(`http://127.0.0.1:${app.httpPort}/provisioning/carol`);
    expect((await fetch(again.provisioningUrl)).status).toBe(401);
  });

  it('disabling drops the registration at once, and REGISTER gets 403', async () => {
    expect(await sippRegister('bob', 'bob-pw', 5922)).toBe('SIP/2.0 200 OK');
    const res = await admin.request('PATCH', '/users/bob', { json: { disabled: true } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as UserOut).disabled).toBe(true);
    // no wait: the directory drops the binding within the request
    expect(((await (await admin.request('GET', '/users/bob')).json()) as UserOut).devices).toBe(0);
    expect(await sippRegister('bob', 'bob-pw', 5922)).toBe('SIP/2.0 403 User disabled');
    expect((await admin.request('PATCH', '/users/bob', { json: { disabled: false } })).status).toBe(200);
    expect(await sippRegister('bob', 'bob-pw', 5922)).toBe('SIP/2.0 200 OK');
  });

  it('resets a password: given, or generated and returned once', async () => {
    expect(await (await admin.request('POST', '/users/bob/password', { json: { password: 'bob-new-pw' } })).json()).toEqual({});
    expect(await sippRegister('bob', 'bob-new-pw', 5923)).toBe('SIP/2.0 200 OK');
    const { password } = (await (await admin.request('POST', '/users/bob/password', { json: {} })).json()) as { password: string };
    expect(await sippRegister('bob', password, 5923)).toBe('SIP/2.0 200 OK');
  });

  it('validates every input: unknown field, wrong type, bad name, duplicate, page size', async () => {
    expect(await errorOf(await admin.request('POST', '/users', { json: { name: 'dan', role: 'x' } }))).toMatchObject({ code: 'unknown_field', field: 'role' });
    expect(await errorOf(await admin.request('POST', '/users', { json: { name: 42 } }))).toMatchObject({ code: 'invalid_type', field: 'name' });
    expect(await errorOf(await admin.request('POST', '/users', { json: { name: 'no spaces' } }))).toMatchObject({ code: 'invalid_value', field: 'name' });
    expect(await errorOf(await admin.request('POST', '/users', { json: { name: 'dan', password: 'x' } }))).toMatchObject({ field: 'password' });
    const dup = await admin.request('POST', '/users', { json: { name: 'ALICE' } });
    expect(dup.status).toBe(409);
    expect(await errorOf(await admin.request('PATCH', '/users/alice', { json: {} }))).toMatchObject({ code: 'invalid_value' });
    expect(await errorOf(await admin.request('PATCH', '/users/alice', { json: { disabled: 'yes' } }))).toMatchObject({ code: 'invalid_type', field: 'disabled' });
    expect(await errorOf(await admin.request('GET', '/users?pageSize=201'))).toMatchObject({ field: 'pageSize' });
    expect(await errorOf(await admin.request('GET', '/users?sort=password'))).toMatchObject({ field: 'sort' });
    expect(await errorOf(await admin.request('GET', '/users?limit=5'))).toMatchObject({ code: 'unknown_field', field: 'limit' });
    expect((await admin.request('GET', '/users/nobody')).status).toBe(404);
    const big = await admin.request('POST', '/users', { body: JSON.stringify({ name: 'x', displayName: 'y'.repeat(70_000) }), contentType: 'application/json' });
    expect(big.status).toBe(413);
  });

  it('lists with search, sort and paging', async () => {
    const page = (q: string) => admin.request('GET', `/users?${q}`).then((r) => r.json() as Promise<{ items: UserOut[]; total: number; page: number; pageSize: number }>);
    const all = await page('pageSize=2&sort=name&order=desc');
    expect(all.total).toBeGreaterThanOrEqual(3);
    expect(all.items.map((u) => u.name)).toEqual(['carol', 'bob']);
    expect((await page('page=2&pageSize=2&sort=name&order=desc')).items[0].name).toBe('alice');
    // search matches names and display names, case-insensitively
    expect((await page('q=carol%20c')).items.map((u) => u.name)).toEqual(['carol']);
    expect((await page('q=%25')).total).toBe(0);
  });

  it('deletes a user with their documents and stored messages, and says how many', async () => {
    await admin.request('POST', '/users', { json: { name: 'dora', password: 'dora-pw' } });
    const doc = `<im-preferences xmlns="urn:parley:params:xml:ns:im-prefs"><delivery>store</delivery></im-preferences>`;
    expect((await xcapRequest(app, 'PUT', `im-preferences/users/sip:dora@${app.domain}/index`, { user: 'dora', body: doc, headers: { 'Content-Type': 'application/vnd.parley.im-preferences+xml' } })).status).toBe(201);
    // dora is offline: alice's message is stored for her
    expect((await sendMessage(app, { name: 'alice', password: 'alice-pw' }, 'dora', 'hello dora')).split('\r\n')[0]).toBe('SIP/2.0 202 Accepted');
    const res = await admin.request('DELETE', '/users/dora');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ removed: { documents: 1, storedMessages: 1 } });
    expect((await admin.request('GET', '/users/dora')).status).toBe(404);
    expect((await admin.request('DELETE', '/users/dora')).status).toBe(404);
  });
});

describe('admin API: CSV import', () => {
  const CSV = 'name,password,displayName\nerin,erin-pw,Erin E\nalice,other-pw,\n"bad name",xxxx,\nfay,,Fay\nErin,dup-pw,\n';
  const upload = (query: string, body = CSV, type = 'text/csv') => admin.request('POST', `/users/import?${query}`, { body, contentType: type });
  type Result = { dryRun: boolean; applied: boolean; rows: { line: number; name: string; verdict: string; reason?: string; password?: string }[]; rejectedCsv: string };

  it('dry run by default: verdicts per row, nothing written', async () => {
    const res = await upload('');
    expect(res.status).toBe(200);
    const r = (await res.json()) as Result;
    expect(r.dryRun).toBe(true);
    expect(r.applied).toBe(false);
    expect(r.rows.map((x) => [x.line, x.name, x.verdict])).toEqual([
      [2, 'erin', 'create'],
      [3, 'alice', 'conflict'],
      [4, 'bad name', 'invalid'],
      [5, 'fay', 'invalid'],
      [6, 'erin', 'conflict'],
    ]);
    expect((await admin.request('GET', '/users/erin')).status).toBe(404);
  });

  it('stop: a conflict means nothing is imported', async () => {
    const r = (await (await upload('dryRun=false&onConflict=stop')).json()) as Result;
    expect(r.applied).toBe(false);
    expect((await admin.request('GET', '/users/erin')).status).toBe(404);
  });

  it('skip: the good rows are created (generated passwords once), the rejected rows come back as CSV line by line', async () => {
    const r = (await (await upload('dryRun=false&onConflict=skip&generatePasswords=true')).json()) as Result;
    expect(r.applied).toBe(true);
    expect(r.rows.filter((x) => x.verdict === 'create').map((x) => x.name)).toEqual(['erin', 'fay']);
    const fay = r.rows.find((x) => x.name === 'fay')!;
    expect(fay.password!.length).toBeGreaterThanOrEqual(16);
    expect(r.rows.find((x) => x.name === 'erin')!.password).toBeUndefined();
    const rejected = parse(r.rejectedCsv) as string[][];
    expect(rejected).toEqual([
      ['line', 'name', 'password', 'displayName', 'reason'],
      ['3', 'alice', 'other-pw', '', "user 'alice' already exists"],
      ['4', 'bad name', 'xxxx', '', expect.stringMatching(/^invalid user name 'bad name'/)],
      ['6', 'Erin', 'dup-pw', '', "user 'erin' already exists"],
    ]);
    expect(await sippRegister('fay', fay.password!, 5924)).toBe('SIP/2.0 200 OK');
    expect(await sippRegister('erin', 'erin-pw', 5925)).toBe('SIP/2.0 200 OK');
    const audit = (await (await admin.request('GET', '/audit?action=user.import')).json()) as { items: { after: { created: string[] } }[] };
    expect(audit.items[0].after.created).toEqual(['erin', 'fay']);
  });

  it('refuses wrong columns, another encoding, a non-CSV type and an oversized file, naming the problem', async () => {
    expect(await errorOf(await upload('', 'user,pass\nx,y\n'))).toMatchObject({ code: 'invalid_csv', field: 'body' });
    expect(await errorOf(await upload('', 'name,password\n"unclosed,x\n'))).toMatchObject({ code: 'invalid_csv' });
    const latin1 = Buffer.from('name,password,displayName\ngus,gus-pw,J\xf6rg\n', 'latin1');
    const bad = await admin.request('POST', '/users/import', { body: latin1 as unknown as string, contentType: 'text/csv' });
    expect(await errorOf(bad)).toMatchObject({ code: 'invalid_encoding' });
    expect((await upload('', CSV, 'text/csv; charset=iso-8859-1')).status).toBe(415);
    expect((await upload('', CSV, 'application/json')).status).toBe(415);
    expect(await errorOf(await upload('dryRun=maybe'))).toMatchObject({ field: 'dryRun' });
    const huge = `name,password\n${'x'.repeat(2 * 1024 * 1024)}\n`;
    expect((await upload('', huge)).status).toBe(413);
  });
});

describe('admin API: 10,000 users', () => {
  it('imports the largest allowed file in one go and pages, sorts and searches through it', async () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => `u${String(i).padStart(5, '0')},pw-${i},User ${i}`);
    const res = await admin.request('POST', '/users/import?dryRun=false', { body: `name,password,displayName\n${rows.join('\n')}\n`, contentType: 'text/csv' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { applied: boolean }).applied).toBe(true);
    const page = (q: string) => admin.request('GET', `/users?${q}`).then((r) => r.json() as Promise<{ items: { name: string }[]; total: number }>);
    const last = await page('q=u0&sort=name&order=desc&page=50&pageSize=200');
    expect(last.total).toBe(10_000);
    expect(last.items.map((u) => u.name).slice(-1)).toEqual(['u00000']);
    expect((await page('q=User%209999')).items.map((u) => u.name)).toEqual(['u09999']);
    const tooMany = await admin.request('POST', '/users/import', { body: `name,password\n${rows.join('\n')}\nextra,pw-pw\n`, contentType: 'text/csv' });
    expect(tooMany.status).toBe(413);
  });
});
