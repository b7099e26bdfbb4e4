import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, type RouteSpec } from '@parley/shared';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { addConsoleAccount, apiUrl, login, type AdminSession } from '../support/admin-client.js';

let app: RunningAppliance;
let admin: AdminSession;
let support: AdminSession;

// a throttle that steps in quickly, so the test can see it (per account and source: 3 failures)
const CONFIG = { admin: { throttle: { perSourceAndUser: 3, perSource: 50, perUser: 50, blockFor: 60 } } };

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw' }, config: CONFIG });
  await addConsoleAccount(app, 'root', 'root-password-1');
  await addConsoleAccount(app, 'helper', 'helper-password-1', 'support');
  admin = await login(app, 'root', 'root-password-1');
  support = await login(app, 'helper', 'helper-password-1');
});
afterAll(async () => {
  await app?.cleanup();
});

/** Every route with its :params filled in (a user and a group that exist, or at least parse). */
const ALL = (Object.entries(ROUTES) as [string, RouteSpec][]).map(([id, r]) => ({
  id,
  ...r,
  url: r.path.replace(':name', 'alice').replace(':group', 'team').replace(':user', 'alice').replace(':id', 'conv1').replace(':job', 'job1'),
}));
const MUTATIONS = ALL.filter((r) => r.method !== 'GET' && r.id !== 'login');

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string; field?: string } }).error;

describe('admin API: sessions', () => {
  it('answers 401 on every endpoint but login and openapi.json without a session', async () => {
    for (const r of ALL.filter((x) => x.roles !== 'public')) {
      const res = await fetch(apiUrl(app, r.url), { method: r.method, headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': 'x' }, body: r.method === 'GET' ? undefined : '{}' });
      expect(res.status, `${r.method} ${r.url}`).toBe(401);
      expect((await errorOf(res)).code).toBe('unauthenticated');
    }
    // a made-up cookie is no session either
    expect((await fetch(apiUrl(app, '/users'), { headers: { Cookie: 'parley_session=forged' } })).status).toBe(401);
  });

  it('sets an HttpOnly, SameSite=Strict cookie and tells the role and the CSRF token', async () => {
    const res = await fetch(apiUrl(app, '/session'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'Root', password: 'root-password-1' }) });
    expect(res.status).toBe(200);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('parley_session='))!;
    expect(cookie).toMatch(/; path=\//i);
    expect(cookie).toMatch(/; httponly/i);
    expect(cookie).toMatch(/; samesite=strict/i);
    expect(cookie).toMatch(/; expires=/i);
    const body = (await res.json()) as { account: unknown; csrfToken: string; expiresAt: string };
    expect(body.account).toEqual({ name: 'root', role: 'admin' });
    expect(body.csrfToken.length).toBeGreaterThan(20);
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());
    expect(await (await support.request('GET', '/session')).json()).toMatchObject({ account: { name: 'helper', role: 'support' } });
  });

  it('refuses a wrong password like an unknown account, records both, and throttles (429 + Retry-After)', async () => {
    const attempt = (name: string, password: string) =>
      fetch(apiUrl(app, '/session'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name, password }) });
    const wrong = await attempt('root', 'not-the-password');
    const unknown = await attempt('nobody', 'not-the-password');
    expect([wrong.status, unknown.status]).toEqual([401, 401]);
    expect(await errorOf(wrong)).toEqual(await errorOf(unknown));
    await attempt('root', 'not-the-password-2');
    await attempt('root', 'not-the-password-3');
    const throttled = await attempt('root', 'root-password-1');
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await errorOf(throttled)).code).toBe('throttled');
    const audit = (await (await admin.request('GET', '/audit?action=session.login_failed')).json()) as { items: { actor: string; source: string }[] };
    expect(audit.items.map((i) => i.actor)).toEqual(expect.arrayContaining(['root', 'nobody']));
    expect(audit.items[0].source).toBe('127.0.0.1');
  });

  it('refuses malformed login bodies with the field named, and non-JSON with 415', async () => {
    const post = (body: string, type = 'application/json') => fetch(apiUrl(app, '/session'), { method: 'POST', headers: { 'Content-Type': type }, body });
    expect(await errorOf(await post(JSON.stringify({ name: 'root', password: 5 })))).toMatchObject({ code: 'invalid_type', field: 'password' });
    expect(await errorOf(await post(JSON.stringify({ name: 'root', password: 'x', remember: true })))).toMatchObject({ code: 'unknown_field', field: 'remember' });
    expect(await errorOf(await post('{"name":'))).toMatchObject({ code: 'invalid_json' });
    const form = await post('name=root&password=x', 'application/x-www-form-urlencoded');
    expect(form.status).toBe(415);
  });

  it('ends the session at logout, and when the account is disabled', async () => {
    const s = await login(app, 'helper', 'helper-password-1');
    expect((await s.request('DELETE', '/session')).status).toBe(204);
    expect((await s.request('GET', '/session')).status).toBe(401);
    const t = await login(app, 'helper', 'helper-password-1');
    await app.cli('admin', 'disable', 'helper');
    expect((await t.request('GET', '/session')).status).toBe(401);
    expect((await support.request('GET', '/users')).status).toBe(401);
    await app.cli('admin', 'enable', 'helper');
    support = await login(app, 'helper', 'helper-password-1');
    expect(await app.cli('admin', 'list')).toMatch(/^helper\tsupport\tenabled\t/m);
  });

  it('parley admin add refuses a short password and a duplicate; reset ends sessions', async () => {
    await expect(addConsoleAccount(app, 'weak', 'short')).rejects.toThrow(/at least 10 characters/);
    await expect(addConsoleAccount(app, 'root', 'root-password-2')).rejects.toThrow(/already exists/);
    const s = await login(app, 'helper', 'helper-password-1');
    await app.cliWithInput('helper-password-2\n', 'admin', 'reset', 'helper', '--password-stdin');
    expect((await s.request('GET', '/session')).status).toBe(401);
    support = await login(app, 'helper', 'helper-password-2');
  });
});

describe('audit of the command line', () => {
  it('records console accounts and user changes made with parley admin and parley user (actor cli)', async () => {
    await app.cli('user', 'add', 'zed', '--password', 'zed-pw');
    await app.cli('user', 'disable', 'zed');
    const log = (await (await admin.request('GET', '/audit?actor=cli&pageSize=200')).json()) as { items: { action: string; target: string; source: string }[] };
    const seen = log.items.map((i) => `${i.action} ${i.target}`);
    expect(seen).toEqual(expect.arrayContaining(['account.create root', 'account.create helper', 'user.create zed', 'user.disable zed']));
    expect(log.items.every((i) => i.source === 'local')).toBe(true);
  });
});

describe('admin API: roles and CSRF', () => {
  it('refuses the support role every mutation and the audit log (403 forbidden), before looking at the input', async () => {
    // exporting a stored conversation is support's one POST: it changes nothing, and it is audited
    for (const r of [...MUTATIONS.filter((x) => x.id !== 'logout' && x.id !== 'createExport'), ...ALL.filter((x) => x.id.startsWith('audit'))]) {
      const res = await support.request(r.method, r.url, r.method === 'GET' ? {} : { json: {} });
      expect(res.status, `${r.method} ${r.url}`).toBe(403);
      expect((await errorOf(res)).code).toBe('forbidden');
    }
  });

  it('lets the support role read users, stored-message counts and status', async () => {
    for (const path of ['/users', '/users/alice', '/users/alice/groups', '/users/alice/blocked', '/deferred', '/status', '/session']) {
      expect((await support.request('GET', path)).status, path).toBe(200);
    }
  });

  it('refuses every mutation without the CSRF token, or with another session\'s (403 csrf_failed)', async () => {
    for (const r of MUTATIONS) {
      const res = await admin.request(r.method, r.url, { json: {}, csrf: false });
      expect(res.status, `${r.method} ${r.url}`).toBe(403);
      expect((await errorOf(res)).code).toBe('csrf_failed');
    }
    const other = await admin.request('POST', '/users', { json: { name: 'x1' }, headers: { 'X-CSRF-Token': support.csrfToken } });
    expect(other.status).toBe(403);
  });
});

describe('admin API: every endpoint validates its input', () => {
  const SESSIONLESS = new Set(['login', 'openapi', 'logout']);

  it('refuses a query parameter it does not take, naming it (before doing anything)', async () => {
    for (const r of ALL.filter((x) => !SESSIONLESS.has(x.id))) {
      const res = await admin.request(r.method, `${r.url}?bogus=1`, r.method === 'GET' ? {} : { json: {} });
      expect(res.status, `${r.method} ${r.url}`).toBe(400);
      expect(await errorOf(res), `${r.method} ${r.url}`).toMatchObject({ code: 'unknown_field', field: 'bogus' });
    }
  });

  it('refuses an unknown body field and a body of the wrong type, naming the field', async () => {
    for (const r of ALL.filter((x) => x.body !== undefined && x.body !== 'csv' && !SESSIONLESS.has(x.id))) {
      const unknown = await admin.request(r.method, r.url, { json: { bogus: 1 } });
      expect(unknown.status, `${r.method} ${r.url}`).toBe(400);
      const e = await errorOf(unknown);
      // an object that also lacks a required field may be refused for that first; either names a field
      expect(e.field, `${r.method} ${r.url}: ${e.message}`).toBeDefined();
      const wrongType = await admin.request(r.method, r.url, { json: ['not', 'an', 'object'] });
      expect(wrongType.status, `${r.method} ${r.url}`).toBe(400);
      expect((await errorOf(wrongType)).code).toBe('invalid_type');
    }
  });

  it('refuses a path parameter that breaks the name rule', async () => {
    for (const r of ALL.filter((x) => x.params !== undefined)) {
      const res = await admin.request(r.method, r.path.replace(/:\w+/, 'bad%20name').replace(/:\w+/g, 'x'), r.method === 'GET' ? {} : { json: {} });
      expect(res.status, `${r.method} ${r.path}`).toBe(400);
      expect((await errorOf(res)).field).toMatch(/^(name|user|id|job)$/);
    }
  });
});

describe('admin API: OpenAPI and errors', () => {
  it('serves an OpenAPI 3.1 document with every route, generated from the shared schemas', async () => {
    const res = await fetch(apiUrl(app, '/openapi.json'));
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { operationId: string; requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown>; additionalProperties?: unknown } }> } }>> };
    expect(doc.openapi).toBe('3.1.0');
    for (const r of ALL) expect(doc.paths[r.path.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()]?.operationId).toBe(r.id);
    const create = doc.paths['/users'].post.requestBody!.content['application/json'].schema;
    expect(Object.keys(create.properties!)).toEqual(['name', 'password', 'displayName']);
    expect(create.additionalProperties).toBe(false);
  });

  it('answers unknown endpoints and methods with JSON errors', async () => {
    const none = await admin.request('GET', '/nothing-here');
    expect(none.status).toBe(404);
    expect((await errorOf(none)).code).toBe('not_found');
    const method = await admin.request('PUT', '/status', { json: {} });
    expect(method.status).toBe(405);
    expect(method.headers.get('allow')).toContain('GET');
  });
});
