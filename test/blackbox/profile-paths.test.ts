import path from 'node:path';
import sqlite3 from 'sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { ChatClient, type Call } from '../support/msrp-client.js';
import { headerOf } from '../support/raw-client.js';
import { ImUser, bodyOf, cpimWithImdn, imdnElement, imdnStatus } from '../support/im-user.js';
import { addConsoleAccount, login, type AdminSession } from '../support/admin-client.js';
import { inbox, putGroupRooms } from '../support/rooms.js';
import type { ReceivedMessage, ReceivedReport } from '../../appliance/src/msrp/msrp-session.js';

// Y1/Y3 on the paths where the other end's profile was not yet enforced: a room message to the
// other participants, the legs of users the focus invites, and REFER. Each check is on the wire.
const D = 'parley.test';
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hal', 'ivy'] as const;
type Name = (typeof NAMES)[number];

let app: RunningAppliance;
let admin: AdminSession;
const clients: ChatClient[] = [];

beforeAll(async () => {
  app = await startAppliance({ users: Object.fromEntries(NAMES.map((n) => [n, `${n}-pw`])) });
  await addConsoleAccount(app, 'root', 'root-password-1');
  admin = await login(app, 'root', 'root-password-1');
  expect(await putGroupRooms(app, 'alice', [{ name: 'hall' }])).toBe(201);
}, 120_000);
afterAll(async () => {
  for (const c of clients) c.close();
  await app?.cleanup();
});

/** Sets part of a user's profile through the admin API (the server's cache changes at once). */
async function setProfile(name: Name, change: Record<string, unknown>): Promise<void> {
  expect((await admin.request('PATCH', `/users/${name}/profile`, { json: change })).status).toBe(200);
}

async function client(name: Name, register = false): Promise<ChatClient> {
  const c = await ChatClient.connect(app, name, `${name}-pw`, register);
  clients.push(c);
  return c;
}

/** The text a participant received, out of the room's CPIM. */
const textOf = (m: ReceivedMessage) => m.body.toString().split('\r\n\r\n').slice(2).join('\r\n\r\n');
const statusOf = (res: string) => res.split('\r\n')[0].slice(8);
const cpim = (from: Name, to: string, type: string, text: string) => Buffer.from(`From: <sip:${from}@${D}>\r\nTo: <${to}>\r\n\r\nContent-Type: ${type}\r\n\r\n${text}`);
/** Every REPORT a call's session receives; `reportOf` waits for the one about a message. */
function reports(call: Call): ReceivedReport[] {
  const got: ReceivedReport[] = [];
  call.session.onReport = (r) => got.push(r);
  return got;
}
const reportOf = (got: ReceivedReport[], messageId: string) => eventually(() => got.find((r) => r.messageId === messageId), 10_000);

/** Rows of a table in the appliance's store, read as an operator's tool would. */
async function rows(sql: string): Promise<Record<string, unknown>[]> {
  const db = new sqlite3.Database(path.join(app.dataDir, 'parley.sqlite'), sqlite3.OPEN_READONLY);
  try {
    return await new Promise((resolve, reject) => db.all(sql, (err, r) => (err ? reject(err) : resolve(r as Record<string, unknown>[]))));
  } finally {
    db.close();
  }
}

describe("rooms: every participant's own limits (Y1, Y3)", () => {
  it("gives a participant no copy of a room message their profile refuses (type, size, group chat switched off); the others get it, and the sender hears of a refusal only when nobody could take it", async () => {
    await setProfile('bob', { contentTypes: ['text/plain'], maxMessageBytes: 50 });
    const calls = {} as Record<'alice' | 'bob' | 'carol', Call>;
    const joined = {} as Record<'alice' | 'bob' | 'carol', ChatClient>;
    for (const n of ['alice', 'bob', 'carol'] as const) {
      joined[n] = await client(n);
      calls[n] = await joined[n].invite('hall', { acceptTypes: ['message/cpim', 'text/plain', 'image/png'] });
      expect(statusOf(calls[n].final)).toBe('200 OK');
    }
    // bob's own leg says what his profile takes (RFC 4975 §8.6)
    expect(calls.bob.peerMedia!.acceptWrappedTypes).toEqual(['text/plain']);
    expect(calls.bob.peerMedia!.maxSize).toBe(50);
    const got = { bob: inbox(calls.bob), carol: inbox(calls.carol) };
    const heard = reports(calls.alice);
    const send = (type: string, text: string, to = `sip:hall@${D}`) => calls.alice.session.send('message/cpim', cpim('alice', to, type, text), { successReport: true });
    const a = await send('image/png', 'a picture');
    const b = await send('text/plain', 'x'.repeat(80));
    expect([a.status, b.status, (await send('text/plain', 'short')).status]).toEqual([200, 200, 200]);
    await eventually(() => got.carol.length >= 3, 10_000);
    await eventually(() => got.bob.length >= 1, 10_000);
    expect(got.carol.map(textOf)).toEqual(['a picture', 'x'.repeat(80), 'short']);
    // the leg keeps the order: bob's first message is the third, so the two before never came
    expect(got.bob.map(textOf)).toEqual(['short']);
    // the room took them: success (RFC 4975 §7.1.2), without naming who was left out
    expect(await reportOf(heard, a.messageId)).toMatchObject({ status: 200 });
    expect(await reportOf(heard, b.messageId)).toMatchObject({ status: 200 });

    // carol's group chat is switched off while she is in the room: she gets nothing more
    await setProfile('carol', { groupChat: false });
    const none = await send('image/png', 'nobody takes this');
    // no other participant's profile took it, so the message failed: a REPORT with bob's refusal
    expect(await reportOf(heard, none.messageId)).toMatchObject({ status: 415, comment: 'No participant accepts this message (Content type not accepted by the recipient)' });
    const one = await send('text/plain', 'bob only');
    expect(await reportOf(heard, one.messageId)).toMatchObject({ status: 200 });
    await eventually(() => got.bob.length >= 2, 10_000);
    expect(got.bob.map(textOf)).toEqual(['short', 'bob only']);
    expect(got.carol.map(textOf)).toEqual(['a picture', 'x'.repeat(80), 'short']);

    // a private message (RFC 7701 §8) to a participant whose profile refuses it: a REPORT with their reason
    const big = await send('text/plain', 'y'.repeat(60), `sip:bob@${D}`);
    expect(await reportOf(heard, big.messageId)).toMatchObject({ status: 413, comment: 'Message too large for the recipient (at most 50 bytes)' });
    const off = await send('text/plain', 'hi carol', `sip:carol@${D}`);
    expect(await reportOf(heard, off.messageId)).toMatchObject({ status: 403, comment: 'The recipient does not take group chat' });
    expect(got.bob.length + got.carol.length).toBe(5);
    // carol leaves: a private message to her would wait in her deferred storage (S8), but her profile takes no group chat
    expect(statusOf(await joined.carol.bye(calls.carol))).toBe('200 OK');
    const later = await send('text/plain', 'for when you are back', `sip:carol@${D}`);
    expect(await reportOf(heard, later.messageId)).toMatchObject({ status: 403, comment: 'The recipient does not take group chat' });
    expect(await rows("SELECT id FROM deferred_messages WHERE recipient = 'carol'")).toEqual([]);
    await setProfile('bob', { contentTypes: null, maxMessageBytes: null });
    await setProfile('carol', { groupChat: null });
  });
});

describe("invited legs: the invitee's profile (Y1, Y3)", () => {
  const list = (names: string[]) =>
    `<?xml version="1.0" encoding="UTF-8"?>\r\n<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>${names.map((n) => `<entry uri="sip:${n}@${D}"/>`).join('')}</list></resource-lists>`;
  const wrap = (names: string[]) => (sdp: string) => ({
    body: ['--b1', 'Content-Type: application/sdp', '', sdp, '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', list(names), '--b1--', ''].join('\r\n'),
    contentType: 'multipart/mixed;boundary=b1',
  });

  it("offers an invitee a leg narrowed to their profile and holds them to it; a user without group chat is not invited, and a REFER for them ends in a 403 sipfrag", async () => {
    await setProfile('dave', { maxMessageBytes: 1000 });
    await setProfile('erin', { groupChat: false });
    await setProfile('frank', { contentTypes: ['text/plain'], maxMessageBytes: 80 });
    const [dave, erin, frank] = [await client('dave', true), await client('erin', true), await client('frank', true)];
    // dave creates an ad-hoc room with erin and frank (RFC 5366): only frank is invited
    const [created, frankCall] = await Promise.all([dave.invite('conf-factory', { wrap: wrap(['erin', 'frank']) }), frank.answerInvite()]);
    expect(statusOf(created.final)).toBe('200 OK');
    // the creator's own leg is narrowed to the creator's profile
    expect(created.peerMedia!.maxSize).toBe(1000);
    // the focus's offer to frank says what frank's profile takes
    expect(frankCall.peerMedia!.acceptTypes).toEqual(['message/cpim']);
    expect(frankCall.peerMedia!.acceptWrappedTypes).toEqual(['text/plain']);
    expect(frankCall.peerMedia!.maxSize).toBe(80);
    // and frank's SENDs outside it are refused on the chunk (RFC 4975 §7.3.1)
    expect((await frankCall.session.send('image/png', Buffer.from('png'))).status).toBe(415);
    expect((await frankCall.session.send('text/plain', Buffer.alloc(100, 'z'))).status).toBe(413);
    const daveGot = inbox(created);
    expect((await frankCall.session.send('text/plain', Buffer.from('hello dave'))).status).toBe(200);
    await eventually(() => daveGot.length >= 1, 10_000);
    expect(daveGot.map(textOf)).toEqual(['hello dave']);
    await expect(erin.sip.next((x) => x.startsWith('INVITE '), 0)).rejects.toThrow(/no matching message/);

    // REFER erin (RFC 4579 §5.5): accepted, and the NOTIFY's sipfrag is the focus's 403, with its reason (RFC 3515 §2.4.5)
    const referred = await dave.inDialog(created, 'REFER', [`Refer-To: <sip:erin@${D}>`]);
    expect(statusOf(referred)).toBe('202 Accepted');
    const notify = await dave.sip.next((x) => x.startsWith('NOTIFY ') && headerOf(x, 'Call-ID')[0] === created.callId, 10_000);
    dave.sip.answer(notify);
    expect(notify.slice(notify.indexOf('\r\n\r\n') + 4)).toBe('SIP/2.0 403 The recipient does not take group chat\r\n');
    await expect(erin.sip.next((x) => x.startsWith('INVITE '), 0)).rejects.toThrow(/no matching message/);
    for (const n of ['dave', 'erin', 'frank'] as const) await setProfile(n, { groupChat: null, contentTypes: null, maxMessageBytes: null });
  });
});

describe("the exploder: a member's profile in the sender's IMDN (Y1, P5)", () => {
  it('a member without group chat gets no copy, and the sender who asked for negative-delivery gets a <forbidden/> delivery notification for them', async () => {
    await setProfile('ivy', { groupChat: false });
    const gina = await ImUser.open(app, 'gina', 'gina-pw');
    const ivy = await ImUser.open(app, 'ivy', 'ivy-pw');
    try {
      expect(await gina.register()).toMatch(/^SIP\/2\.0 200 /);
      expect(await ivy.register()).toMatch(/^SIP\/2\.0 200 /);
      const factory = `sip:conf-factory@${D}`;
      const cpimBody = cpimWithImdn({ from: gina.aor, to: factory, messageId: 'list-no-group-chat', dateTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), dispositions: 'negative-delivery', text: 'hello list' });
      const list = `<?xml version="1.0" encoding="UTF-8"?><resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list><entry uri="${ivy.aor}"/></list></resource-lists>`;
      const body = ['--b1', 'Content-Type: message/cpim', '', cpimBody, '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', list, '--b1--', ''].join('\r\n');
      expect(await gina.message('conf-factory', 'multipart/mixed;boundary="b1"', body)).toMatch(/^SIP\/2\.0 202 /);
      const note = bodyOf(await gina.received('the negative notification for ivy', (m) => m.includes('list-no-group-chat'), 20_000));
      const xml = note.slice(note.indexOf('<?xml'));
      expect(imdnElement(xml, 'original-recipient-uri')).toBe(ivy.aor);
      expect(imdnStatus(xml)).toEqual({ kind: 'delivery', status: 'forbidden' });
      await expect(ivy.sip.next((m) => m.startsWith('MESSAGE ') && m.includes('hello list'), 0)).rejects.toThrow(/no matching message/);
    } finally {
      gina.close();
      ivy.close();
      await setProfile('ivy', { groupChat: null });
    }
  });
});

describe("deferred push: the recipient's profile at push time (Y1, Y3)", () => {
  it('drops a stored message the recipient\'s profile no longer takes when its push comes: a negative delivery notification if asked, a usage record, and the rest delivered', async () => {
    const gina = await ImUser.open(app, 'gina', 'gina-pw');
    const hal = await ImUser.open(app, 'hal', 'hal-pw');
    try {
      expect(await gina.register()).toMatch(/^SIP\/2\.0 200 /);
      const dateTime = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const big = cpimWithImdn({ from: gina.aor, to: hal.aor, messageId: 'grew-too-big', dateTime, dispositions: 'positive-delivery, negative-delivery', text: 'b'.repeat(500) });
      // hal is offline: both wait in deferred storage
      expect(await gina.message('hal', 'message/cpim', big)).toMatch(/^SIP\/2\.0 202 /);
      expect(await gina.message('hal', 'text/plain', 'small enough')).toMatch(/^SIP\/2\.0 202 /);
      // while they wait, hal's limit drops below the first one
      await setProfile('hal', { maxMessageBytes: 400 });
      expect(await hal.register()).toMatch(/^SIP\/2\.0 200 /);
      const small = await hal.received('the message that still fits', (m) => m.includes('small enough'), 15_000);
      expect(bodyOf(small)).toBe('small enough');
      // pushed in order: had the first been pushed, it would have come before
      await expect(hal.sip.next((m) => m.startsWith('MESSAGE ') && m.includes('b'.repeat(500)), 0)).rejects.toThrow(/no matching message/);
      const note = await gina.received('the negative delivery notification', (m) => m.includes('grew-too-big'), 15_000);
      const xml = bodyOf(note).slice(bodyOf(note).indexOf('<?xml'));
      expect(imdnElement(xml, 'message-id')).toBe('grew-too-big');
      expect(imdnStatus(xml)).toEqual({ kind: 'delivery', status: 'failed' });
      const record = await eventually(async () => (await rows("SELECT outcome, status, reason FROM usage_records WHERE kind = 'deferred' AND outcome = 'refused'"))[0], 15_000);
      expect(record).toEqual({ outcome: 'refused', status: 413, reason: 'Message too large for the recipient (at most 400 bytes)' });
      // nothing of it is left waiting
      expect(await rows(`SELECT id FROM deferred_messages WHERE recipient = 'hal'`)).toEqual([]);
    } finally {
      gina.close();
      hal.close();
      await setProfile('hal', { maxMessageBytes: null });
    }
  });
});

describe('passthrough sessions: the SDP between the clients narrowed to both profiles (Y3, RFC 4975 §8.6)', () => {
  let direct: RunningAppliance;
  let root: AdminSession;
  const open: ChatClient[] = [];
  beforeAll(async () => {
    direct = await startAppliance({ users: { alice: 'alice-pw', bob: 'bob-pw' }, config: { sessions: { media: 'passthrough' } } });
    await addConsoleAccount(direct, 'root', 'root-password-1');
    root = await login(direct, 'root', 'root-password-1');
  }, 120_000);
  afterAll(async () => {
    for (const c of open) c.close();
    await direct?.cleanup();
  });
  const connect = async (name: 'alice' | 'bob') => {
    const c = await ChatClient.connect(direct, name, `${name}-pw`);
    open.push(c);
    return c;
  };

  it("passes the offer and the answer on with a=accept-types and a=max-size both profiles allow, and refuses with 488 an offer or answer that leaves nothing", async () => {
    expect((await root.request('PATCH', '/users/bob/profile', { json: { contentTypes: ['text/plain'], maxMessageBytes: 100 } })).status).toBe(200);
    const [alice, bob] = [await connect('alice'), await connect('bob')];
    const [aCall, bCall] = await Promise.all([
      alice.invite('bob', { setup: 'active', acceptTypes: ['text/plain', 'image/png', 'message/cpim'] }),
      bob.answerInvite({ setup: 'passive', acceptTypes: ['text/plain', 'image/png'], maxSize: 5000 }),
    ]);
    expect(statusOf(aCall.final)).toBe('200 OK');
    // still end to end: each client's path is the other's own
    expect(bCall.peerMedia!.path).toBe(aCall.session.localPath);
    expect(aCall.peerMedia!.path).toBe(bCall.session.localPath);
    // what bob is offered, and what alice is answered, say what bob's profile takes
    expect(bCall.peerMedia).toMatchObject({ acceptTypes: ['text/plain', 'message/cpim'], maxSize: 100 });
    expect(aCall.peerMedia).toMatchObject({ acceptTypes: ['text/plain'], maxSize: 100 });
    await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);

    // an offer of nothing bob may take: refused before bob's device rings
    expect(statusOf((await alice.invite('bob', { acceptTypes: ['image/png'] })).final)).toBe('488 No content type both users may exchange');
    await expect(bob.sip.next((x) => x.startsWith('INVITE '), 0)).rejects.toThrow(/no matching message/);
    // an answer of nothing bob may take: the callee's dialog ends, the caller gets 488
    const [refused, answered] = await Promise.all([alice.invite('bob', { setup: 'active' }), bob.answerInvite({ setup: 'passive', acceptTypes: ['image/png'] })]);
    expect(statusOf(refused.final)).toBe("488 Callee's answer: no content type both users may exchange");
    await bob.awaitBye(answered);
  });
});
