import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { ChatClient, type Call } from '../support/msrp-client.js';
import { RawClient, headerOf } from '../support/raw-client.js';
import { withDigest } from '../support/sip-user.js';
import { multipartParts } from '../support/mime.js';
import { inbox, putBlock, putGroupRooms } from '../support/rooms.js';
import type { ReceivedMessage } from '../../appliance/src/msrp/msrp-session.js';

const D = 'parley.test';
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;
type Name = (typeof NAMES)[number];
let app: RunningAppliance;
const clients: ChatClient[] = [];

beforeAll(async () => {
  // a small per-leg queue, so that the slow-participant test fills it cheaply
  app = await startAppliance({ users: Object.fromEntries(NAMES.map((n) => [n, `${n}-pw`])), config: { conference: { maxQueuePerLeg: 8 } } });
  // pre-defined rooms: the private group team (alice, bob, carol, dave), at most 3 in it, and the public lobby
  expect(await putGroupRooms(app, 'alice', [
    { name: 'team', displayName: 'Team', members: ['alice', 'bob', 'carol', 'dave'], maxParticipants: 3 },
    { name: 'lobby' },
  ])).toBe(201);
  // carol blocks dave (Y2)
  expect(await putBlock(app, 'carol', 'dave')).toBe(201);
});
afterAll(async () => {
  for (const c of clients) c.close();
  await app?.cleanup();
});

async function client(name: Name): Promise<ChatClient> {
  const c = await ChatClient.connect(app, name, `${name}-pw`, false);
  clients.push(c);
  return c;
}


/** The CPIM From, To and content of a received room message. */
function cpim(m: ReceivedMessage): { from: string; to: string; type: string; text: string } {
  const text = m.body.toString();
  const [head, inner, ...rest] = text.split('\r\n\r\n');
  return {
    from: /^From: <([^>]+)>/m.exec(head)![1],
    to: /^To: <([^>]+)>/m.exec(head)![1],
    type: /^Content-Type: (.*)$/m.exec(inner)![1],
    text: rest.join('\r\n\r\n'),
  };
}

const statusOf = (res: string) => res.split('\r\n')[0].slice(8);

/** The list once it holds `n` entries (messages arrive asynchronously on the legs). */
function until<T>(list: T[], n: number): Promise<T[]> {
  return eventually(() => list.length >= n && list, 10_000);
}

describe('pre-defined rooms: the group URI is a chat room (S3, S4)', () => {
  const calls = new Map<Name, { client: ChatClient; call: Call; got: ReceivedMessage[] }>();

  it('lets members join by INVITE to the group URI, and refuses a non-member (403) and one past the limit (486)', async () => {
    for (const n of ['alice', 'bob', 'carol'] as const) {
      const c = await client(n);
      const call = await c.invite('team', { acceptTypes: ['message/cpim', 'text/plain'] });
      expect(call.final).toMatch(/^SIP\/2\.0 200 OK/);
      // the focus terminates the MSRP leg and accepts CPIM-wrapped messages (RFC 7701)
      expect(call.peerMedia!.path).toContain(`:${app.msrpPort}/`);
      expect(call.peerMedia!.acceptTypes).toEqual(['message/cpim']);
      calls.set(n, { client: c, call, got: inbox(call) });
    }
    const erin = await (await client('erin')).invite('team');
    expect(erin.final).toMatch(/^SIP\/2\.0 403 Only members may join this room/);
    const dave = await (await client('dave')).invite('team');
    expect(dave.final).toMatch(/^SIP\/2\.0 486 Room is full \(3 participants\)/);
  });

  it('sends each message to every other participant in order, wrapped in CPIM from the sender to the room', async () => {
    const alice = calls.get('alice')!;
    for (const text of ['one', 'two', 'three']) expect((await alice.call.session.send('text/plain', Buffer.from(text))).status).toBe(200);
    for (const n of ['bob', 'carol'] as const) {
      const got = (await until(calls.get(n)!.got, 3)).map(cpim);
      expect(got.map((m) => m.text)).toEqual(['one', 'two', 'three']);
      expect(got[0]).toMatchObject({ from: `sip:alice@${D}`, to: `sip:team@${D}`, type: 'text/plain' });
    }
    expect(alice.got).toEqual([]); // never back to the sender
  });

  it('sends a CPIM message addressed to one participant to them alone (private message)', async () => {
    const bob = calls.get('bob')!;
    const before = { alice: calls.get('alice')!.got.length, carol: calls.get('carol')!.got.length };
    const priv = `From: <sip:bob@${D}>\r\nTo: <sip:alice@${D}>\r\n\r\nContent-Type: text/plain\r\n\r\njust for you`;
    expect((await bob.call.session.send('message/cpim', Buffer.from(priv))).status).toBe(200);
    // then one to everyone: carol's next message is that one, so she never got the private one
    expect((await bob.call.session.send('text/plain', Buffer.from('to all'))).status).toBe(200);
    const toAlice = (await until(calls.get('alice')!.got, before.alice + 2)).slice(before.alice).map(cpim);
    expect(toAlice).toMatchObject([{ from: `sip:bob@${D}`, to: `sip:alice@${D}`, text: 'just for you' }, { to: `sip:team@${D}`, text: 'to all' }]);
    const toCarol = (await until(calls.get('carol')!.got, before.carol + 1)).slice(before.carol).map(cpim);
    expect(toCarol.map((m) => m.text)).toEqual(['to all']);
  });

  it('passes a message\'s IMDN headers (RFC 5438) and a participant\'s notification through the room unchanged', async () => {
    const [alice, bob] = [calls.get('alice')!, calls.get('bob')!];
    const before = { alice: alice.got.length, bob: bob.got.length };
    const imdnHead = ['NS: imdn <urn:ietf:params:imdn>', 'imdn.Message-ID: room-msg-9', 'imdn.Disposition-Notification: positive-delivery, display'];
    const asked = [`From: <sip:alice@${D}>`, `To: <sip:team@${D}>`, 'DateTime: 2026-11-30T06:00:00Z', ...imdnHead, '', 'Content-Type: text/plain', '', 'read me'].join('\r\n');
    expect((await alice.call.session.send('message/cpim', Buffer.from(asked))).status).toBe(200);
    const got = (await until(bob.got, before.bob + 1))[before.bob].body.toString();
    const [head, inner, text] = got.split('\r\n\r\n');
    // the room writes From and To (RFC 7701); the sender's DateTime and IMDN headers stay as sent
    expect(head.split('\r\n')).toEqual([`From: <sip:alice@${D}>`, `To: <sip:team@${D}>`, 'DateTime: 2026-11-30T06:00:00Z', ...imdnHead]);
    expect(inner).toBe('Content-Type: text/plain');
    expect(text).toBe('read me');
    // Bob's display notification, a private message to Alice, arrives as he wrote it
    const xml = '<?xml version="1.0" encoding="UTF-8"?><imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>room-msg-9</message-id><datetime>2026-11-30T06:00:00Z</datetime><display-notification><status><displayed/></status></display-notification></imdn>';
    const note = [`From: <sip:bob@${D}>`, `To: <sip:alice@${D}>`, 'NS: imdn <urn:ietf:params:imdn>', 'imdn.Message-ID: note-1', 'DateTime: 2026-11-30T06:00:05Z', '', 'Content-Type: message/imdn+xml', 'Content-Disposition: notification', '', xml].join('\r\n');
    expect((await bob.call.session.send('message/cpim', Buffer.from(note))).status).toBe(200);
    const back = (await until(alice.got, before.alice + 1))[before.alice].body.toString();
    // every line as Bob wrote it (the room puts From, To and DateTime first)
    const lines = (t: string) => { const [h, c, b] = t.split('\r\n\r\n'); return { head: h.split('\r\n').sort(), content: c, body: b }; };
    expect(lines(back)).toEqual(lines(note));
  });

  it('refuses a private message to someone not in the room, and malformed CPIM, and the room carries on', async () => {
    const bob = calls.get('bob')!;
    const to = (who: string) => `From: <sip:bob@${D}>\r\nTo: <sip:${who}@${D}>\r\n\r\nContent-Type: text/plain\r\n\r\nhi`;
    const report = new Promise<{ status: number }>((resolve) => (bob.call.session.onReport = resolve));
    await bob.call.session.send('message/cpim', Buffer.from(to('erin')));
    expect((await report).status).toBe(403);
    const bad = new Promise<{ status: number }>((resolve) => (bob.call.session.onReport = resolve));
    await bob.call.session.send('message/cpim', Buffer.from('no blank lines at all'));
    expect((await bad).status).toBe(400);
    const carolBefore = calls.get('carol')!.got.length;
    expect((await bob.call.session.send('text/plain', Buffer.from('still here'))).status).toBe(200);
    expect(cpim((await until(calls.get('carol')!.got, carolBefore + 1))[carolBefore]).text).toBe('still here');
  });

  it('lets a participant leave with BYE; the others go on, and the freed place can be taken', async () => {
    const bob = calls.get('bob')!;
    expect(await bob.client.bye(bob.call)).toMatch(/^SIP\/2\.0 200/);
    const dave = await client('dave');
    const daveCall = await dave.invite('team');
    expect(daveCall.final).toMatch(/^SIP\/2\.0 200 OK/);
    const daveGot = inbox(daveCall);
    // a private message from dave to carol, who blocks him: 403, she gets nothing (Y2)
    const report = new Promise<{ status: number }>((resolve) => (daveCall.session.onReport = resolve));
    await daveCall.session.send('message/cpim', Buffer.from(`From: <sip:dave@${D}>\r\nTo: <sip:carol@${D}>\r\n\r\nContent-Type: text/plain\r\n\r\nhey carol`));
    expect((await report).status).toBe(403);
    const carolBefore = calls.get('carol')!.got.length;
    expect((await calls.get('alice')!.call.session.send('text/plain', Buffer.from('after bob'))).status).toBe(200);
    expect(cpim((await until(calls.get('carol')!.got, carolBefore + 1))[carolBefore]).text).toBe('after bob');
    expect(cpim((await until(daveGot, 1))[0]).text).toBe('after bob');
  });

  it('refuses a REFER to the room from outside it: 403, saying whether the sender may join at all', async () => {
    const refer = async (from: Name): Promise<string> => {
      const c = await RawClient.udp(app.sipPort);
      try {
        const spec = { method: 'REFER', uri: `sip:team@${D}`, from: `sip:${from}@${D}`, to: `sip:team@${D}`, transport: 'UDP' as const, localPort: c.localPort, headers: [`Refer-To: <sip:bob@${D}>`] };
        return statusOf(await withDigest(c, spec, { name: from, password: `${from}-pw` }, 5000));
      } finally {
        c.close();
      }
    };
    expect(await refer('erin')).toBe('403 Only members may join this room');
    expect(await refer('bob')).toBe('403 Join the room to invite others (REFER in the room dialog)');
  });

  it('refuses an INVITE that already passed a list service (loop guard, 482)', async () => {
    const c = await client('alice');
    const marked = await c.invite('team', { headers: ['P-Parley-Exploded: <sip:all@parley.test>'] });
    expect(marked.final).toMatch(/^SIP\/2\.0 482 Loop Detected/);
  });
});

describe('a slow participant never stalls a room (S5)', () => {
  it('drops the participant whose leg stops answering, with a BYE giving the reason, and the others get every message in order', async () => {
    const alice = await (await client('alice')).invite('lobby');
    const carol = await (await client('carol')).invite('lobby');
    const erinClient = await client('erin');
    // erin binds her MSRP leg over a raw connection and then never answers a SEND
    const erin = await erinClient.invite('lobby', { connect: false });
    expect([alice.final, carol.final, erin.final].map((f) => f.split('\r\n')[0])).toEqual(Array(3).fill('SIP/2.0 200 OK'));
    const sock = net.connect(app.msrpPort, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.on('error', () => undefined);
    const bound = new Promise<string>((resolve) => sock.once('data', (d: Buffer) => resolve(d.toString('latin1').split('\r\n')[0])));
    sock.write(`MSRP bind0001 SEND\r\nTo-Path: ${erin.peerMedia!.path}\r\nFrom-Path: ${erin.session.localPath}\r\nMessage-ID: b1\r\nByte-Range: 1-0/0\r\n-------bind0001$\r\n`);
    expect(await bound).toBe('MSRP bind0001 200 OK');
    const carolGot = inbox(carol);
    const texts = Array.from({ length: 12 }, (_, i) => `m${i}`);
    for (const t of texts) expect((await alice.session.send('text/plain', Buffer.from(t))).status).toBe(200);
    const bye = await erinClient.awaitBye(erin);
    expect(headerOf(bye, 'Reason')[0]).toMatch(/text="Too slow: 8 messages waiting"/);
    expect((await until(carolGot, texts.length)).map((m) => cpim(m).text)).toEqual(texts);
    sock.destroy();
  });
});

describe('ad-hoc rooms: an INVITE to the conference factory with an RFC 5366 URI list (S2)', () => {
  it('puts the creator in a new room and invites each listed user; who answers is in, who blocks the creator is never invited', async () => {
    const [alice, bob, carol, dave] = await Promise.all((['alice', 'bob', 'carol', 'dave'] as const).map((n) => ChatClient.connect(app, n, `${n}-pw`, true)));
    clients.push(alice, bob, carol, dave);
    const list = `<?xml version="1.0" encoding="UTF-8"?>\r\n<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>${['carol', 'bob'].map((n) => `<entry uri="sip:${n}@${D}"/>`).join('')}</list></resource-lists>`;
    const wrap = (sdp: string) => ({
      body: ['--b1', 'Content-Type: application/sdp', '', sdp, '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', list, '--b1--', ''].join('\r\n'),
      contentType: 'multipart/mixed;boundary=b1',
    });
    // dave (blocked by carol) creates a room with bob and carol: carol is never invited
    const [created, bobCall] = await Promise.all([dave.invite('conf-factory', { wrap }), bob.answerInvite()]);
    expect(created.final).toMatch(/^SIP\/2\.0 200 OK/);
    const roomUri = /<sip:(chat-[0-9a-f]+)@/.exec(headerOf(created.final, 'Contact')[0])![1];
    expect(headerOf(created.final, 'Contact')[0]).toMatch(/;isfocus$/);
    // the invitation comes from the room, names who asked, and carries the loop-guard marker
    expect(headerOf(bobCall.final, 'From')[0]).toContain(`<sip:${roomUri}@${D}>`);
    expect(headerOf(bobCall.final, 'Referred-By')).toEqual([`<sip:dave@${D}>`]);
    expect(headerOf(bobCall.final, 'P-Parley-Exploded')).toEqual([`<sip:${roomUri}@${D}>`]);
    // RFC 7701: the focus's offer says the room takes nicknames and private messages
    expect(bobCall.final).toMatch(/\r\na=chatroom:nickname private-messages\r\n/);
    const bobGot = inbox(bobCall);
    expect((await created.session.send('text/plain', Buffer.from('welcome'))).status).toBe(200);
    expect(cpim((await until(bobGot, 1))[0])).toMatchObject({ from: `sip:dave@${D}`, to: `sip:${roomUri}@${D}`, text: 'welcome' });
    // carol is listed first: her block-list read came before bob's, so an INVITE to her would
    // have left before bob's did
    await expect(carol.sip.next((x) => x.startsWith('INVITE '), 0)).rejects.toThrow(/no matching message/);
    // alice was not invited: she may not join by the room URI
    const outsider = await alice.invite(roomUri);
    expect(outsider.final).toMatch(/^SIP\/2\.0 403 Only members may join this room/);

    // invite more (RFC 4579 §5.5): dave REFERs alice in his room dialog; she is invited and joins
    expect(statusOf(await dave.inDialog(created, 'REFER', []))).toBe('400 Missing or repeated Refer-To');
    const [referred, aliceCall] = await Promise.all([dave.inDialog(created, 'REFER', [`Refer-To: <sip:alice@${D}>`]), alice.answerInvite()]);
    expect(statusOf(referred)).toBe('202 Accepted');
    const notify = await dave.sip.next((x) => x.startsWith('NOTIFY ') && headerOf(x, 'Call-ID')[0] === created.callId, 10_000);
    dave.sip.answer(notify);
    expect(headerOf(notify, 'Event')).toEqual(['refer']);
    expect(notify.slice(notify.indexOf('\r\n\r\n') + 4)).toBe('SIP/2.0 200 OK\r\n');
    const aliceGot = inbox(aliceCall);
    expect((await created.session.send('text/plain', Buffer.from('hi alice'))).status).toBe(200);
    expect(cpim((await until(aliceGot, 1))[0]).text).toBe('hi alice');
    // a REFER for a user who does not exist: accepted, and the sipfrag is the invitation's own final status (RFC 3515 §2.4.5)
    expect(statusOf(await dave.inDialog(created, 'REFER', [`Refer-To: <sip:nobody-here@${D}>`]))).toBe('202 Accepted');
    const second = await dave.sip.next((x) => x.startsWith('NOTIFY ') && headerOf(x, 'Call-ID')[0] === created.callId && x.includes('message/sipfrag'), 10_000);
    dave.sip.answer(second);
    expect(second.slice(second.indexOf('\r\n\r\n') + 4)).toBe('SIP/2.0 404 Not Found\r\n');
  });

  it('honours RFC 5364 copy control: every invitation shows the to and cc invitees, never a bcc one', async () => {
    const [alice, bob, carol, erin] = await Promise.all((['alice', 'bob', 'carol', 'erin'] as const).map((n) => ChatClient.connect(app, n, `${n}-pw`, true)));
    clients.push(alice, bob, carol, erin);
    const cp = (name: string, control: string) => `<entry uri="sip:${name}@${D}" cp:copyControl="${control}"/>`;
    const list = `<?xml version="1.0" encoding="UTF-8"?>\r\n<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists" xmlns:cp="urn:ietf:params:xml:ns:copycontrol"><list>${cp('bob', 'to')}${cp('carol', 'cc')}${cp('erin', 'bcc')}</list></resource-lists>`;
    const wrap = (sdp: string) => ({
      body: ['--b1', 'Content-Type: application/sdp', '', sdp, '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', list, '--b1--', ''].join('\r\n'),
      contentType: 'multipart/mixed;boundary=b1',
    });
    const [created, ...invited] = await Promise.all([alice.invite('conf-factory', { wrap }), bob.answerInvite(), carol.answerInvite(), erin.answerInvite()]);
    expect(created.final).toMatch(/^SIP\/2\.0 200 OK/);
    for (const call of invited) {
      // the invitation: the focus's MSRP offer, and beside it who else the creator's list named
      const invite = call.final;
      const parts = multipartParts(headerOf(invite, 'Content-Type')[0], invite.slice(invite.indexOf('\r\n\r\n') + 4));
      expect(parts.map((p) => p.headers['content-type'])).toEqual(['application/sdp', 'application/resource-lists+xml']);
      expect(parts[1].headers['content-disposition']).toBe('recipient-list-history; handling=optional');
      const entries = [...parts[1].body.matchAll(/<entry uri="([^"]+)" cp:copyControl="([^"]+)"/g)].map((e) => `${e[2]}:${e[1]}`);
      expect(entries).toEqual([`to:sip:bob@${D}`, `cc:sip:carol@${D}`]);
      expect(invite.slice(invite.indexOf('\r\n\r\n'))).not.toContain(`erin@${D}`);
    }
    // the bcc invitee is in the room like the others
    const erinGot = inbox(invited[2]);
    expect((await created.session.send('text/plain', Buffer.from('hello all three'))).status).toBe(200);
    expect(cpim((await until(erinGot, 1))[0]).text).toBe('hello all three');
  });

  it('refuses a factory INVITE without a usable URI list or SDP', async () => {
    const c = await client('alice');
    expect((await c.invite('conf-factory')).final).toMatch(/^SIP\/2\.0 415/);
    const noOne = (sdp: string) => ({ body: ['--b1', 'Content-Type: application/sdp', '', sdp, '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', '<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list/></resource-lists>', '--b1--', ''].join('\r\n'), contentType: 'multipart/mixed;boundary=b1' });
    expect((await c.invite('conf-factory', { wrap: noOne })).final).toMatch(/^SIP\/2\.0 400 The list names no one to invite/);
  });
});

