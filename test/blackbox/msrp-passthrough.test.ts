import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { ChatClient } from '../support/msrp-client.js';
import { headerOf } from '../support/raw-client.js';
import { conversationsOf } from '../support/conversations.js';
import { xcapRequest } from '../support/xcap-client.js';
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

  it('tells a caller who stores everything (im-preferences) that this session cannot be stored, without a header', async () => {
    const body = '<im-preferences xmlns="urn:parley:params:xml:ns:im-prefs"><store-conversations>true</store-conversations></im-preferences>';
    expect((await xcapRequest(app, 'PUT', 'im-preferences/users/sip:bob@parley.test/index', { user: 'bob', body, headers: { 'Content-Type': 'application/vnd.parley.im-preferences+xml' } })).status).toBe(201);
    const alice = await ChatClient.connect(app, 'alice', 'alice-pw');
    const bob = await ChatClient.connect(app, 'bob', 'bob-pw');
    clients.push(alice, bob);
    // the node re-reads bob's preferences after the PUT's commit: a call placed in between may not know yet
    const ack = await eventually(async () => {
      const [bCall, aCall] = await Promise.all([bob.invite('alice', { setup: 'active' }), alice.answerInvite({ setup: 'passive' })]);
      const acked = await alice.sip.next((m) => m.startsWith('ACK ') && headerOf(m, 'Call-ID')[0] === aCall.callId, 10_000);
      await Promise.all([bob.bye(bCall), alice.awaitBye(aCall)]);
      return headerOf(bCall.final, 'Conversation-Store')[0] === 'unavailable' && acked;
    });
    // alice neither asked nor stores everything: her ACK says nothing
    expect(headerOf(ack, 'Conversation-Store')).toEqual([]);
  });
});
