import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { ChatClient } from '../support/msrp-client.js';
import { headerOf } from '../support/raw-client.js';
import { sendMessage } from '../support/sip-user.js';
import { inbox, putGroupRooms } from '../support/rooms.js';
import { conversationsOf, messagesOf } from '../support/conversations.js';
import type { ReceivedMessage, ReceivedReport } from '../../appliance/src/msrp/msrp-session.js';

// Conversations captured where session 5 left gaps: large messages stored for an offline
// recipient (P4) and private room messages to a member who left (S8), H1.
const D = 'parley.test';
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'] as const;
type Name = (typeof NAMES)[number];
const aor = (n: string) => `sip:${n}@${D}`;
let app: RunningAppliance;
const clients: ChatClient[] = [];

beforeAll(async () => {
  app = await startAppliance({ users: Object.fromEntries(NAMES.map((n) => [n, `${n}-pw`])), config: { deferred: { retryMin: 1 } } });
  expect(await putGroupRooms(app, 'alice', [{ name: 'den', displayName: 'Den', members: ['alice', 'bob', 'carol'] }])).toBe(201);
});
afterAll(async () => {
  for (const c of clients) c.close();
  await app?.cleanup();
});

async function client(name: Name, register = true): Promise<ChatClient> {
  const c = await ChatClient.connect(app, name, `${name}-pw`, register);
  clients.push(c);
  return c;
}

/** `from` sends a pager MESSAGE (authenticating when challenged); the final response. */
const send = (from: Name, to: Name, body: string, headers: string[] = []): Promise<string> => sendMessage(app, { name: from, password: `${from}-pw` }, to, body, { headers });

/** The conversation id our Conversation-Store answer names (`on;id=<id>`), or null. */
function storedId(msg: string): string | null {
  const v = headerOf(msg, 'Conversation-Store')[0];
  return v === undefined ? null : (/^on;id=([A-Za-z0-9_-]+)$/.exec(v)?.[1] ?? `unexpected: ${v}`);
}

/** A text well over what a pager MESSAGE may carry (RFC 3428 §8). */
const large = (marker: string, bytes: number) => `${marker}\n`.padEnd(bytes, 'large message line\n');

describe('large message mode (P4) captured like a pager message (H1)', () => {
  it("stores a large message for an offline callee in the sender's conversation she asked for (named in the 200) and the callee's recording one, and not again when it is pushed", async () => {
    // dave records his conversation with erin (asked on a MESSAGE while erin is offline)
    expect(await send('dave', 'erin', 'keep our chat', ['Conversation-Store: on'])).toMatch(/^SIP\/2\.0 202/);
    const daveConv = await eventually(async () => (await conversationsOf(app, aor('dave'))).find((c) => c.peers[0] === aor('erin') && c.messageCount === 1));

    // erin, unasked, sends dave (offline) a large message: it goes into dave's recording conversation
    const erin = await client('erin');
    const eCall = await erin.invite('dave', { direction: 'sendonly' });
    expect(eCall.final).toMatch(/^SIP\/2\.0 200 Stored for later delivery/);
    expect(headerOf(eCall.final, 'Conversation-Store')).toEqual([]);
    const toDave = large('for dave', 20_000);
    expect((await eCall.session.send('text/plain', Buffer.from(toDave))).status).toBe(200);
    expect(await erin.bye(eCall)).toMatch(/^SIP\/2\.0 200/);

    // alice asks on her INVITE to carol (offline): the 200 names her conversation with carol
    const alice = await client('alice');
    const aCall = await alice.invite('carol', { direction: 'sendonly', headers: ['Conversation-Store: on'] });
    expect(aCall.final).toMatch(/^SIP\/2\.0 200 Stored for later delivery/);
    const id = storedId(aCall.final)!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const toCarol = large('for carol', 30_000);
    expect((await aCall.session.send('text/plain', Buffer.from(toCarol))).status).toBe(200);
    expect(await alice.bye(aCall)).toMatch(/^SIP\/2\.0 200/);
    const aliceConv = await eventually(async () => (await conversationsOf(app, aor('alice'))).find((c) => c.publicId === id && c.messageCount === 1));
    expect(aliceConv).toMatchObject({ kind: 'pager', peers: [aor('carol')], recording: true });
    expect(await messagesOf(app, id)).toMatchObject([{ sender: aor('alice'), recipients: [aor('carol')], contentType: 'text/plain', body: toCarol }]);
    await eventually(async () => (await conversationsOf(app, aor('dave'))).find((c) => c.publicId === daveConv.publicId && c.messageCount === 2));
    expect((await messagesOf(app, daveConv.publicId))[1]).toMatchObject({ sender: aor('erin'), recipients: [aor('dave')], body: toDave });
    // carol asked nothing and stores nothing
    expect(await conversationsOf(app, aor('carol'))).toEqual([]);

    // carol comes online and gets it from deferred storage: a delivery, not a new message to store
    const carol = await client('carol');
    const pushed = await carol.sip.next((x) => x.startsWith('MESSAGE ') && x.includes('for carol'), 15_000);
    carol.sip.answer(pushed);
    // a pager message after it, stored in the same conversation: once it is there, so would a second copy be
    expect(await send('alice', 'carol', 'after the push')).toMatch(/^SIP\/2\.0 (200|202)/);
    const after = await eventually(async () => {
      const msgs = await messagesOf(app, id);
      return msgs.some((m) => m.body === 'after the push') && msgs;
    });
    expect(after.map((m) => m.body)).toEqual([toCarol, 'after the push']);
    expect(await conversationsOf(app, aor('carol'))).toEqual([]);
  });

  it("stores a large message delivered live through the switch in the conversation the sender asked for (a session's)", async () => {
    const frank = await client('frank');
    const bob = await client('bob');
    const [fCall, bCall] = await Promise.all([frank.invite('bob', { direction: 'sendonly', headers: ['Conversation-Store: on'] }), bob.answerInvite({ direction: 'recvonly' })]);
    expect(fCall.final).toMatch(/^SIP\/2\.0 200 OK/);
    const id = storedId(fCall.final)!;
    const text = large('live', 100_000);
    const got = new Promise<ReceivedMessage>((r) => (bCall.session.onMessage = r));
    expect((await fCall.session.send('text/plain', Buffer.from(text))).status).toBe(200);
    expect((await got).body.toString()).toBe(text);
    await Promise.all([frank.bye(fCall), bob.awaitBye(bCall)]);
    await eventually(async () => (await conversationsOf(app, aor('frank'))).find((c) => c.publicId === id && c.messageCount === 1));
    expect(await messagesOf(app, id)).toMatchObject([{ sender: aor('frank'), recipients: [aor('bob')], body: text }]);
  });
});

describe('private room messages to a member who left (S8) in the sender’s conversation (H1)', () => {
  it('stores the private message the focus keeps for a departed member, the recipient named, and answers the sender as before', async () => {
    const alice = await client('alice', false);
    const bob = await client('bob', false);
    const media = { acceptTypes: ['message/cpim', 'text/plain'] };
    const aCall = await alice.invite('den', { ...media, headers: ['Conversation-Store: on'] });
    const id = storedId(aCall.final)!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    inbox(aCall);
    const bCall = await bob.invite('den', media);
    expect(await bob.bye(bCall)).toMatch(/^SIP\/2\.0 200/);
    const priv = `From: <${aor('alice')}>\r\nTo: <${aor('bob')}>\r\n\r\nContent-Type: text/plain\r\n\r\nwhile you were out`;
    // the departed member's copy waits in his deferred storage: the focus says so to the sender
    const report = new Promise<ReceivedReport>((resolve) => (aCall.session.onReport = resolve));
    expect((await aCall.session.send('message/cpim', Buffer.from(priv), { successReport: true })).status).toBe(200);
    expect(await report).toMatchObject({ status: 200, comment: 'Stored for later delivery' });
    expect(await alice.bye(aCall)).toMatch(/^SIP\/2\.0 200/);
    const stored = await eventually(async () => {
      const msgs = await messagesOf(app, id);
      return msgs.length === 1 && msgs[0];
    });
    expect(stored).toMatchObject({ sender: aor('alice'), recipients: [aor('bob')], contentType: 'message/cpim' });
    expect(stored.body).toMatch(new RegExp(`^From: <${aor('alice')}>\\r\\nTo: <${aor('bob')}>\\r\\n`));
    expect(stored.body.endsWith('\r\n\r\nwhile you were out')).toBe(true);
    expect((await conversationsOf(app, aor('alice'))).find((c) => c.publicId === id)?.peers).toEqual([aor('den'), aor('bob')]);
  });
});
