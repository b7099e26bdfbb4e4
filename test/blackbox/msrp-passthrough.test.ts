import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { ChatClient } from '../support/msrp-client.js';
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
});
