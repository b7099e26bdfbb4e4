import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { ChatClient } from '../support/msrp-client.js';
import { headerOf } from '../support/raw-client.js';
import { Subscriber, type Notify } from '../support/subscriber.js';
import { inbox, putBlock, putGroupRooms } from '../support/rooms.js';
import { closeConferenceInfoValidator, conferenceInfoErrors, readConferenceInfo, type ConferenceInfo, type UserInfo } from '../support/conference-info.js';
import { addConsoleAccount, login } from '../support/admin-client.js';
import type { ReceivedReport } from '../../appliance/src/msrp/msrp-session.js';

const D = 'parley.test';
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank'] as const;
type Name = (typeof NAMES)[number];
const CONF = 'application/conference-info+xml';
let app: RunningAppliance;
const clients: ChatClient[] = [];
const subscribers: Subscriber[] = [];

beforeAll(async () => {
  // a small per-leg queue, so that the slow-participant test fills it cheaply
  app = await startAppliance({ users: Object.fromEntries(NAMES.map((n) => [n, `${n}-pw`])), config: { conference: { maxQueuePerLeg: 8 } } });
  // pre-defined rooms: the private group "crew" (alice, bob, carol, dave) and the public "hall"
  expect(await putGroupRooms(app, 'alice', [
    { name: 'crew', displayName: 'The Crew &amp; friends', members: ['alice', 'bob', 'carol', 'dave'], maxParticipants: 5 },
    { name: 'hall' },
  ])).toBe(201);
  // carol blocks dave (Y2)
  expect(await putBlock(app, 'carol', 'dave')).toBe(201);
});
afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of subscribers) s.close();
  await closeConferenceInfoValidator();
  await app?.cleanup();
});

async function client(name: Name, register = false): Promise<ChatClient> {
  const c = await ChatClient.connect(app, name, `${name}-pw`, register);
  clients.push(c);
  return c;
}

async function subscriber(name: Name): Promise<Subscriber> {
  const s = await Subscriber.udp(app, name);
  subscribers.push(s);
  return s;
}


/**
 * A subscriber's view of a room, kept as a client keeps it (RFC 4575): the full document
 * replaces it, partial ones change the users they name (full: replaced, partial: endpoints
 * merged, deleted: removed). Every document is kept, to check versions and the schema.
 */
class RoomView {
  readonly docs: ConferenceInfo[] = [];
  readonly raw: string[] = [];
  users = new Map<string, UserInfo>();

  apply(body: string): ConferenceInfo {
    const doc = readConferenceInfo(body);
    this.docs.push(doc);
    this.raw.push(body);
    if (doc.state === 'full') this.users = new Map();
    for (const u of doc.users) {
      if (u.state === 'deleted') this.users.delete(u.entity);
      else if (u.state === 'full' || !this.users.has(u.entity)) this.users.set(u.entity, u);
      else {
        const old = this.users.get(u.entity)!;
        const endpoints = old.endpoints.filter((e) => !u.endpoints.some((n) => n.entity === e.entity));
        this.users.set(u.entity, { ...old, displayText: u.displayText ?? old.displayText, endpoints: [...endpoints, ...u.endpoints.filter((e) => e.state !== 'deleted')] });
      }
    }
    return doc;
  }

  /** The user entry of a participant (or of anyone invited), as the view has it now. */
  user(name: Name | 'ghost'): UserInfo | undefined {
    return this.users.get(`sip:${name}@${D}`);
  }

  /** Every user element any document said about a participant, in order. */
  history(name: Name): UserInfo[] {
    return this.docs.flatMap((d) => d.users.filter((u) => u.entity === `sip:${name}@${D}`));
  }

  /** Versions count up by one from the first document (RFC 4575: per subscription), and every document is schema-valid. */
  async check(): Promise<void> {
    expect(this.docs.map((d) => d.version)).toEqual(this.docs.map((_, i) => this.docs[0].version + i));
    for (const body of this.raw) expect(await conferenceInfoErrors(body), body).toEqual([]);
  }
}

/** Follows a subscription's NOTIFYs into a RoomView until `done` holds for it. */
async function watchUntil(s: Subscriber, view: RoomView, what: string, done: (v: RoomView) => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!done(view)) {
    if (Date.now() > end) throw new Error(`the room view never showed ${what}`);
    const n: Notify = await s.nextNotify(Math.max(1, end - Date.now()));
    expect(n.contentType).toBe(CONF);
    view.apply(n.body);
  }
}

describe('the conference event package (RFC 4575) for chat rooms (S5)', () => {
  it('gives whoever may join a full then partial participant list: joins, nicknames, departures, with versions one up and every document schema-valid', async () => {
    const alice = await client('alice');
    const aliceCall = await alice.invite('crew');
    expect(aliceCall.final).toMatch(/^SIP\/2\.0 200 OK/);

    // someone the private group does not admit may not watch it; a URI with no room is 404
    expect((await (await subscriber('erin')).subscribe({ event: 'conference', target: 'crew', accept: CONF })).split('\r\n')[0]).toBe('SIP/2.0 403 Only those who may join this room may watch it');
    expect((await (await subscriber('erin')).subscribe({ event: 'conference', target: 'no-such-room', accept: CONF })).split('\r\n')[0]).toBe('SIP/2.0 404 Not Found');

    // dave is a member, not in the room: he may watch it
    const dave = await subscriber('dave');
    expect(await dave.subscribe({ event: 'conference', target: 'crew', accept: CONF })).toMatch(/^SIP\/2\.0 200/);
    const view = new RoomView();
    const first = view.apply((await dave.nextNotify()).body);
    expect(first).toMatchObject({ entity: `sip:crew@${D}`, state: 'full', subject: 'The Crew & friends', availableMedia: ['message'], userCount: 1 });
    expect(first.users).toEqual([
      {
        entity: `sip:alice@${D}`,
        state: 'full',
        displayText: null,
        roles: ['participant'],
        endpoints: [expect.objectContaining({ state: 'full', status: 'connected', joiningMethod: 'dialed-in', disconnectionMethod: null })],
      },
    ]);

    // bob joins, then picks a nickname
    const bob = await client('bob');
    const bobCall = await bob.invite('crew');
    expect(bobCall.final).toMatch(/^SIP\/2\.0 200 OK/);
    await watchUntil(dave, view, 'bob connected', (v) => v.user('bob')?.endpoints[0]?.status === 'connected');
    expect((await bobCall.session.sendNickname('Bobby')).status).toBe(200);
    await watchUntil(dave, view, "bob's nickname", (v) => v.user('bob')?.displayText === 'Bobby');
    expect(view.docs.slice(1).every((d) => d.state === 'partial')).toBe(true);

    // bob leaves: deleted, his endpoint disconnected because he departed
    expect(await bob.bye(bobCall)).toMatch(/^SIP\/2\.0 200/);
    await watchUntil(dave, view, 'bob gone', (v) => v.user('bob') === undefined && v.docs.length > 1);
    const gone = view.history('bob').at(-1)!;
    expect(gone).toMatchObject({ state: 'deleted', endpoints: [expect.objectContaining({ state: 'deleted', status: 'disconnected', disconnectionMethod: 'departed' })] });
    expect(view.docs.at(-1)!.userCount).toBe(1);
    await view.check();
  });

  it('shows a participant dropped for a slow leg as booted, with the reason', async () => {
    const frank = await client('frank');
    const frankCall = await frank.invite('hall');
    const watcher = await subscriber('carol');
    expect(await watcher.subscribe({ event: 'conference', target: 'hall', accept: CONF })).toMatch(/^SIP\/2\.0 200/);
    const view = new RoomView();
    view.apply((await watcher.nextNotify()).body);
    // erin binds her MSRP leg over a raw connection and then never answers a SEND
    const erinClient = await client('erin');
    const erin = await erinClient.invite('hall', { connect: false });
    expect(erin.final).toMatch(/^SIP\/2\.0 200 OK/);
    const sock = net.connect(app.msrpPort, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.on('error', () => undefined);
    const bound = new Promise<string>((resolve) => sock.once('data', (d: Buffer) => resolve(d.toString('latin1').split('\r\n')[0])));
    sock.write(`MSRP bind0001 SEND\r\nTo-Path: ${erin.peerMedia!.path}\r\nFrom-Path: ${erin.session.localPath}\r\nMessage-ID: b1\r\nByte-Range: 1-0/0\r\n-------bind0001$\r\n`);
    expect(await bound).toBe('MSRP bind0001 200 OK');
    await watchUntil(watcher, view, 'erin in', (v) => v.user('erin') !== undefined);
    for (let i = 0; i < 12; i++) expect((await frankCall.session.send('text/plain', Buffer.from(`m${i}`))).status).toBe(200);
    await erinClient.awaitBye(erin);
    await watchUntil(watcher, view, 'erin dropped', (v) => v.user('erin') === undefined);
    expect(view.history('erin').at(-1)!.endpoints[0]).toMatchObject({ status: 'disconnected', disconnectionMethod: 'booted', reason: 'Too slow: 8 messages waiting' });
    await view.check();
    sock.destroy();
  });

  it('takes a SUBSCRIBE inside the participant’s INVITE dialog with the focus (RFC 6665 §4.5.2), as some clients send it', async () => {
    const carol = await client('carol');
    const call = await carol.invite('crew');
    expect(call.final).toMatch(/^SIP\/2\.0 200 OK/);
    const res = await carol.inDialog(call, 'SUBSCRIBE', ['Event: conference', 'Expires: 600', `Accept: ${CONF}`]);
    expect(res).toMatch(/^SIP\/2\.0 200/);
    // the dialog is the INVITE's: same Call-ID and tags
    expect(headerOf(res, 'To')[0]).toBe(call.remote);
    const notify = await carol.sip.next((x) => x.startsWith('NOTIFY ') && headerOf(x, 'Call-ID')[0] === call.callId, 10_000);
    carol.sip.answer(notify);
    expect(headerOf(notify, 'Event')).toEqual(['conference']);
    expect(headerOf(notify, 'Subscription-State')[0]).toMatch(/^active;expires=/);
    const body = notify.slice(notify.indexOf('\r\n\r\n') + 4);
    const doc = readConferenceInfo(body);
    expect(doc.state).toBe('full');
    expect(doc.users.map((u) => u.entity)).toContain(`sip:carol@${D}`);
    expect(await conferenceInfoErrors(body)).toEqual([]);
    expect(await carol.bye(call)).toMatch(/^SIP\/2\.0 200/);
  });
});

describe('the conference event package for ad-hoc rooms', () => {
  it('lets the creator and the invited watch (others 403), and ends the subscriptions with noresource when the room closes', async () => {
    const [dave, frank] = await Promise.all([client('dave', true), client('frank', true)]);
    const list = `<?xml version="1.0" encoding="UTF-8"?>\r\n<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list><entry uri="sip:frank@${D}"/></list></resource-lists>`;
    const wrap = (sdp: string) => ({
      body: ['--b1', 'Content-Type: application/sdp', '', sdp, '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', list, '--b1--', ''].join('\r\n'),
      contentType: 'multipart/mixed;boundary=b1',
    });
    const [created, frankCall] = await Promise.all([dave.invite('conf-factory', { wrap, headers: ['Subject: Lunch plans'] }), frank.answerInvite()]);
    expect(created.final).toMatch(/^SIP\/2\.0 200 OK/);
    const room = /<sip:(chat-[0-9a-f]+)@/.exec(headerOf(created.final, 'Contact')[0])![1];
    expect((await (await subscriber('alice')).subscribe({ event: 'conference', target: room, accept: CONF })).split('\r\n')[0]).toBe('SIP/2.0 403 Only those who may join this room may watch it');
    const watcher = await subscriber('frank');
    expect(await watcher.subscribe({ event: 'conference', target: room, accept: CONF })).toMatch(/^SIP\/2\.0 200/);
    const view = new RoomView();
    await watchUntil(watcher, view, 'dave and frank', (v) => v.user('dave') !== undefined && v.user('frank') !== undefined);
    expect(view.docs[0]).toMatchObject({ entity: `sip:${room}@${D}`, subject: 'Lunch plans' });
    // frank was dialled out by the focus, at dave's request
    expect(view.user('frank')!.endpoints[0].joiningMethod).toBe('dialed-out');
    expect(await dave.bye(created)).toMatch(/^SIP\/2\.0 200/);
    expect(await frank.bye(frankCall)).toMatch(/^SIP\/2\.0 200/);
    const last = await watcher.notifyWhere((n) => n.state.startsWith('terminated'));
    expect(last.state).toBe('terminated;reason=noresource');
    await view.check();
  });
});

describe('invitees of an ad-hoc room in its conference-info (RFC 5366 §3.1, RFC 4575 §5.6)', () => {
  it('shows the creator every listed invitee: pending, dialing-out, alerting, then connected, or disconnected with busy/failed and the SIP status as the reason', async () => {
    // erin's service profile takes no group chat (Y1); carol blocks dave (beforeAll, Y2); gina is
    // a user with no device registered; ghost is no user at all; bob answers busy; hank joins
    await addConsoleAccount(app, 'root', 'root-password-1');
    const admin = await login(app, 'root', 'root-password-1');
    expect((await admin.request('PATCH', '/users/erin/profile', { json: { groupChat: false } })).status).toBe(200);
    try {
      const [dave, bob, hank] = await Promise.all([client('dave', true), client('bob', true), client('hank', true)]);
      const listed = ['ghost', 'erin', 'carol', 'gina', 'bob', 'hank'] as const;
      const list = `<?xml version="1.0" encoding="UTF-8"?>\r\n<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>${listed.map((n) => `<entry uri="sip:${n}@${D}"/>`).join('')}</list></resource-lists>`;
      const wrap = (sdp: string) => ({
        body: ['--b1', 'Content-Type: application/sdp', '', sdp, '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', list, '--b1--', ''].join('\r\n'),
        contentType: 'multipart/mixed;boundary=b1',
      });
      // the 200 says only that the room exists and dave is in it (RFC 5366 §3.1)
      const created = await dave.invite('conf-factory', { wrap });
      expect(created.final).toMatch(/^SIP\/2\.0 200 OK/);
      const room = /<sip:(chat-[0-9a-f]+)@/.exec(headerOf(created.final, 'Contact')[0])![1];
      const watcher = await subscriber('dave');
      expect(await watcher.subscribe({ event: 'conference', target: room, accept: CONF })).toMatch(/^SIP\/2\.0 200/);
      const view = new RoomView();
      view.apply((await watcher.nextNotify()).body);
      // the first (full) document already names every invitee, each with one endpoint: the AOR the focus dials
      expect([...view.users.keys()].sort()).toEqual(['dave', ...listed].map((n) => `sip:${n}@${D}`).sort());
      for (const n of listed) expect(view.user(n)!.endpoints.map((e) => e.entity)).toEqual([`sip:${n}@${D}`]);
      // bob and hank have not answered yet: the focus is dialling them
      const status = (n: (typeof listed)[number]) => view.user(n)?.endpoints[0]?.status;
      await watchUntil(watcher, view, 'bob and hank dialled, the other four disconnected', () =>
        status('bob') === 'dialing-out' && status('hank') === 'dialing-out' && (['ghost', 'erin', 'carol', 'gina'] as const).every((n) => status(n) === 'disconnected'),
      );
      // bob's device rings (180: alerting), then answers busy; hank answers
      const bobCall = await bob.answerInvite({ ringing: () => watchUntil(watcher, view, 'bob alerting', () => status('bob') === 'alerting') }, 486);
      const hankCall = await hank.answerInvite();
      await watchUntil(watcher, view, 'bob busy and hank connected', () => status('bob') === 'disconnected' && status('hank') === 'connected');

      const failed = (reason: string, dialled = false) => ({ status: 'disconnected', state: 'full', disconnectionMethod: 'failed', reason, joiningMethod: dialled ? 'dialed-out' : '' });
      expect(view.user('ghost')!.endpoints[0]).toMatchObject(failed('SIP;cause=404;text="Not Found"'));
      expect(view.user('erin')!.endpoints[0]).toMatchObject(failed('SIP;cause=403;text="The recipient does not take group chat"'));
      expect(view.user('carol')!.endpoints[0]).toMatchObject(failed('SIP;cause=403;text="Forbidden"'));
      expect(view.user('gina')!.endpoints[0]).toMatchObject(failed('SIP;cause=480;text="Temporarily Unavailable"'));
      // RFC 4575 §5.6.5: the endpoint was busy
      expect(view.user('bob')!.endpoints[0]).toMatchObject({ status: 'disconnected', disconnectionMethod: 'busy', reason: 'SIP;cause=486;text="Busy Here"', joiningMethod: 'dialed-out' });
      // hank's user now shows the device that joined, in place of the invitation
      expect(view.user('hank')!.endpoints).toEqual([expect.objectContaining({ entity: expect.stringMatching(/^sip:hank@127\.0\.0\.1:\d+;transport=tcp$/), status: 'connected', joiningMethod: 'dialed-out' })]);
      expect(view.docs.at(-1)!.userCount).toBe(2);
      await view.check();

      // a new subscription's full document tells the same
      const late = await subscriber('hank');
      expect(await late.subscribe({ event: 'conference', target: room, accept: CONF })).toMatch(/^SIP\/2\.0 200/);
      const lateView = new RoomView();
      lateView.apply((await late.nextNotify()).body);
      expect(lateView.user('bob')!.endpoints[0]).toMatchObject({ disconnectionMethod: 'busy', reason: 'SIP;cause=486;text="Busy Here"' });
      expect(lateView.user('ghost')!.endpoints[0]).toMatchObject({ disconnectionMethod: 'failed', reason: 'SIP;cause=404;text="Not Found"' });
      expect(lateView.user('hank')!.endpoints[0].status).toBe('connected');
      await lateView.check();
      expect(bobCall.final).toMatch(/^INVITE /);
      await Promise.all([dave.bye(created), hank.bye(hankCall)]);
    } finally {
      await admin.request('PATCH', '/users/erin/profile', { json: { groupChat: null } });
    }
  });
});

describe('nicknames in a room (RFC 7701)', () => {
  it('offers nicknames in the SDP, reserves one per user case-insensitively (425), refuses control characters (424), and names the sender by it in CPIM', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const a = await alice.invite('hall');
    const b = await bob.invite('hall');
    expect(a.peerMedia!.chatroom).toEqual(['nickname', 'private-messages']);
    const bobGot = inbox(b);
    const aliceGot = inbox(a);
    expect(await a.session.sendNickname('Wonder Al')).toEqual({ status: 200, comment: 'OK' });
    expect(await b.session.sendNickname('WONDER  al')).toEqual({ status: 425, comment: 'Nickname reserved or already in use' });
    expect((await b.session.sendNickname('', '"ding\x07dong"')).status).toBe(424);
    expect((await b.session.sendNickname('Bob\u0085')).status).toBe(424);
    // the room carries on for everyone after the refusals
    expect((await a.session.send('text/plain', Buffer.from('hello hall'))).status).toBe(200);
    const [m] = await eventually(() => bobGot.length >= 1 && bobGot, 10_000);
    expect(m.body.toString()).toMatch(new RegExp(`^From: "Wonder Al" <sip:alice@${D}>\r\nTo: <sip:hall@${D}>\r\n`));
    expect((await b.session.sendNickname('Builder "B"')).status).toBe(200);
    expect((await b.session.send('text/plain', Buffer.from('hi'))).status).toBe(200);
    const [r] = await eventually(() => aliceGot.length >= 1 && aliceGot, 10_000);
    expect(r.body.toString()).toMatch(/^From: "Builder \\"B\\"" <sip:bob@/);
    // a nickname given up is free again
    expect((await a.session.sendNickname('')).status).toBe(200);
    expect((await b.session.sendNickname('wonder al')).status).toBe(200);
    await Promise.all([alice.bye(a), bob.bye(b)]);
  });
});

describe('a private room message to a member who left (S8)', () => {
  it('goes to their deferred storage, the sender is told it was stored, and they get it when they register', async () => {
    const carol = await client('carol');
    const bob = await client('bob');
    const c = await carol.invite('crew');
    const b = await bob.invite('crew');
    expect([c.final, b.final].map((f) => f.split('\r\n')[0])).toEqual(['SIP/2.0 200 OK', 'SIP/2.0 200 OK']);
    expect(await bob.bye(b)).toMatch(/^SIP\/2\.0 200/);
    const report = new Promise<ReceivedReport>((resolve) => (c.session.onReport = resolve));
    const priv = `From: <sip:carol@${D}>\r\nTo: <sip:bob@${D}>\r\n\r\nContent-Type: text/plain\r\n\r\nwhile you were out`;
    expect((await c.session.send('message/cpim', Buffer.from(priv), { successReport: true })).status).toBe(200);
    expect(await report).toMatchObject({ status: 200, comment: 'Stored for later delivery' });
    // bob signs in later: the message arrives as a pager MESSAGE from carol
    const bobLater = await client('bob', true);
    const msg = await bobLater.sip.next((x) => x.startsWith('MESSAGE ') && x.includes('while you were out'), 15_000);
    bobLater.sip.answer(msg);
    expect(headerOf(msg, 'From')[0]).toMatch(new RegExp(`<sip:carol@${D}>`));
    expect(headerOf(msg, 'Content-Type')).toEqual(['text/plain']);
    expect(msg.endsWith('\r\n\r\nwhile you were out')).toBe(true);
    await carol.bye(c);
  });

  it('still refuses one blocked by that member (403, Y2), and one to someone never in the room', async () => {
    const dave = await client('dave');
    const carol = await client('carol');
    const d = await dave.invite('crew');
    const c = await carol.invite('crew');
    expect(await carol.bye(c)).toMatch(/^SIP\/2\.0 200/);
    const to = (who: string) => Buffer.from(`From: <sip:dave@${D}>\r\nTo: <sip:${who}@${D}>\r\n\r\nContent-Type: text/plain\r\n\r\nhey`);
    const blocked = new Promise<ReceivedReport>((resolve) => (d.session.onReport = resolve));
    await d.session.send('message/cpim', to('carol'));
    expect((await blocked).status).toBe(403);
    const never = new Promise<ReceivedReport>((resolve) => (d.session.onReport = resolve));
    await d.session.send('message/cpim', to('frank'));
    expect((await never).status).toBe(403);
    await dave.bye(d);
  });
});
