import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { addConsoleAccount, login, type AdminSession } from '../support/admin-client.js';
import { sipp, received } from '../support/sipp.js';
import { sendMessage } from '../support/sip-user.js';
import { xcapRequest } from '../support/xcap-client.js';

// SIPp answers only the first challenge and only with MD5, so MD5 is offered first here.
const CONFIG = { auth: { algorithms: ['MD5', 'SHA-256'] } };
const D = 'parley.test';

let app: RunningAppliance;
let admin: AdminSession;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' } });
  await addConsoleAccount(app, 'root', 'root-password-1');
  admin = await login(app, 'root', 'root-password-1');
});
afterAll(async () => {
  await app?.cleanup();
});

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string; field?: string } }).error;
const GROUPS = `org.openmobilealliance.groups/users/sip:alice@${D}/index`;

/** `from` sends bob a MESSAGE with SIPp; the final status line it got (SIPp exits non-zero on an unexpected 403). */
async function messageToBob(from: string, text: string): Promise<string> {
  const r = await sipp({ scenario: 'message-uac.xml', remotePort: app.sipPort, service: from, auth: { user: from, password: `${from}-pw` }, vars: { domain: app.domain, to: 'bob', body: text } }).done;
  return received(r.messages).pop()!.split('\r\n')[0];
}

describe('admin API: groups are the XDMS documents', () => {
  it('creates a group that the owner then reads over XCAP', async () => {
    const res = await admin.request('PUT', '/users/alice/groups/team', { json: { displayName: 'The Team', visibility: 'private', maxParticipants: 10, members: [`sip:bob@${D}`, `sip:carol@${D}`] } });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toMatch(/^".+"$/);
    expect(await res.json()).toEqual({ name: 'team', uri: `sip:team@${D}`, displayName: 'The Team', visibility: 'private', maxParticipants: 10, members: [`sip:bob@${D}`, `sip:carol@${D}`] });
    const xcap = await xcapRequest(app, 'GET', GROUPS);
    expect(xcap.status).toBe(200);
    expect(xcap.headers.get('etag')).toBe(res.headers.get('etag'));
    const xml = await xcap.text();
    expect(xml).toContain(`<list-service uri="sip:team@${D}">`);
    expect(xml).toContain('<display-name>The Team</display-name>');
    expect(xml).toContain(`<entry uri="sip:carol@${D}"/>`);
    expect(xml).toContain('<max-participant-count>10</max-participant-count>');
    // a group element read by node selector, as an XCAP client would
    const el = await xcapRequest(app, 'GET', `${GROUPS}/~~/group/list-service%5b@uri=%22sip:team@${D}%22%5d/display-name`);
    expect(await el.text()).toBe('<display-name>The Team</display-name>');
  });

  it('shows a change made over XCAP, and refuses a stale ETag with 412 so the console can reload', async () => {
    const first = await admin.request('GET', '/users/alice/groups/team');
    const etag = first.headers.get('etag')!;
    const put = await xcapRequest(app, 'PUT', `${GROUPS}/~~/group/list-service%5b@uri=%22sip:team@${D}%22%5d/display-name`, {
      body: '<display-name>Renamed over XCAP</display-name>', headers: { 'Content-Type': 'application/xcap-el+xml' },
    });
    expect(put.status).toBe(200);
    const list = (await (await admin.request('GET', '/users/alice/groups')).json()) as { items: { displayName: string }[] };
    expect(list.items.map((g) => g.displayName)).toEqual(['Renamed over XCAP']);
    const stale = await admin.request('PUT', '/users/alice/groups/team', { json: { displayName: 'Mine', visibility: 'public', members: [] }, headers: { 'If-Match': etag } });
    expect(stale.status).toBe(412);
    expect((await errorOf(stale)).code).toBe('stale_etag');
    const fresh = await admin.request('PUT', '/users/alice/groups/team', { json: { displayName: 'Mine', visibility: 'public', members: [] }, headers: { 'If-Match': put.headers.get('etag')! } });
    expect(fresh.status).toBe(200);
    expect(((await fresh.json()) as { visibility: string }).visibility).toBe('public');
  });

  it('lets exactly one of two concurrent edits with the same ETag win; the other gets 412', async () => {
    const etag = (await admin.request('GET', '/users/alice/groups')).headers.get('etag')!;
    const edit = (displayName: string) => admin.request('PUT', '/users/alice/groups/team', { json: { displayName, visibility: 'public', members: [] }, headers: { 'If-Match': etag } });
    const [a, b] = await Promise.all([edit('First'), edit('Second')]);
    expect([a.status, b.status].sort()).toEqual([200, 412]);
    const winner = a.status === 200 ? 'First' : 'Second';
    expect(((await (await admin.request('GET', '/users/alice/groups/team')).json()) as { displayName: string }).displayName).toBe(winner);
  });

  it('keeps group URIs unique on the server and apart from user names, and validates members', async () => {
    const taken = await admin.request('PUT', '/users/bob/groups/team', { json: { displayName: 'Also team', visibility: 'public', members: [] } });
    expect(taken.status).toBe(409);
    expect((await errorOf(taken)).code).toBe('name_taken');
    const user = await admin.request('PUT', '/users/bob/groups/carol', { json: { displayName: 'Carol?', visibility: 'public', members: [] } });
    expect(await errorOf(user)).toMatchObject({ code: 'name_taken', field: 'group' });
    expect(await errorOf(await admin.request('PUT', '/users/bob/groups/x1', { json: { displayName: 'X', visibility: 'open', members: [] } }))).toMatchObject({ field: 'visibility' });
    expect(await errorOf(await admin.request('PUT', '/users/bob/groups/x1', { json: { displayName: 'X', visibility: 'public', members: ['bob'] } }))).toMatchObject({ field: 'members.0' });
    expect(await errorOf(await admin.request('PUT', '/users/bob/groups/x1', { json: { displayName: 'X', visibility: 'public', members: [], owner: 'me' } }))).toMatchObject({ code: 'unknown_field', field: 'owner' });
    expect((await admin.request('GET', '/users/nobody/groups')).status).toBe(404);
  });

  it('deletes a group (and the document with its last group)', async () => {
    expect((await admin.request('PUT', '/users/alice/groups/devs', { json: { displayName: 'Devs', visibility: 'private', members: [] } })).status).toBe(200);
    expect((await admin.request('DELETE', '/users/alice/groups/team')).status).toBe(204);
    expect(((await (await admin.request('GET', '/users/alice/groups')).json()) as { items: { name: string }[] }).items.map((g) => g.name)).toEqual(['devs']);
    expect((await admin.request('DELETE', '/users/alice/groups/devs')).status).toBe(204);
    expect((await xcapRequest(app, 'GET', GROUPS)).status).toBe(404);
    expect((await admin.request('DELETE', '/users/alice/groups/devs')).status).toBe(404);
  });
});

describe('admin API: block lists', () => {
  it('blocks a sender for a user: the next MESSAGE from them is refused on the wire', async () => {
    expect(await messageToBob('alice', 'before the block')).toMatch(/^SIP\/2\.0 20[02]/);
    const res = await admin.request('PUT', '/users/bob/blocked', { json: { senders: [`sip:alice@${D}`] } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ senders: [`sip:alice@${D}`] });
    expect(await messageToBob('alice', 'after the block')).toBe('SIP/2.0 403 Forbidden');
    expect(await messageToBob('carol', 'not blocked')).toMatch(/^SIP\/2\.0 20[02]/);
    // the block list is bob's im-access-rules document
    const xml = await (await xcapRequest(app, 'GET', `im-access-rules/users/sip:bob@${D}/index`, { user: 'bob' })).text();
    expect(xml).toContain(`<cp:one id="sip:alice@${D}"/>`);
    expect(await (await admin.request('PUT', '/users/bob/blocked', { json: { senders: [] } })).json()).toEqual({ senders: [] });
    expect(await messageToBob('alice', 'unblocked')).toMatch(/^SIP\/2\.0 20[02]/);
  });

  it('keeps rules the console does not manage, and honours If-Match', async () => {
    const own = `<cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy" xmlns:ir="urn:parley:params:xml:ns:im-rules"><cp:rule id="mine"><cp:conditions><cp:identity><cp:one id="sip:carol@${D}"/></cp:identity></cp:conditions><cp:actions><ir:im-handling>polite-block</ir:im-handling></cp:actions></cp:rule></cp:ruleset>`;
    const put = await xcapRequest(app, 'PUT', `im-access-rules/users/sip:bob@${D}/index`, { user: 'bob', body: own, headers: { 'Content-Type': 'application/auth-policy+xml' } });
    expect(put.status).toBe(200);
    const got = await admin.request('GET', '/users/bob/blocked');
    expect(got.headers.get('etag')).toBe(put.headers.get('etag'));
    expect(await got.json()).toEqual({ senders: [] });
    expect((await admin.request('PUT', '/users/bob/blocked', { json: { senders: [`sip:alice@${D}`] }, headers: { 'If-Match': '"stale"' } })).status).toBe(412);
    expect((await admin.request('PUT', '/users/bob/blocked', { json: { senders: [`sip:alice@${D}`] }, headers: { 'If-Match': put.headers.get('etag')! } })).status).toBe(200);
    const xml = await (await xcapRequest(app, 'GET', `im-access-rules/users/sip:bob@${D}/index`, { user: 'bob' })).text();
    expect(xml).toContain('<cp:rule id="mine">');
    expect(xml).toContain(`<cp:one id="sip:alice@${D}"/>`);
    expect(await errorOf(await admin.request('PUT', '/users/bob/blocked', { json: { senders: 'alice' } }))).toMatchObject({ code: 'invalid_type', field: 'senders' });
  });
});

describe('admin API: stored messages, status, audit', () => {
  it('counts stored messages per user (never bodies) and purges one user\'s queue', async () => {
    for (const text of ['one', 'two']) expect((await sendMessage(app, { name: 'alice', password: 'alice-pw' }, 'carol', text)).split('\r\n')[0]).toBe('SIP/2.0 202 Accepted');
    const list = (await (await admin.request('GET', '/deferred')).json()) as { items: { user: string; count: number; oldestAt: string; bytes: number }[]; total: number };
    const carol = list.items.find((i) => i.user === 'carol')!;
    expect(carol.count).toBe(2);
    expect(carol.bytes).toBeGreaterThan(0);
    expect(Date.parse(carol.oldestAt)).toBeLessThanOrEqual(Date.now());
    expect(JSON.stringify(list)).not.toContain('one');
    const status = (await (await admin.request('GET', '/status')).json()) as { storedMessages: number };
    expect(status.storedMessages).toBeGreaterThanOrEqual(2);
    expect(await (await admin.request('DELETE', '/deferred/carol')).json()).toEqual({ purged: 2 });
    expect(((await (await admin.request('GET', '/deferred')).json()) as { items: { user: string }[] }).items.map((i) => i.user)).not.toContain('carol');
    expect(await (await admin.request('DELETE', '/deferred/carol')).json()).toEqual({ purged: 0 });
  });

  it('reports live status from the appliance\'s own counters', async () => {
    const s = (await (await admin.request('GET', '/status')).json()) as {
      uptimeSeconds: number; memory: { rss: number; heapUsed: number }; registrations: { byTransport: Record<string, number> };
      messagesPerMinute: { minute: string; count: number }[]; xcapOperations: { reads: number; writes: number };
    };
    expect(s.memory.rss).toBeGreaterThan(s.memory.heapUsed);
    expect(Object.keys(s.registrations.byTransport)).toEqual(['udp', 'tcp', 'tls', 'ws', 'wss']);
    expect(s.messagesPerMinute).toHaveLength(60);
    // this file sent several MESSAGEs within the last minutes
    expect(s.messagesPerMinute.reduce((n, m) => n + m.count, 0)).toBeGreaterThanOrEqual(5);
    expect(s.xcapOperations.reads).toBeGreaterThan(0);
    expect(s.xcapOperations.writes).toBeGreaterThan(0);
  });

  it('has every mutation in the audit log, filterable and downloadable as CSV', async () => {
    const page = (await (await admin.request('GET', '/audit?actor=root&pageSize=200')).json()) as { items: { action: string; target: string; before: unknown; after: unknown; source: string }[]; total: number };
    const actions = page.items.map((i) => i.action);
    for (const a of ['session.login', 'group.create', 'group.update', 'group.delete', 'blocked.update', 'deferred.purge']) expect(actions).toContain(a);
    const purge = page.items.find((i) => i.action === 'deferred.purge' && (i.after as { purged: number }).purged === 2)!;
    expect(purge).toMatchObject({ target: 'carol', before: { count: 2 }, source: '127.0.0.1' });
    const groups = (await (await admin.request('GET', '/audit?action=group.')).json()) as { items: { action: string }[] };
    expect(new Set(groups.items.map((i) => i.action))).toEqual(new Set(['group.create', 'group.update', 'group.delete']));
    const none = (await (await admin.request('GET', `/audit?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).json()) as { total: number };
    expect(none.total).toBe(0);
    expect(await errorOf(await admin.request('GET', '/audit?from=yesterday'))).toMatchObject({ field: 'from' });
    const csv = await admin.request('GET', '/audit.csv?action=blocked.update');
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(csv.headers.get('content-disposition')).toContain('attachment');
    const rows = parse(await csv.text(), { columns: true }) as { actor: string; action: string; target: string; after: string }[];
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows.every((r) => r.action === 'blocked.update' && r.actor === 'root' && r.target === 'bob')).toBe(true);
    expect(JSON.parse(rows.at(-1)!.after)).toEqual({ senders: [`sip:alice@${D}`] });
  });
});
