import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { ChatClient, type Call } from '../support/msrp-client.js';
import { RawClient, headerOf } from '../support/raw-client.js';
import { registerContact, sendMessage } from '../support/sip-user.js';
import { inbox, putGroupRooms } from '../support/rooms.js';
import { conversationsOf, messagesOf, sessionHistoryRows } from '../support/conversations.js';
import type { ReceivedMessage } from '../../appliance/src/msrp/msrp-session.js';

const D = 'parley.test';
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'] as const;
type Name = (typeof NAMES)[number];
const aor = (n: string) => `sip:${n}@${D}`;
let app: RunningAppliance;
const clients: ChatClient[] = [];
const devices: RawClient[] = [];

beforeAll(async () => {
  app = await startAppliance({ users: Object.fromEntries(NAMES.map((n) => [n, `${n}-pw`])) });
  // a private room (team) and a group for exploded pager messages (crew: carol and erin)
  expect(await putGroupRooms(app, 'alice', [{ name: 'team', displayName: 'Team', members: ['alice', 'bob', 'carol', 'dave'] }, { name: 'crew', members: ['alice', 'carol', 'erin'] }])).toBe(201);
});
afterAll(async () => {
  for (const c of clients) c.close();
  for (const d of devices) d.close();
  await app?.cleanup();
});

async function client(name: Name, register = true): Promise<ChatClient> {
  const c = await ChatClient.connect(app, name, `${name}-pw`, register);
  clients.push(c);
  return c;
}

/** The next complete message on a session, answered 200 as a client would. */
function nextMessage(call: Call): Promise<ReceivedMessage> {
  return new Promise((resolve) => {
    call.session.onMessage = (m) => {
      m.report(200);
      resolve(m);
    };
  });
}

/** The conversation id our Conversation-Store answer names (`on;id=<id>`), or null. */
function storedId(msg: string): string | null {
  const v = headerOf(msg, 'Conversation-Store')[0];
  return v === undefined ? null : (/^on;id=([A-Za-z0-9_-]+)$/.exec(v)?.[1] ?? `unexpected: ${v}`);
}

/** A user's conversation with that public id, once its row is written and its `n` messages stored. */
async function conversation(owner: string, publicId: string, n: number, recording?: boolean) {
  return eventually(async () => {
    const c = (await conversationsOf(app, owner)).find((x) => x.publicId === publicId);
    return c !== undefined && c.messageCount === n && (recording === undefined || c.recording === recording) && c;
  });
}

describe('sessions stored on request (H1): Conversation-Store on the INVITE or on the 2xx', () => {
  it("stores both directions in the caller's conversation when the INVITE asks, names it in the 200, and stops at BYE", async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const before = Date.now();
    const [aCall, bCall] = await Promise.all([alice.invite('bob', { headers: ['Conversation-Store: on'] }), bob.answerInvite()]);
    expect(aCall.final).toMatch(/^SIP\/2\.0 200 OK/);
    const id = storedId(aCall.final)!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    // the request is the server's: the INVITE bob gets does not carry it
    expect(headerOf(bCall.final, 'Conversation-Store')).toEqual([]);

    const toBob = nextMessage(bCall);
    expect((await aCall.session.send('text/plain', Buffer.from('Keep this, Bob'))).status).toBe(200);
    await toBob;
    const toAlice = nextMessage(aCall);
    expect((await bCall.session.send('text/plain', Buffer.from('Kept, Alice'))).status).toBe(200);
    await toAlice;
    await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);

    const c = await conversation(aor('alice'), id, 2, false);
    expect(c).toMatchObject({ kind: 'session', peers: [aor('bob')] });
    const msgs = await messagesOf(app, id);
    expect(msgs).toMatchObject([
      { sender: aor('alice'), recipients: [aor('bob')], contentType: 'text/plain', body: 'Keep this, Bob' },
      { sender: aor('bob'), recipients: [aor('alice')], contentType: 'text/plain', body: 'Kept, Alice' },
    ]);
    // stamped by the server while the session ran
    for (const m of msgs) expect(m.storedAt).toBeGreaterThanOrEqual(before);
    expect(await conversationsOf(app, aor('bob'))).toEqual([]);
    // the session history row counts what the caller sent and received (H2)
    const row = await eventually(async () => (await sessionHistoryRows(app)).find((r) => r.caller === aor('alice') && r.kind === 'one-to-one'));
    expect(row).toMatchObject({ message_count: 2, sent_count: 1, received_count: 1 });
  });

  it("stores the callee's side when its 2xx asks, and our ACK names the conversation", async () => {
    const carol = await client('carol');
    const dave = await client('dave');
    const [cCall, dCall] = await Promise.all([carol.invite('dave'), dave.answerInvite({ headers: ['Conversation-Store: on'] })]);
    expect(storedId(cCall.final)).toBeNull();
    const ack = await dave.sip.next((m) => m.startsWith('ACK ') && headerOf(m, 'Call-ID')[0] === dCall.callId, 10_000);
    const id = storedId(ack)!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const toDave = nextMessage(dCall);
    expect((await cCall.session.send('text/plain', Buffer.from('for the record'))).status).toBe(200);
    await toDave;
    await Promise.all([carol.bye(cCall), dave.awaitBye(dCall)]);
    await conversation(aor('dave'), id, 1, false);
    expect(await messagesOf(app, id)).toMatchObject([{ sender: aor('carol'), recipients: [aor('dave')], body: 'for the record' }]);
    expect(await conversationsOf(app, aor('carol'))).toEqual([]);
  });

  it('stores nothing for a session nobody asked to keep', async () => {
    const erin = await client('erin');
    const frank = await client('frank');
    const [eCall, fCall] = await Promise.all([erin.invite('frank'), frank.answerInvite()]);
    expect(storedId(eCall.final)).toBeNull();
    const got = nextMessage(fCall);
    expect((await eCall.session.send('text/plain', Buffer.from('off the record'))).status).toBe(200);
    await got;
    await Promise.all([erin.bye(eCall), frank.awaitBye(fCall)]);
    await eventually(async () => (await sessionHistoryRows(app)).some((r) => r.caller === aor('erin')));
    expect([...(await conversationsOf(app, aor('erin'))), ...(await conversationsOf(app, aor('frank')))]).toEqual([]);
  });
});

/** The CPIM From, To and text of a stored or received room message. */
function cpim(body: string): { from: string; to: string; text: string } {
  const [head, , ...rest] = body.split('\r\n\r\n');
  return { from: /^From: [^<]*<([^>]+)>/m.exec(head)![1], to: /^To: <([^>]+)>/m.exec(head)![1], text: rest.join('\r\n\r\n') };
}

describe('rooms stored on request (H1) and room memberships in session history (H2)', () => {
  it("stores what a participant who asked sees: public messages, private ones to and from them, peers as seen; the membership's row on leaving", async () => {
    const alice = await client('alice', false);
    const bob = await client('bob', false);
    const carol = await client('carol', false);
    const media = { acceptTypes: ['message/cpim', 'text/plain'] };
    const aCall = await alice.invite('team', { ...media, headers: ['Conversation-Store: on'] });
    expect(aCall.final).toMatch(/^SIP\/2\.0 200 OK/);
    const id = storedId(aCall.final)!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const aGot = inbox(aCall);
    const bCall = await bob.invite('team', media);
    expect(storedId(bCall.final)).toBeNull();
    const bGot = inbox(bCall);
    const cCall = await carol.invite('team', media);
    const cGot = inbox(cCall);

    expect((await bCall.session.send('text/plain', Buffer.from('hello team'))).status).toBe(200);
    expect((await aCall.session.send('text/plain', Buffer.from('hi bob'))).status).toBe(200);
    const priv = (from: string, to: string, text: string) => Buffer.from(`From: <${aor(from)}>\r\nTo: <${aor(to)}>\r\n\r\nContent-Type: text/plain\r\n\r\n${text}`);
    expect((await bCall.session.send('message/cpim', priv('bob', 'alice', 'psst alice'))).status).toBe(200);
    // a private message between others is not alice's to keep
    expect((await cCall.session.send('message/cpim', priv('carol', 'bob', 'psst bob'))).status).toBe(200);
    // alice answers once she has it: the room orders one sender's messages, not two senders' that
    // cross (the MSRP 200 is hop by hop, and a private message waits for its recipient's block list)
    await eventually(() => aGot.length >= 2);
    expect((await aCall.session.send('message/cpim', priv('alice', 'carol', 'psst carol'))).status).toBe(200);
    await eventually(() => aGot.length >= 2 && bGot.length >= 2 && cGot.length >= 3);
    await Promise.all([alice.bye(aCall)]);

    const c = await conversation(aor('alice'), id, 4, false);
    expect(c.kind).toBe('room');
    expect(c.peers).toEqual([aor('team'), aor('bob'), aor('carol')]);
    const msgs = await messagesOf(app, id);
    expect(msgs.map((m) => ({ sender: m.sender, recipients: m.recipients, type: m.contentType, ...cpim(m.body) }))).toEqual([
      { sender: aor('bob'), recipients: [aor('team')], type: 'message/cpim', from: aor('bob'), to: aor('team'), text: 'hello team' },
      { sender: aor('alice'), recipients: [aor('team')], type: 'message/cpim', from: aor('alice'), to: aor('team'), text: 'hi bob' },
      { sender: aor('bob'), recipients: [aor('alice')], type: 'message/cpim', from: aor('bob'), to: aor('alice'), text: 'psst alice' },
      { sender: aor('alice'), recipients: [aor('carol')], type: 'message/cpim', from: aor('alice'), to: aor('carol'), text: 'psst carol' },
    ]);
    // bob and carol did not ask
    expect(await conversationsOf(app, aor('bob'))).toEqual([]);

    // alice's membership: joined, left by BYE, 2 sent (one public, one private), 2 received
    const row = await eventually(async () => (await sessionHistoryRows(app)).find((r) => r.kind === 'room' && r.caller === aor('alice')));
    expect(row).toMatchObject({ callee: aor('team'), sent_count: 2, received_count: 2, message_count: 4, end_reason: 'departed' });
    expect(Number(row.ended_at)).toBeGreaterThanOrEqual(Number(row.started_at));
    expect(Number(row.duration_ms)).toBe(Number(row.ended_at) - Number(row.started_at));
    await Promise.all([bob.bye(bCall), carol.bye(cCall)]);
    const rows = await eventually(async () => {
      const r = (await sessionHistoryRows(app)).filter((x) => x.kind === 'room');
      return r.length === 3 && r;
    });
    expect(rows.find((r) => r.caller === aor('bob'))).toMatchObject({ sent_count: 2, received_count: 2 });
    expect(rows.find((r) => r.caller === aor('carol'))).toMatchObject({ sent_count: 1, received_count: 3 });
  });
});

describe('exploded pager messages stored once for the sender who asked (P3, H1)', () => {
  const send = (from: Name, to: string, body: string, opts: { contentType?: string; headers?: string[] } = {}): Promise<string> => sendMessage(app, { name: from, password: `${from}-pw` }, to, body, opts);

  it("stores a message to a group in the sender's conversation with the group, every recipient listed, and one to a URI list with the list", async () => {
    const dev = new Map<string, RawClient>();
    for (const n of ['carol', 'erin'] as const) {
      const d = await RawClient.udp(app.sipPort);
      devices.push(d);
      dev.set(n, d);
      expect(await registerContact(app, { name: n, password: `${n}-pw` }, `127.0.0.1:${d.localPort}`)).toMatch(/^SIP\/2\.0 200/);
    }
    /** each recipient's device takes its copy */
    const delivered = async (text: string) => {
      for (const d of dev.values()) d.answer(await d.next((m) => m.startsWith('MESSAGE ') && m.includes(text), 10_000), 200, 'OK', 'dev');
    };
    expect(await send('alice', 'crew', 'to the crew', { headers: ['Conversation-Store: on'] })).toMatch(/^SIP\/2\.0 202/);
    await delivered('to the crew');
    // a direct MESSAGE that asks: the recipient's device does not get the request, which is the server's
    const direct = send('alice', 'carol', 'just carol', { headers: ['Conversation-Store: on'] });
    const atCarol = await dev.get('carol')!.next((m) => m.startsWith('MESSAGE ') && m.includes('just carol'), 10_000);
    dev.get('carol')!.answer(atCarol, 200, 'OK', 'dev');
    expect(await direct).toMatch(/^SIP\/2\.0 200/);
    expect(headerOf(atCarol, 'Conversation-Store')).toEqual([]);
    const group = await eventually(async () => (await conversationsOf(app, aor('alice'))).find((c) => c.peers[0] === aor('crew') && c.messageCount === 1));
    expect(group).toMatchObject({ kind: 'pager', peers: [aor('crew')], recording: true });
    expect(await messagesOf(app, group.publicId)).toMatchObject([{ sender: aor('alice'), recipients: [aor('carol'), aor('erin')], contentType: 'text/plain', body: 'to the crew' }]);

    const list = `<?xml version="1.0" encoding="UTF-8"?>\n<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list><entry uri="${aor('erin')}"/><entry uri="${aor('carol')}"/><entry uri="${aor('frank')}"/></list></resource-lists>`;
    const body = ['--b1', 'Content-Type: text/plain', '', 'to the list', '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', list, '--b1--', ''].join('\r\n');
    expect(await send('frank', 'conf-factory', body, { contentType: 'multipart/mixed;boundary="b1"', headers: ['Conversation-Store: on'] })).toMatch(/^SIP\/2\.0 202/);
    await delivered('to the list');
    const byList = await eventually(async () => (await conversationsOf(app, aor('frank'))).find((c) => c.messageCount === 1));
    // the sender is not among the recipients
    expect(byList).toMatchObject({ kind: 'pager', peers: [aor('erin'), aor('carol')] });
    expect(await messagesOf(app, byList.publicId)).toMatchObject([{ sender: aor('frank'), recipients: [aor('erin'), aor('carol')], contentType: 'text/plain', body: 'to the list' }]);
  });
});
