import path from 'node:path';
import sqlite3 from 'sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { RawClient, headerOf } from '../support/raw-client.js';
import { registerContact, sendMessage, withDigest } from '../support/sip-user.js';
import { addConsoleAccount, login, type AdminSession } from '../support/admin-client.js';
import { ChatClient } from '../support/msrp-client.js';
import { putGroupRooms } from '../support/rooms.js';

// Y1/Y3: every user's service profile, enforced on the wire. history.storeAll stores every pager
// conversation, so the storage switch is seen on conversations too.
const D = 'parley.test';
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hal'] as const;
type Name = (typeof NAMES)[number];
const user = (name: Name) => ({ name, password: `${name}-pw` });

let app: RunningAppliance;
let admin: AdminSession;
let support: AdminSession;
const devices: RawClient[] = [];
const clients: ChatClient[] = [];

beforeAll(async () => {
  app = await startAppliance({ users: Object.fromEntries(NAMES.map((n) => [n, `${n}-pw`])), config: { history: { storeAll: true } } });
  await addConsoleAccount(app, 'root', 'root-password-1');
  await addConsoleAccount(app, 'helpdesk', 'helpdesk-password-1', 'support');
  admin = await login(app, 'root', 'root-password-1');
  support = await login(app, 'helpdesk', 'helpdesk-password-1');
}, 120_000);
afterAll(async () => {
  for (const d of devices) d.close();
  for (const c of clients) c.close();
  await app?.cleanup();
});

/** Sets part of a user's profile through the admin API (the server's cache changes at once). */
async function setProfile(name: Name, change: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await admin.request('PATCH', `/users/${name}/profile`, { json: change });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** A device for `name` answering every MESSAGE 200 (so that messages are delivered, not stored). */
async function online(name: Name): Promise<RawClient> {
  const dev = await RawClient.udp(app.sipPort);
  devices.push(dev);
  expect(await registerContact(app, user(name), `127.0.0.1:${dev.localPort}`)).toMatch(/^SIP\/2\.0 200/);
  return dev;
}

/** `from` sends one MESSAGE to `sip:<to>@D`; the final response. */
const send = (from: Name, to: string, body: string | Buffer, contentType = 'text/plain'): Promise<string> => sendMessage(app, user(from), to, body.toString(), { contentType });

const statusLine = (r: string) => r.split('\r\n')[0];
const cpim = (type: string, text: string) => `From: <sip:x@${D}>\r\nTo: <sip:y@${D}>\r\n\r\nContent-Type: ${type}\r\n\r\n${text}`;

/** Rows of a table in the appliance's store, read as an operator's tool would. */
async function rows(sql: string): Promise<Record<string, unknown>[]> {
  const db = new sqlite3.Database(path.join(app.dataDir, 'parley.sqlite'), sqlite3.OPEN_READONLY);
  try {
    return await new Promise((resolve, reject) => db.all(sql, (err, r) => (err ? reject(err) : resolve(r as Record<string, unknown>[]))));
  } finally {
    db.close();
  }
}

describe('service profile: pager MESSAGE (Y1, Y3)', () => {
  it('refuses a sender without IM with 403, and a message to a recipient without IM with 403', async () => {
    await setProfile('alice', { im: false });
    const own = await send('alice', 'bob', 'no IM for me');
    expect(statusLine(own)).toBe('SIP/2.0 403 Instant messaging is not allowed for your account');
    await setProfile('alice', { im: null });
    await setProfile('bob', { im: false });
    expect(statusLine(await send('alice', 'bob', 'to a user without IM'))).toBe('SIP/2.0 403 The recipient does not take instant messages');
    await setProfile('bob', { im: null });
    // back to the default: the message goes (stored for offline bob: 202)
    expect(statusLine(await send('alice', 'bob', 'IM again'))).toBe('SIP/2.0 202 Accepted');
  });

  it("answers 413 for a message over the sender's or the recipient's maximum size, naming the limit", async () => {
    await setProfile('carol', { maxMessageBytes: 10 });
    expect(statusLine(await send('carol', 'bob', 'twenty bytes of text'))).toBe('SIP/2.0 413 Message too large for your account (at most 10 bytes)');
    expect(statusLine(await send('alice', 'carol', 'twenty bytes of text'))).toBe('SIP/2.0 413 Message too large for the recipient (at most 10 bytes)');
    expect(statusLine(await send('alice', 'carol', 'ten bytes!'))).toBe('SIP/2.0 202 Accepted');
  });

  it('answers 415 with Accept listing what the profile allows; CPIM is judged by its content, IMDNs always pass', async () => {
    await setProfile('dave', { contentTypes: ['text/*', 'Image/PNG'] });
    const refused = await send('alice', 'dave', '{"a":1}', 'application/json');
    expect(statusLine(refused)).toBe('SIP/2.0 415 Content type not accepted by the recipient');
    expect(headerOf(refused, 'Accept')).toEqual(['text/*, image/png']);
    const own = await send('dave', 'alice', '{"a":1}', 'application/json');
    expect(statusLine(own)).toBe('SIP/2.0 415 Content type not allowed for your account');
    expect(headerOf(own, 'Accept')).toEqual(['text/*, image/png']);
    expect(statusLine(await send('alice', 'dave', 'plain', 'text/plain;charset=utf-8'))).toBe('SIP/2.0 202 Accepted');
    expect(statusLine(await send('alice', 'dave', cpim('text/plain', 'wrapped text'), 'message/cpim'))).toBe('SIP/2.0 202 Accepted');
    expect(statusLine(await send('alice', 'dave', cpim('application/json', '{}'), 'message/cpim'))).toBe('SIP/2.0 415 Content type not accepted by the recipient');
    expect(statusLine(await send('alice', 'dave', cpim('message/imdn+xml', '<imdn/>'), 'message/cpim'))).toBe('SIP/2.0 202 Accepted');
  });

  it('answers 480 with a reason, and no Retry-After, when storing was the only way to a recipient without storage', async () => {
    await setProfile('erin', { storage: false });
    const r = await send('alice', 'erin', 'for later');
    expect(statusLine(r)).toBe("SIP/2.0 480 Recipient's service profile does not allow storing messages");
    expect(headerOf(r, 'Retry-After')).toEqual([]);
    // live delivery is not storage: with a device online the message goes through
    const dev = await online('erin');
    const answered = dev.next((m) => m.startsWith('MESSAGE ') && m.includes('live for erin'), 12_000).then((m) => dev.answer(m, 200, 'OK', 'dev'));
    const [live] = await Promise.all([send('alice', 'erin', 'live for erin'), answered]);
    expect(statusLine(live)).toBe('SIP/2.0 200 OK');
  });

  it("stores nothing in the conversations of a user without storage; the peer's conversation keeps the message", async () => {
    await setProfile('frank', { storage: false });
    expect(statusLine(await send('frank', 'gina', 'frank keeps nothing'))).toBe('SIP/2.0 202 Accepted');
    const owners = await eventually(async () => {
      const r = await rows("SELECT c.owner FROM conversations c JOIN conversation_messages m ON m.conversation_id = c.id WHERE c.peers LIKE '%frank%' OR c.peers LIKE '%gina%'");
      return r.length > 0 ? r.map((x) => x.owner) : undefined;
    });
    expect(owners).toEqual([`sip:gina@${D}`]);
  });
});

describe('service profile: group chat (Y1)', () => {
  const listBody = (text: string, names: string[]) => {
    const list = `<?xml version="1.0" encoding="UTF-8"?>\n<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>${names.map((n) => `<entry uri="sip:${n}@${D}"/>`).join('')}</list></resource-lists>`;
    return ['--b1', 'Content-Type: text/plain', '', text, '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', list, '--b1--', ''].join('\r\n');
  };

  it('refuses a list MESSAGE from a user without group chat with 403; a member without it gets no copy (403 in the report)', async () => {
    await setProfile('hal', { groupChat: false });
    const refused = await send('hal', 'conf-factory', listBody('hi all', ['alice', 'bob']), 'multipart/mixed;boundary="b1"');
    expect(statusLine(refused)).toBe('SIP/2.0 403 Group chat is not allowed for your account');
    // alice asks for the per-recipient report; her device takes it
    const dev = await online('alice');
    const client = await RawClient.udp(app.sipPort);
    try {
      const spec = {
        method: 'MESSAGE', uri: `sip:conf-factory@${D}`, from: `sip:alice@${D}`, to: `sip:conf-factory@${D}`, transport: 'UDP' as const, localPort: client.localPort,
        body: listBody('hi list', ['bob', 'hal']), contentType: 'multipart/mixed;boundary="b1"', headers: ['P-Parley-Report: recipients'],
      };
      expect(statusLine(await withDigest(client, spec, user('alice'), 12_000))).toBe('SIP/2.0 202 Accepted');
    } finally {
      client.close();
    }
    const report = await dev.next((m) => m.startsWith('MESSAGE ') && m.includes('recipient-report'), 12_000);
    dev.answer(report, 200, 'OK', 'dev');
    const outcome = JSON.parse(report.slice(report.indexOf('\r\n\r\n') + 4)) as { recipients: { uri: string; status: number }[] };
    expect(outcome.recipients).toEqual([
      { uri: `sip:bob@${D}`, status: 202, reason: 'Accepted' },
      { uri: `sip:hal@${D}`, status: 403, reason: 'The recipient does not take group chat' },
    ]);
  });
});

describe('service profile: one-to-one sessions and MSRP (Y1, Y3)', () => {
  async function chat(name: Name): Promise<ChatClient> {
    const c = await ChatClient.connect(app, name, `${name}-pw`);
    clients.push(c);
    return c;
  }

  it('refuses an INVITE from or to a user without IM with 403', async () => {
    await setProfile('gina', { im: false });
    const gina = await chat('gina');
    expect(statusLine((await gina.invite('bob')).final)).toBe('SIP/2.0 403 Instant messaging is not allowed for your account');
    const bob = await chat('bob');
    expect(statusLine((await bob.invite('gina')).final)).toBe('SIP/2.0 403 The recipient does not take instant messages');
    // an offer whose every accept-type the callee's profile refuses leaves nothing to exchange (RFC 4975 §8.6)
    await setProfile('gina', { im: null, contentTypes: ['image/png'] });
    expect(statusLine((await bob.invite('gina', { acceptTypes: ['text/plain'] })).final)).toBe('SIP/2.0 488 No content type both users may exchange');
    await setProfile('gina', { contentTypes: null });
  });

  it("offers a=accept-types and a=max-size from both profiles, and answers MSRP 415 and 413 to SENDs outside them", async () => {
    await setProfile('carol', { maxMessageBytes: 100, contentTypes: ['text/plain'] });
    const [bob, carol] = [await chat('bob'), await chat('carol')];
    const [bCall, cCall] = await Promise.all([bob.invite('carol', { acceptTypes: ['*'] }), carol.answerInvite({ acceptTypes: ['text/plain', 'image/png', 'message/cpim'] })]);
    expect(statusLine(bCall.final)).toBe('SIP/2.0 200 OK');
    // what carol is offered, and what bob is answered, say what carol's profile takes
    expect(cCall.peerMedia!.acceptTypes).toEqual(['text/plain']);
    expect(cCall.peerMedia!.maxSize).toBe(100);
    expect(bCall.peerMedia!.acceptTypes).toEqual(['text/plain', 'message/cpim']);
    expect(bCall.peerMedia!.maxSize).toBe(100);
    const got = new Promise<string>((resolve) => {
      cCall.session.onMessage = (m) => {
        m.report(200);
        resolve(m.body.toString());
      };
    });
    expect((await bCall.session.send('image/png', Buffer.from('not a png'))).status).toBe(415);
    expect((await bCall.session.send('text/plain', Buffer.alloc(200, 'x'))).status).toBe(413);
    expect((await bCall.session.send('text/plain', Buffer.from('fits'))).status).toBe(200);
    expect(await got).toBe('fits');
    await bob.bye(bCall);
  });
});

describe('service profile: chat rooms (Y1, Y3)', () => {
  async function chat(name: Name): Promise<ChatClient> {
    const c = await ChatClient.connect(app, name, `${name}-pw`);
    clients.push(c);
    return c;
  }

  it("refuses a user without group chat a room (403), and holds a participant's messages to their own profile (MSRP 415, 413)", async () => {
    expect(await putGroupRooms(app, 'alice', [{ name: 'lounge' }])).toBe(201);
    await setProfile('hal', { groupChat: false });
    expect(statusLine((await (await chat('hal')).invite('lounge')).final)).toBe('SIP/2.0 403 Group chat is not allowed for your account');
    await setProfile('frank', { maxMessageBytes: 300, contentTypes: ['text/plain'] });
    const call = await (await chat('frank')).invite('lounge', { acceptTypes: ['message/cpim'] });
    expect(statusLine(call.final)).toBe('SIP/2.0 200 OK');
    expect(call.peerMedia!.acceptWrappedTypes).toEqual(['text/plain']);
    expect(call.peerMedia!.maxSize).toBe(300);
    const wrapped = (type: string, text: string) => Buffer.from(`From: <sip:frank@${D}>\r\nTo: <sip:lounge@${D}>\r\n\r\nContent-Type: ${type}\r\n\r\n${text}`);
    expect((await call.session.send('message/cpim', wrapped('image/png', 'png'))).status).toBe(415);
    expect((await call.session.send('message/cpim', wrapped('text/plain', 'x'.repeat(400)))).status).toBe(413);
    expect((await call.session.send('message/cpim', wrapped('text/plain', 'hello room'))).status).toBe(200);
  });
});

describe('service profile: admin API and CLI', () => {
  it('lets support read and only admin change; a change is audit-logged with before and after', async () => {
    const read = await support.request('GET', '/users/alice/profile');
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual({
      im: true, groupChat: true, storage: true, maxMessageBytes: 16 * 2 ** 20, contentTypes: [],
      defaults: { im: true, groupChat: true, storage: true, maxMessageBytes: 16 * 2 ** 20, contentTypes: [] },
      overrides: { im: null, groupChat: null, storage: null, maxMessageBytes: null, contentTypes: null },
    });
    expect((await support.request('PATCH', '/users/alice/profile', { json: { im: false } })).status).toBe(403);
    const bad = await admin.request('PATCH', '/users/alice/profile', { json: { contentTypes: ['not a type'] } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { field?: string } }).error.field).toMatch(/^contentTypes/);
    expect((await admin.request('GET', '/users/nobody/profile')).status).toBe(404);
    const changed = await setProfile('alice', { storage: false, maxMessageBytes: 5000 });
    expect(changed).toMatchObject({ storage: false, maxMessageBytes: 5000, overrides: { storage: false, maxMessageBytes: 5000, im: null } });
    const audit = await admin.request('GET', '/audit?action=user.profile');
    const entries = ((await audit.json()) as { items: { action: string; target: string; before: unknown; after: unknown }[] }).items.filter((e) => e.target === 'alice');
    expect(entries[0]).toMatchObject({ action: 'user.profile', before: { storage: null, maxMessageBytes: null }, after: { storage: false, maxMessageBytes: 5000 } });
    await setProfile('alice', { storage: null, maxMessageBytes: null });
  });

  it('parley user profile shows and changes a profile; the running server follows the change', async () => {
    expect(await app.cli('user', 'profile', 'bob')).toContain('im: on (default)');
    const out = await app.cli('user', 'profile', 'bob', '--im', 'off', '--content-types', 'text/plain,text/html', '--max-message-bytes', '2048');
    expect(out).toContain('im: off\n');
    expect(out).toContain('content-types: text/plain,text/html\n');
    expect(out).toContain('max-message-bytes: 2048\n');
    // the server's cache reloads when another process commits (waiting for the 403 that says so)
    await eventually(async () => statusLine(await send('alice', 'bob', 'after the CLI')) === 'SIP/2.0 403 The recipient does not take instant messages', 30_000);
    expect(await app.cli('user', 'profile', 'bob', '--im', 'default', '--content-types', 'default', '--max-message-bytes', 'default')).toContain('im: on (default)');
    await expect(app.cli('user', 'profile', 'bob', '--im', 'maybe')).rejects.toThrow(/--im takes on, off or default/);
    // four CLI processes (a Node start each) and a reload: seconds on a loaded machine
  }, 120_000);
});
