import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
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
  it("stores what Alice sent when Bob's MSRP leg drops with it unanswered, delivers it to Bob later, and the session ends", async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const [aCall, bCall] = await Promise.all([alice.invite('bob'), bob.answerInvite({ connect: false })]);
    // Bob's client binds its leg over a raw connection (RFC 4975 §5.4) and then answers nothing
    const sock = net.connect(app.msrpPort, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.on('error', () => undefined);
    let seen = '';
    sock.on('data', (d: Buffer) => (seen += d.toString('latin1')));
    sock.write(`MSRP bind0001 SEND\r\nTo-Path: ${bCall.peerMedia!.path}\r\nFrom-Path: ${bCall.session.localPath}\r\nMessage-ID: b1\r\nByte-Range: 1-0/0\r\n-------bind0001$\r\n`);
    await eventually(() => seen.includes('MSRP bind0001 200 OK'));
    expect((await aCall.session.send('text/plain', Buffer.from('are you still there?'))).status).toBe(200);
    // the message is on Bob's leg, unanswered, when his client loses the connection (no BYE)
    await eventually(() => seen.includes('are you still there?'));
    sock.destroy();
    const stored = await nextPagerMessage(bob);
    expect(headerOf(stored, 'From')[0]).toContain('sip:alice@parley.test');
    expect(stored.slice(stored.indexOf('\r\n\r\n') + 4)).toBe('are you still there?');
    // the session is over for both (the server's BYEs say why)
    await Promise.all([alice.awaitBye(aCall), bob.awaitBye(bCall)]);
  });
});
