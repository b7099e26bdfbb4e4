import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { ChatClient } from '../support/msrp-client.js';
import { headerOf } from '../support/raw-client.js';
import type { ReceivedMessage } from '../../appliance/src/msrp/msrp-session.js';

const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' };
let app: RunningAppliance;
const clients: ChatClient[] = [];

beforeAll(async () => {
  app = await startAppliance({ users: USERS, config: { deferred: { retryMin: 1 } } });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await app?.cleanup();
});

async function client(name: keyof typeof USERS, register = true): Promise<ChatClient> {
  const c = await ChatClient.connect(app, name, USERS[name], register);
  clients.push(c);
  return c;
}

/** A text body well over what a pager MESSAGE may carry (RFC 3428 §8: 1300 bytes without congestion control). */
function largeText(bytes: number): string {
  let s = '';
  for (let i = 0; s.length < bytes; i++) s += `line ${i} of a large message\n`;
  return s.slice(0, bytes);
}

/** The next MESSAGE on a client's SIP connection, answered 200 as a device would. */
async function nextPagerMessage(c: ChatClient): Promise<string> {
  const m = await c.sip.next((x) => x.startsWith('MESSAGE '), 15_000);
  c.sip.answer(m);
  return m;
}

describe('large message mode (P4): one SEND over a short MSRP session', () => {
  it('delivers a large message to an online callee over the switch', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const [aCall, bCall] = await Promise.all([alice.invite('bob', { direction: 'sendonly' }), bob.answerInvite({ direction: 'recvonly' })]);
    expect(aCall.final).toMatch(/^SIP\/2\.0 200 OK/);
    // the callee is offered the same one-way session (OMA IM large message mode: a=sendonly)
    expect(bCall.peerMedia!.direction).toBe('sendonly');
    const text = largeText(300_000);
    const got = new Promise<ReceivedMessage>((r) => (bCall.session.onMessage = r));
    expect((await aCall.session.send('text/plain', Buffer.from(text))).status).toBe(200);
    expect((await got).body.toString()).toBe(text);
    await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);
  });

  it('stores a large message for an offline callee, says so in the 200, and delivers it when she registers', async () => {
    const alice = await client('alice');
    const aCall = await alice.invite('carol', { direction: 'sendonly' });
    expect(aCall.final).toMatch(/^SIP\/2\.0 200 Stored for later delivery/);
    expect(aCall.peerMedia!.direction).toBe('recvonly');
    const text = largeText(20_000);
    expect((await aCall.session.send('text/plain', Buffer.from(text))).status).toBe(200);
    expect(await alice.bye(aCall)).toMatch(/^SIP\/2\.0 200/);
    const carol = await client('carol');
    const msg = await nextPagerMessage(carol);
    expect(headerOf(msg, 'From')[0]).toContain('sip:alice@parley.test');
    expect(msg.slice(msg.indexOf('\r\n\r\n') + 4)).toBe(text);
  });
});

describe('session messages to an absent participant (S8)', () => {
  it("stores what Alice sends after Bob's MSRP leg is gone and delivers it to Bob later", async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const [aCall, bCall] = await Promise.all([alice.invite('bob'), bob.answerInvite()]);
    const first = new Promise<ReceivedMessage>((r) => (bCall.session.onMessage = r));
    expect((await aCall.session.send('text/plain', Buffer.from('before'))).status).toBe(200);
    expect((await first).body.toString()).toBe('before');
    // Bob's client loses its MSRP connection (no BYE): the server's leg to him is gone
    bCall.session.connection!.close();
    expect((await aCall.session.send('text/plain', Buffer.from('are you still there?'))).status).toBe(200);
    const stored = await nextPagerMessage(bob);
    expect(headerOf(stored, 'From')[0]).toContain('sip:alice@parley.test');
    expect(stored.slice(stored.indexOf('\r\n\r\n') + 4)).toBe('are you still there?');
    await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);
  });
});
