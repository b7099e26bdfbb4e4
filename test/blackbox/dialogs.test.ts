import path from 'node:path';
import sqlite3 from 'sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, health, type RunningAppliance } from '../support/appliance.js';
import { ChatClient, type Call } from '../support/msrp-client.js';
import { headerOf } from '../support/raw-client.js';
import { registerContact, withDigest } from '../support/sip-user.js';
import { UdpAgent, msrpSdp } from '../support/udp-dialog.js';
import { xcapRequest } from '../support/xcap-client.js';

/**
 * Dialog correctness for sessions and rooms: the 2xx resent until its ACK (RFC 3261 §13.3.1.4),
 * route sets (§12.1, §12.2.1.1), re-INVITE and UPDATE (§14, RFC 3311, RFC 3264 §8), and a
 * participant whose MSRP connection drops without a BYE. T1 is 100 ms here, so 64·T1 is 6.4 s.
 */
const D = 'parley.test';
const NAMES = ['alice', 'bob', 'carol', 'dave'] as const;
type Name = (typeof NAMES)[number];
const pw = (n: Name) => `${n}-pw`;
let app: RunningAppliance;
const clients: { close(): void }[] = [];

beforeAll(async () => {
  app = await startAppliance({ users: Object.fromEntries(NAMES.map((n) => [n, pw(n)])), config: { sip: { timers: { T1: 100 } } } });
  // the public lobby, and the private pair room (alice, bob, carol; at most 2 at a time)
  const joinRule = (id: string, cond: string) => `<cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy"><cp:rule id="${id}"><cp:conditions>${cond}</cp:conditions><cp:actions><join-handling>true</join-handling></cp:actions></cp:rule></cp:ruleset>`;
  const members = ['alice', 'bob', 'carol'].map((n) => `<entry uri="sip:${n}@${D}"/>`).join('');
  const groups = `<?xml version="1.0" encoding="UTF-8"?>
<group xmlns="urn:oma:xml:poc:list-service"><list-service uri="sip:lobby@${D}"><list/>${joinRule('parley-join-lobby', `<cp:identity><cp:many domain="${D}"/></cp:identity>`)}</list-service>
<list-service uri="sip:pair@${D}"><list>${members}</list><max-participant-count>2</max-participant-count>${joinRule('parley-join-pair', '<is-list-member/>')}</list-service></group>`;
  const put = await xcapRequest(app, 'PUT', `org.openmobilealliance.groups/users/sip:alice@${D}/index`, { body: groups, headers: { 'Content-Type': 'application/vnd.oma.poc.groups+xml' } });
  expect(put.status).toBe(201);
});
afterAll(async () => {
  for (const c of clients) c.close();
  await app?.cleanup();
});

async function chat(name: Name, register = true): Promise<ChatClient> {
  const c = await ChatClient.connect(app, name, pw(name), register);
  clients.push(c);
  return c;
}

async function udp(name: Name): Promise<UdpAgent> {
  const a = await UdpAgent.open(app, name, pw(name));
  clients.push(a);
  return a;
}

const statusOf = (res: string) => res.split('\r\n')[0].slice(8);
const bodyOf = (msg: string) => msg.slice(msg.indexOf('\r\n\r\n') + 4);
const oLine = (sdp: string) => /^o=.*$/m.exec(sdp)![0];

async function historyRows(): Promise<Record<string, unknown>[]> {
  const db = new sqlite3.Database(path.join(app.dataDir, 'parley.sqlite'), sqlite3.OPEN_READONLY);
  try {
    return await new Promise((resolve, reject) => db.all('SELECT * FROM session_history ORDER BY id', (err, rows) => (err ? reject(err) : resolve(rows as Record<string, unknown>[]))));
  } finally {
    db.close();
  }
}

async function awaitingAck(): Promise<number> {
  return ((await health(app)) as unknown as { transactions: { awaitingAck: number } }).transactions.awaitingAck;
}

describe('the 2xx to an INVITE is resent until its ACK (RFC 3261 §13.3.1.4)', () => {
  it('resends the 200 of a room join over UDP while the ACK is missing, stops at the ACK, and the dialog follows the route set', async () => {
    const alice = await udp('alice');
    // the route set names this client's port; the Contact a port nobody listens on, so that
    // whatever reaches the client in the dialog came by the route set (RFC 3261 §12.2.1.1)
    const rr = [`Record-Route: <sip:127.0.0.1:${alice.port};lr;x=edge>`, 'Record-Route: <sip:proxy2.parley.test;lr>'];
    const call = await alice.invite(`sip:lobby@${D}`, msrpSdp('a1'), [...rr, 'Contact: <sip:alice@127.0.0.1:9>']);
    expect(statusOf(call.made)).toBe('200 OK');
    // RFC 3261 §12.1.1: the 200 copies the Record-Route, in order
    expect(headerOf(call.made, 'Record-Route')).toEqual([`<sip:127.0.0.1:${alice.port};lr;x=edge>`, '<sip:proxy2.parley.test;lr>']);
    // no ACK yet: the same 200 comes again, twice
    const same = (m: string) => m.startsWith('SIP/2.0 200') && headerOf(m, 'Call-ID')[0] === call.callId && headerOf(m, 'CSeq')[0] === '2 INVITE';
    const again = [await alice.sip.next(same, 5000), await alice.sip.next(same, 5000)];
    for (const m of again) expect(m).toBe(call.made);
    expect(await awaitingAck()).toBe(1);
    alice.ack(call);
    await eventually(async () => (await awaitingAck()) === 0);

    // the dialog goes on: a REFER's NOTIFY comes back by the route set, with the Route headers
    expect(statusOf(await alice.inDialog(call, 'REFER', [`Refer-To: <sip:dave@${D}>`, `Contact: <sip:alice@127.0.0.1:9>`]))).toBe('202 Accepted');
    const notify = await alice.sip.next((m) => m.startsWith('NOTIFY '), 10_000);
    alice.respond(notify, 200, 'OK', '');
    expect(notify.split('\r\n')[0]).toBe('NOTIFY sip:alice@127.0.0.1:9 SIP/2.0');
    expect(headerOf(notify, 'Route')).toEqual([`<sip:127.0.0.1:${alice.port};lr;x=edge>`, '<sip:proxy2.parley.test;lr>']);
    expect(bodyOf(notify)).toBe('SIP/2.0 480 Temporarily Unavailable\r\n');
    expect(statusOf(await alice.inDialog(call, 'BYE', []))).toBe('200 OK');
  });

  it('ends a room leg whose 200 is never ACKed with a BYE giving the reason after 64·T1', async () => {
    const carol = await udp('carol');
    const call = await carol.invite(`sip:lobby@${D}`, msrpSdp('c1'), [`Contact: <sip:carol@127.0.0.1:${carol.port}>`]);
    expect(statusOf(call.made)).toBe('200 OK');
    const bye = await carol.sip.next((m) => m.startsWith('BYE ') && headerOf(m, 'Call-ID')[0] === call.callId, 15_000);
    carol.respond(bye, 200, 'OK', '');
    expect(headerOf(bye, 'Reason')).toEqual(['SIP;cause=408;text="No ACK for the 200 OK"']);
  });

  it('ends a one-to-one session whose caller never ACKs: BYE to both sides, and the history row says why', async () => {
    const bob = await chat('bob');
    const carol = await udp('carol');
    const answered = bob.answerInvite();
    const call = await carol.invite(`sip:bob@${D}`, msrpSdp('c2'), [`Contact: <sip:carol@127.0.0.1:${carol.port}>`]);
    const bCall = await answered;
    expect(statusOf(call.made)).toBe('200 OK');
    const bye = await carol.sip.next((m) => m.startsWith('BYE ') && headerOf(m, 'Call-ID')[0] === call.callId, 15_000);
    carol.respond(bye, 200, 'OK', '');
    expect(headerOf(bye, 'Reason')).toEqual(['SIP;cause=408;text="No ACK for the 200 OK"']);
    expect(headerOf(await bob.awaitBye(bCall), 'Reason')).toEqual(['SIP;cause=408;text="No ACK for the 200 OK"']);
    const row = await eventually(async () => (await historyRows()).find((r) => r.caller === `sip:carol@${D}` && r.kind === 'one-to-one'));
    // (carol's room memberships from earlier tests are rows of kind 'room' in the same table)
    expect(row).toMatchObject({ callee: `sip:bob@${D}`, end_reason: 'no-ack' });
  });
});

describe('route sets (RFC 3261 §12.1, §12.2.1.1)', () => {
  it("keeps the callee's route set from its 200: the ACK and the BYE carry it, and a resent 200 is ACKed again, not ended", async () => {
    const alice = await chat('alice');
    const bob = await udp('bob');
    // Bob's device is at this UDP client; its 200 names another port in Contact and a route to here
    expect(statusOf(await registerContact(app, { name: 'bob', password: pw('bob') }, `127.0.0.1:${bob.port}`))).toBe('200 OK');
    const calling = alice.invite('bob');
    const inv = await bob.sip.next((m) => m.startsWith('INVITE '), 10_000);
    const rr = ['Record-Route: <sip:proxy2.parley.test;lr>', `Record-Route: <sip:127.0.0.1:${bob.port};lr;x=bob-edge>`];
    const ok = ['Contact: <sip:bob@127.0.0.1:9>', ...rr];
    bob.respond(inv, 200, 'OK', 'bobtag', ok, msrpSdp('b1'));
    const aCall = await calling;
    expect(statusOf(aCall.final)).toBe('200 OK');
    // RFC 3261 §12.1.2: the route set is the 200's Record-Route reversed
    const route = [`<sip:127.0.0.1:${bob.port};lr;x=bob-edge>`, '<sip:proxy2.parley.test;lr>'];
    const ack = await bob.sip.next((m) => m.startsWith('ACK '), 5000);
    expect(ack.split('\r\n')[0]).toBe('ACK sip:bob@127.0.0.1:9 SIP/2.0');
    expect(headerOf(ack, 'Route')).toEqual(route);
    // our ACK "was lost": the device resends its 200 and gets the ACK again (RFC 3261 §13.2.2.4)
    bob.respond(inv, 200, 'OK', 'bobtag', ok, msrpSdp('b1'));
    await bob.sip.next((m) => m.startsWith('ACK '), 5000);
    // an UPDATE round trip in the dialog: anything the server sent before its answer is in by now
    const dlg = { callId: headerOf(inv, 'Call-ID')[0], local: `${headerOf(inv, 'To')[0]};tag=bobtag`, remote: headerOf(inv, 'From')[0], remoteTarget: /<([^>]+)>/.exec(headerOf(inv, 'Contact')[0])![1], cseq: 0, made: inv };
    expect(statusOf(await bob.inDialog(dlg, 'UPDATE', ['Contact: <sip:bob@127.0.0.1:9>']))).toBe('200 OK');
    expect(bob.sip.inbox.filter((m) => m.startsWith('BYE '))).toEqual([]);
    // Alice hangs up: Bob's BYE follows his route set to this client
    expect(statusOf(await alice.bye(aCall))).toBe('200 OK');
    const bye = await bob.sip.next((m) => m.startsWith('BYE '), 5000);
    bob.respond(bye, 200, 'OK', '');
    expect(bye.split('\r\n')[0]).toBe('BYE sip:bob@127.0.0.1:9 SIP/2.0');
    expect(headerOf(bye, 'Route')).toEqual(route);
  });

  it("keeps the caller's route set from its INVITE: the 200 copies it and the BYE to the caller carries it", async () => {
    const alice = await chat('alice');
    const bob = await chat('bob');
    const rr = ['Record-Route: <sip:edge.parley.test;lr;x=a>, <sip:127.0.0.1:5999;lr>'];
    const [aCall, bCall] = await Promise.all([alice.invite('bob', { headers: rr }), bob.answerInvite()]);
    expect(headerOf(aCall.final, 'Record-Route')).toEqual(['<sip:edge.parley.test;lr;x=a>, <sip:127.0.0.1:5999;lr>']);
    expect(statusOf(await bob.bye(bCall))).toBe('200 OK');
    const bye = await alice.awaitBye(aCall);
    expect(bye.split('\r\n')[0]).toBe(`BYE sip:alice@127.0.0.1:${alice.sip.localPort};transport=tcp SIP/2.0`);
    expect(headerOf(bye, 'Route')).toEqual(['<sip:edge.parley.test;lr;x=a>', '<sip:127.0.0.1:5999;lr>']);
  });

  it("sends a subscription's NOTIFYs by the SUBSCRIBE's route set", async () => {
    const dave = await udp('dave');
    const spec = {
      method: 'SUBSCRIBE', uri: `sip:bob@${D}`, from: `sip:dave@${D}`, to: `sip:bob@${D}`, transport: 'UDP' as const, localPort: dave.port,
      headers: ['Event: presence', 'Expires: 60', 'Contact: <sip:dave@127.0.0.1:9>', `Record-Route: <sip:127.0.0.1:${dave.port};lr;x=sub-edge>`],
    };
    const ok = await withDigest(dave.sip, spec, { name: 'dave', password: pw('dave') }, 5000);
    expect(statusOf(ok)).toBe('200 OK');
    expect(headerOf(ok, 'Record-Route')).toEqual([`<sip:127.0.0.1:${dave.port};lr;x=sub-edge>`]);
    const notify = await dave.sip.next((m) => m.startsWith('NOTIFY '), 10_000);
    dave.respond(notify, 200, 'OK', '');
    expect(notify.split('\r\n')[0]).toBe('NOTIFY sip:dave@127.0.0.1:9 SIP/2.0');
    expect(headerOf(notify, 'Route')).toEqual([`<sip:127.0.0.1:${dave.port};lr;x=sub-edge>`]);
  });
});

describe('re-INVITE and UPDATE in a session (RFC 3261 §14, RFC 3311, RFC 3264 §8)', () => {
  it('answers a refresh or a re-offer of the same MSRP media with the current SDP, refuses what it cannot take with 488, and the session carries on', async () => {
    const alice = await chat('alice');
    const bob = await chat('bob');
    const timers = ['Supported: timer', 'Session-Expires: 1800;refresher=uac'];
    const [aCall, bCall] = await Promise.all([alice.invite('bob', { headers: timers }), bob.answerInvite()]);
    expect(statusOf(aCall.final)).toBe('200 OK');
    // RFC 4028 is not offered: no Session-Expires, no Require: timer in the answer
    expect(headerOf(aCall.final, 'Session-Expires')).toEqual([]);
    expect(headerOf(aCall.final, 'Require')).toEqual([]);
    const first = bodyOf(aCall.final);
    const offer = alice.sdpFor(aCall.session, {}, 'active');

    // a session refresh by re-INVITE with the same media: our SDP as it stands, same o= version
    const refresh = await alice.reinvite(aCall, offer, timers);
    expect(statusOf(refresh)).toBe('200 OK');
    expect(bodyOf(refresh)).toBe(first);
    expect(headerOf(refresh, 'Session-Expires')).toEqual([]);
    // UPDATE without a body, and with the same offer
    const upd = await alice.inDialog(aCall, 'UPDATE', timers);
    expect(statusOf(upd)).toBe('200 OK');
    expect(bodyOf(upd)).toBe('');
    expect(bodyOf(await alice.inDialog(aCall, 'UPDATE', [], offer))).toBe(first);
    // a re-INVITE without an offer gets ours
    expect(bodyOf(await alice.reinvite(aCall, ''))).toBe(first);

    // what the server cannot take: 488 with the reason, 420 for Require: timer
    const audio = offer.replace(/m=message .*/, 'm=audio 7 RTP/AVP 0');
    expect(statusOf(await alice.reinvite(aCall, audio))).toBe('488 No MSRP media line (m=message)');
    const moved = offer.replace(/a=path:msrp:\/\/[^\s]+/, 'a=path:msrp://127.0.0.1:7/elsewhere;tcp');
    expect(statusOf(await alice.reinvite(aCall, moved))).toBe('488 The MSRP path of a session cannot change');
    const required = await alice.reinvite(aCall, offer, ['Require: timer', 'Session-Expires: 1800']);
    expect(statusOf(required)).toMatch(/^420 /);
    expect(headerOf(required, 'Unsupported')).toEqual(['timer']);

    // the callee's side: a re-offer gets our offer's description with the role we took (we were
    // actpass, Bob active: we are passive), version one higher than the INVITE's (RFC 3264 §8)
    const ours = bodyOf(bCall.final);
    const calleeRe = await bob.reinvite(bCall, bob.sdpFor(bCall.session, { setup: 'active' }, 'active'));
    expect(statusOf(calleeRe)).toBe('200 OK');
    const [, id, version] = /^o=- (\d+) (\d+)/.exec(oLine(ours))!;
    expect(oLine(bodyOf(calleeRe))).toMatch(new RegExp(`^o=- ${id} ${Number(version) + 1} `));
    expect(bodyOf(calleeRe)).toMatch(/a=setup:passive/);
    expect(bodyOf(calleeRe).replace(/^o=.*$/m, '').replace('a=setup:passive', 'a=setup:actpass')).toBe(ours.replace(/^o=.*$/m, ''));

    // and the session carries on
    const got = new Promise<string>((resolve) => (bCall.session.onMessage = (m) => (m.report(200), resolve(m.body.toString()))));
    expect((await aCall.session.send('text/plain', Buffer.from('still here'))).status).toBe(200);
    expect(await got).toBe('still here');
    await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);
  });

  it('answers a callee UPDATE with an offer while our INVITE is still ringing 491 (glare), a caller one 500 + Retry-After, and the call still connects', async () => {
    const alice = await chat('alice');
    const bob = await udp('bob');
    expect(statusOf(await registerContact(app, { name: 'bob', password: pw('bob') }, `127.0.0.1:${bob.port}`))).toBe('200 OK');
    const calling = alice.invite('bob');
    const inv = await bob.sip.next((m) => m.startsWith('INVITE '), 10_000);
    bob.respond(inv, 180, 'Ringing', 'bobtag', [`Contact: <sip:bob@127.0.0.1:${bob.port}>`]);
    const early = { callId: headerOf(inv, 'Call-ID')[0], local: `${headerOf(inv, 'To')[0]};tag=bobtag`, remote: headerOf(inv, 'From')[0], remoteTarget: /<([^>]+)>/.exec(headerOf(inv, 'Contact')[0])![1], cseq: 0, made: inv };
    expect(statusOf(await bob.inDialog(early, 'UPDATE', [`Contact: <sip:bob@127.0.0.1:${bob.port}>`], msrpSdp('b2')))).toBe('491 Request Pending');
    // a refresh without an offer is no glare
    expect(statusOf(await bob.inDialog(early, 'UPDATE', [`Contact: <sip:bob@127.0.0.1:${bob.port}>`]))).toBe('200 OK');
    // on the caller's side the 180 made an early dialog in which Alice's own offer is unanswered:
    // another offer from her there is 500 with Retry-After (RFC 3311 §5.2)
    const ringing = await alice.sip.next((m) => m.startsWith('SIP/2.0 180'), 5000);
    const aliceEarly = { callId: headerOf(ringing, 'Call-ID')[0], local: headerOf(ringing, 'From')[0], remote: headerOf(ringing, 'To')[0], remoteTarget: /<([^>]+)>/.exec(headerOf(ringing, 'Contact')[0])![1], cseq: 0 } as Call;
    const crossed = await alice.inDialog(aliceEarly, 'UPDATE', [], alice.sdpFor(alice.msrp.create(), {}, 'active'));
    expect(statusOf(crossed)).toBe('500 Your offer is still unanswered');
    expect(Number(headerOf(crossed, 'Retry-After')[0])).toBeLessThanOrEqual(10);
    bob.respond(inv, 200, 'OK', 'bobtag', [`Contact: <sip:bob@127.0.0.1:${bob.port}>`], msrpSdp('b2'));
    const aCall = await calling;
    expect(statusOf(aCall.final)).toBe('200 OK');
    await bob.sip.next((m) => m.startsWith('ACK '), 5000);
    expect(statusOf(await alice.bye(aCall))).toBe('200 OK');
    bob.respond(await bob.sip.next((m) => m.startsWith('BYE '), 5000), 200, 'OK', '');
  });

  it('answers a re-INVITE in a room dialog with the focus SDP as it stands', async () => {
    const dave = await chat('dave');
    const call = await dave.invite('lobby');
    expect(statusOf(call.final)).toBe('200 OK');
    const re = await dave.reinvite(call, dave.sdpFor(call.session, {}, 'active'));
    expect(statusOf(re)).toBe('200 OK');
    expect(bodyOf(re)).toBe(bodyOf(call.final));
    expect(statusOf(await dave.reinvite(call, 'v=0\r\n', []))).toMatch(/^488 /);
    expect(statusOf(await dave.inDialog(call, 'UPDATE', []))).toBe('200 OK');
    expect(statusOf(await dave.bye(call))).toBe('200 OK');
  });
});

describe('a participant whose MSRP connection drops without a BYE is removed', () => {
  it('drops the room leg with a BYE giving the reason, and the place it held is free again', async () => {
    const [alice, carol, bob] = await Promise.all([chat('alice', false), chat('carol', false), chat('bob', false)]);
    const aCall = await alice.invite('pair');
    const cCall = await carol.invite('pair');
    expect([aCall.final, cCall.final].map(statusOf)).toEqual(['200 OK', '200 OK']);
    expect(statusOf((await bob.invite('pair')).final)).toBe('486 Room is full (2 participants)');
    // Carol's MSRP connection goes away (her client lost it); no BYE from her
    cCall.session.connection!.close();
    const bye = await carol.awaitBye(cCall);
    expect(headerOf(bye, 'Reason')).toEqual(['SIP;cause=480;text="MSRP connection lost"']);
    const bCall = await bob.invite('pair');
    expect(statusOf(bCall.final)).toBe('200 OK');
    const got = new Promise<string>((resolve) => (bCall.session.onMessage = (m) => (m.report(200), resolve(m.body.toString()))));
    expect((await aCall.session.send('text/plain', Buffer.from('hello bob'))).status).toBe(200);
    expect(await got).toMatch(/hello bob$/);
    await Promise.all([alice.bye(aCall), bob.bye(bCall)]);
  });

  it('ends a one-to-one session whose caller leg drops: BYE with the reason to both, history row closed', async () => {
    const alice = await chat('alice');
    const bob = await chat('bob');
    const [aCall, bCall]: Call[] = await Promise.all([alice.invite('bob'), bob.answerInvite()]);
    expect(statusOf(aCall.final)).toBe('200 OK');
    const before = (await historyRows()).length;
    aCall.session.connection!.close();
    const [toAlice, toBob] = await Promise.all([alice.awaitBye(aCall), bob.awaitBye(bCall)]);
    for (const bye of [toAlice, toBob]) expect(headerOf(bye, 'Reason')).toEqual(['SIP;cause=480;text="MSRP connection lost"']);
    const rows = await eventually(async () => {
      const r = await historyRows();
      return r.length > before && r;
    });
    expect(rows[rows.length - 1]).toMatchObject({ caller: `sip:alice@${D}`, callee: `sip:bob@${D}`, end_reason: 'msrp-lost-caller' });
    await eventually(async () => ((await health(app)) as unknown as { sessions: { oneToOne: number } }).sessions.oneToOne === 0);
  });
});
