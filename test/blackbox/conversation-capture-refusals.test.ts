import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { ChatClient } from '../support/msrp-client.js';
import { headerOf } from '../support/raw-client.js';
import { sendMessage } from '../support/sip-user.js';
import { conversationsOf, usageRecordsOf } from '../support/conversations.js';
import { putGroupRooms } from '../support/rooms.js';

// Storage refused (H3): the owner is told which conversation was not stored, once per conversation
// and quota crossing, each refusal is a usage record (C5), and a session set up past the quota says
// so in its 2xx instead of naming a conversation.
const D = 'parley.test';
const NAMES = ['alice', 'bob', 'carol', 'dave'] as const;
type Name = (typeof NAMES)[number];
const aor = (n: string) => `sip:${n}@${D}`;
const STORAGE = `sip:storage@${D}`;
let app: RunningAppliance;
const clients: ChatClient[] = [];

beforeAll(async () => {
  app = await startAppliance({ users: Object.fromEntries(NAMES.map((n) => [n, `${n}-pw`])), config: { quota: { defaultBytes: 1000, warnAt: [90] } } });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await app?.cleanup();
});

async function client(name: Name): Promise<ChatClient> {
  const c = await ChatClient.connect(app, name, `${name}-pw`, true);
  clients.push(c);
  return c;
}

/** `from` sends a pager MESSAGE (authenticating when challenged); the final response. */
const send = (from: Name, to: Name, body: string, headers: string[] = []): Promise<string> => sendMessage(app, { name: from, password: `${from}-pw` }, to, body, { headers });

/** `from` sends `to` (online) a message asking to store it; `to`'s device takes it. The sender's answer. */
async function chat(from: Name, to: ChatClient, body: string): Promise<string> {
  const [answer] = await Promise.all([
    send(from, to.name as Name, body, ['Conversation-Store: on']),
    to.sip.next((m) => m.startsWith('MESSAGE ') && m.includes(body.slice(0, 12)), 12_000).then((m) => to.sip.answer(m)),
  ]);
  return answer;
}

const bodyOf = (m: string) => m.slice(m.indexOf('\r\n\r\n') + 4);

describe('storage refused past the quota: told once per conversation, recorded, and said in a session’s 2xx', () => {
  it('tells the owner once per conversation which one was not stored, records each refusal, and answers a session or a room join refused;reason=quota', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const carol = await client('carol');
    const dave = await client('dave');
    /** every MESSAGE from the storage service alice's device gets, answered */
    const notices: string[] = [];
    const collect = (async () => {
      for (;;) {
        const m = await alice.sip.next((x) => x.startsWith('MESSAGE ') && headerOf(x, 'From')[0].includes(STORAGE), 60_000).catch(() => null);
        if (m === null) return;
        alice.sip.answer(m);
        notices.push(bodyOf(m));
      }
    })();

    // all of alice's 1000 bytes stored: then each further message of hers is refused storage (still delivered)
    expect(await chat('alice', bob, 'first, kept '.padEnd(1000, 'x'))).toMatch(/^SIP\/2\.0 200/);
    await eventually(async () => (await conversationsOf(app, aor('alice'))).some((c) => c.messageCount === 1));
    for (const text of ['second, not kept', 'third, not kept', 'fourth, not kept']) expect(await chat('alice', bob, text)).toMatch(/^SIP\/2\.0 200/);
    expect(await chat('alice', carol, 'to carol, not kept')).toMatch(/^SIP\/2\.0 200/);
    await eventually(() => notices.some((n) => n.includes('Chat with carol@')), 15_000);
    const refusals = notices.filter((n) => n.startsWith('Not stored:'));
    expect(refusals.filter((n) => n.includes('"Chat with bob@parley.test"'))).toHaveLength(1);
    expect(refusals.filter((n) => n.includes('"Chat with carol@parley.test"'))).toHaveLength(1);
    expect(refusals[0]).toMatch(/^Not stored: "Chat with bob@parley\.test" \(conversation [A-Za-z0-9_-]{16}\), past your storage quota\./);

    // a session set up while alice is past her quota: the 200 says refused, and she is told which
    const [aCall, dCall] = await Promise.all([alice.invite('dave', { headers: ['Conversation-Store: on'] }), dave.answerInvite()]);
    expect(aCall.final).toMatch(/^SIP\/2\.0 200 OK/);
    expect(headerOf(aCall.final, 'Conversation-Store')).toEqual(['refused;reason=quota']);
    await eventually(() => notices.some((n) => n.startsWith('Not stored: "Session with dave@parley.test", past your storage quota.')), 15_000);
    await Promise.all([alice.bye(aCall), dave.awaitBye(dCall)]);

    // joining a room past the quota: the 200 says refused as a session's does, and she is told which
    expect(await putGroupRooms(app, 'alice', [{ name: 'den', displayName: 'Den', members: ['alice', 'dave'] }])).toBe(201);
    const rCall = await alice.invite('den', { acceptTypes: ['message/cpim', 'text/plain'], headers: ['Conversation-Store: on'] });
    expect(rCall.final).toMatch(/^SIP\/2\.0 200 OK/);
    expect(headerOf(rCall.final, 'Conversation-Store')).toEqual(['refused;reason=quota']);
    await eventually(() => notices.some((n) => n.startsWith('Not stored: "Room ') && n.includes('past your storage quota.')), 15_000);
    expect(await alice.bye(rCall)).toMatch(/^SIP\/2\.0 200/);

    // C5: each refusal is a usage record: three messages to bob, one to carol, the session with dave, the room
    const refused = await eventually(async () => {
      const rows = (await usageRecordsOf(app, 'conversation', aor('alice'))).filter((r) => r.outcome === 'refused');
      return rows.length >= 6 && rows;
    });
    expect(refused.map((r) => r.peer)).toEqual([aor('bob'), aor('bob'), aor('bob'), aor('carol'), aor('dave'), aor('den')]);
    for (const r of refused) expect(r.reason).toMatch(/^Storage quota reached/);
    alice.sip.close();
    await collect;
  });
});
