import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { ChatClient } from '../support/msrp-client.js';
import { headerOf } from '../support/raw-client.js';
import { conversationsOf } from '../support/conversations.js';
import type { ReceivedMessage } from '../../appliance/src/msrp/msrp-session.js';

let app: RunningAppliance;
const clients: ChatClient[] = [];

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw', bob: 'bob-pw' }, config: { sessions: { media: 'passthrough' } } });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await app?.cleanup();
});

describe('client-to-client sessions where policy allows (S7, sessions.media: passthrough)', () => {
  it('passes the SDP through untouched both ways, and the clients talk MSRP to each other', async () => {
    const alice = await ChatClient.connect(app, 'alice', 'alice-pw');
    const bob = await ChatClient.connect(app, 'bob', 'bob-pw');
    clients.push(alice, bob);
    const [aCall, bCall] = await Promise.all([alice.invite('bob', { setup: 'active' }), bob.answerInvite({ setup: 'passive' })]);
    expect(aCall.final).toMatch(/^SIP\/2\.0 200/);
    expect(bCall.peerMedia!.path).toBe(aCall.session.localPath);
    expect(aCall.peerMedia!.path).toBe(bCall.session.localPath);
    const got = new Promise<ReceivedMessage>((r) => (bCall.session.onMessage = r));
    expect((await aCall.session.send('text/plain', Buffer.from('direct'))).status).toBe(200);
    expect((await got).body.toString()).toBe('direct');
    await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);
  });

  it('answers a request to store the session with Conversation-Store: unavailable, to the caller in the 200 and to the callee in the ACK (H1)', async () => {
    const alice = await ChatClient.connect(app, 'alice', 'alice-pw');
    const bob = await ChatClient.connect(app, 'bob', 'bob-pw');
    clients.push(alice, bob);
    const [aCall, bCall] = await Promise.all([
      alice.invite('bob', { setup: 'active', headers: ['Conversation-Store: on'] }),
      bob.answerInvite({ setup: 'passive', headers: ['Conversation-Store: on'] }),
    ]);
    expect(aCall.final).toMatch(/^SIP\/2\.0 200/);
    // the MSRP goes end to end: the server never sees the messages and says so
    expect(headerOf(aCall.final, 'Conversation-Store')).toEqual(['unavailable']);
    const ack = await bob.sip.next((m) => m.startsWith('ACK ') && headerOf(m, 'Call-ID')[0] === bCall.callId, 10_000);
    expect(headerOf(ack, 'Conversation-Store')).toEqual(['unavailable']);
    await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);
    expect([...(await conversationsOf(app, 'sip:alice@parley.test')), ...(await conversationsOf(app, 'sip:bob@parley.test'))]).toEqual([]);
  });
});
