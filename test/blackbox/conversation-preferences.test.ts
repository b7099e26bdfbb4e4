import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { ChatClient, type Call } from '../support/msrp-client.js';
import { headerOf } from '../support/raw-client.js';
import { sendMessage } from '../support/sip-user.js';
import { xcapRequest } from '../support/xcap-client.js';
import { inbox, putGroupRooms } from '../support/rooms.js';
import { conversationsOf, messagesOf } from '../support/conversations.js';
import type { ReceivedMessage } from '../../appliance/src/msrp/msrp-session.js';

const D = 'parley.test';
const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' };
type Name = keyof typeof USERS;
const aor = (n: string) => `sip:${n}@${D}`;
const clients: ChatClient[] = [];

afterAll(() => {
  for (const c of clients) c.close();
});

async function client(app: RunningAppliance, name: Name, register = true): Promise<ChatClient> {
  const c = await ChatClient.connect(app, name, USERS[name], register);
  clients.push(c);
  return c;
}

/** The conversation id a Conversation-Store answer names (`on;id=<id>`), or null without one. */
function storedId(msg: string): string | null {
  const v = headerOf(msg, 'Conversation-Store')[0];
  return v === undefined ? null : (/^on;id=([A-Za-z0-9_-]+)$/.exec(v)?.[1] ?? `unexpected: ${v}`);
}

/** One message from the caller to the callee, received. */
async function talk(from: Call, to: Call, text: string): Promise<void> {
  const got = new Promise<ReceivedMessage>((resolve) => {
    to.session.onMessage = (m) => {
      m.report(200);
      resolve(m);
    };
  });
  expect((await from.session.send('text/plain', Buffer.from(text))).status).toBe(200);
  await got;
}

/** `owner`'s conversation `publicId` once it holds `n` messages. */
function stored(app: RunningAppliance, owner: string, publicId: string, n: number) {
  return eventually(async () => (await conversationsOf(app, owner)).find((c) => c.publicId === publicId && c.messageCount === n));
}

/** A text MESSAGE from `from` to `sip:<to>@D` (digest over UDP); the final response. */
async function sendMessageWith(app: RunningAppliance, from: Name, to: string, text: string): Promise<string> {
  return sendMessage(app, { name: from, password: USERS[from] }, to, text);
}

const PREFS = `im-preferences/users/${aor('bob')}/index`;
const prefs = (store: string) => `<im-preferences xmlns="urn:parley:params:xml:ns:im-prefs"><store-conversations>${store}</store-conversations></im-preferences>`;

describe('"store all my conversations" in im-preferences (Y3, H1)', () => {
  let app: RunningAppliance;
  beforeAll(async () => {
    app = await startAppliance({ users: USERS });
    expect(await putGroupRooms(app, 'alice', [{ name: 'lobby' }])).toBe(201);
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  it("stores the user's pager messages, sessions and rooms without the header, and stops when the preference is turned off", async () => {
    const put = (body: string) => xcapRequest(app, 'PUT', PREFS, { user: 'bob', body, headers: { 'Content-Type': 'application/vnd.parley.im-preferences+xml' } });
    expect((await put(prefs('true'))).status).toBe(201);

    // pager: alice's plain MESSAGE to bob (offline: stored for later, 202) goes into bob's conversation with her
    expect(await sendMessage(app, { name: 'alice', password: USERS.alice }, 'bob', 'are you there?')).toMatch(/^SIP\/2\.0 202/);
    const pager = await eventually(async () => (await conversationsOf(app, aor('bob'))).find((c) => c.kind === 'pager' && c.messageCount === 1));
    expect(pager.peers).toEqual([aor('alice')]);
    expect(await messagesOf(app, pager.publicId)).toMatchObject([{ sender: aor('alice'), recipients: [aor('bob')], body: 'are you there?' }]);
    expect(await conversationsOf(app, aor('alice'))).toEqual([]);

    // session: bob calls carol without asking; his 200 names his conversation
    const bob = await client(app, 'bob');
    const carol = await client(app, 'carol');
    const [bCall, cCall] = await Promise.all([bob.invite('carol'), carol.answerInvite()]);
    const id = storedId(bCall.final)!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    await talk(bCall, cCall, 'stored by preference');
    await Promise.all([bob.bye(bCall), carol.awaitBye(cCall)]);
    expect(await messagesOf(app, (await stored(app, aor('bob'), id, 1)).publicId)).toMatchObject([{ sender: aor('bob'), body: 'stored by preference' }]);

    // room: bob joins the lobby without asking; the 200 names his conversation
    const room = await bob.invite('lobby', { acceptTypes: ['message/cpim', 'text/plain'] });
    const roomId = storedId(room.final)!;
    expect(roomId).toMatch(/^[A-Za-z0-9_-]{16}$/);
    inbox(room);
    expect((await room.session.send('text/plain', Buffer.from('anyone?'))).status).toBe(200);
    await bob.bye(room);
    expect(await stored(app, aor('bob'), roomId, 1)).toMatchObject({ kind: 'room', peers: [aor('lobby')] });

    // turned off: the next session is not stored, and the 200 says nothing
    expect((await put(prefs('false'))).status).toBe(200);
    // (the node re-reads the document after the PUT's commit: a session begun in between may still be stored)
    const named: string[] = [];
    await eventually(async () => {
      const [b, c] = await Promise.all([bob.invite('carol'), carol.answerInvite()]);
      await Promise.all([bob.bye(b), carol.awaitBye(c)]);
      const again = storedId(b.final);
      if (again !== null) named.push(again);
      return again === null;
    });
    // the session without the header left no conversation: bob's are exactly those that were named
    const sessions = (await conversationsOf(app, aor('bob'))).filter((c) => c.kind === 'session');
    expect(sessions.map((c) => c.publicId).sort()).toEqual([id, ...named].sort());
  });
});

describe('history.storeAll (site policy): every session and room is stored for everyone (H1)', () => {
  let app: RunningAppliance;
  beforeAll(async () => {
    app = await startAppliance({ users: USERS, config: { history: { storeAll: true } } });
    expect(await putGroupRooms(app, 'alice', [{ name: 'lobby' }, { name: 'crew', members: ['alice', 'bob', 'carol'] }])).toBe(201);
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  it("stores a message to a group once in the sender's conversation with the group and in each recipient's", async () => {
    // bob and carol have no device yet (this test runs first): their copies are stored for later, accepted
    const sent = await sendMessageWith(app, 'alice', 'crew', 'crew news');
    expect(sent).toMatch(/^SIP\/2\.0 202/);
    for (const [owner, recipients] of [
      [aor('alice'), [aor('bob'), aor('carol')]],
      [aor('bob'), [aor('crew')]],
      [aor('carol'), [aor('crew')]],
    ] as const) {
      const c = await eventually(async () => (await conversationsOf(app, owner)).find((x) => x.kind === 'pager' && x.messageCount === 1));
      expect(c.peers).toEqual([aor('crew')]);
      expect(await messagesOf(app, c.publicId)).toMatchObject([{ sender: aor('alice'), recipients, body: 'crew news' }]);
    }
  });

  it('stores a session in both sides\' conversations, each named to its user (the 200 and the ACK)', async () => {
    const alice = await client(app, 'alice');
    const bob = await client(app, 'bob');
    const [aCall, bCall] = await Promise.all([alice.invite('bob'), bob.answerInvite()]);
    const aliceId = storedId(aCall.final)!;
    const ack = await bob.sip.next((m) => m.startsWith('ACK ') && headerOf(m, 'Call-ID')[0] === bCall.callId, 10_000);
    const bobId = storedId(ack)!;
    expect(aliceId).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(bobId).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(bobId).not.toBe(aliceId);
    await talk(aCall, bCall, 'one');
    await talk(bCall, aCall, 'two');
    await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);
    expect(await stored(app, aor('alice'), aliceId, 2)).toMatchObject({ kind: 'session', peers: [aor('bob')] });
    expect(await stored(app, aor('bob'), bobId, 2)).toMatchObject({ kind: 'session', peers: [aor('alice')] });
    expect((await messagesOf(app, bobId)).map((m) => [m.sender, m.body])).toEqual([
      [aor('alice'), 'one'],
      [aor('bob'), 'two'],
    ]);
  });

  it('stores a room for each participant', async () => {
    const alice = await client(app, 'alice', false);
    const carol = await client(app, 'carol', false);
    const media = { acceptTypes: ['message/cpim', 'text/plain'] };
    const aCall = await alice.invite('lobby', media);
    const cCall = await carol.invite('lobby', media);
    const [aId, cId] = [storedId(aCall.final)!, storedId(cCall.final)!];
    const cGot = inbox(cCall);
    inbox(aCall);
    expect((await aCall.session.send('text/plain', Buffer.from('hello lobby'))).status).toBe(200);
    await eventually(() => cGot.length === 1);
    await Promise.all([alice.bye(aCall), carol.bye(cCall)]);
    // alice joined an empty room and then saw carol join: both are her peers
    expect(await stored(app, aor('alice'), aId, 1)).toMatchObject({ kind: 'room', peers: [aor('lobby'), aor('carol')] });
    expect(await stored(app, aor('carol'), cId, 1)).toMatchObject({ kind: 'room', peers: [aor('lobby'), aor('alice')] });
  });
});
