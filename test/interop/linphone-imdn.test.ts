import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { startLinphone, type Linphone } from '../support/linphone.js';
import { interopConfig } from '../support/interop.js';

// Issue 11 (P5): Linphone showed a message stored for an offline recipient as never delivered.
// liblinphone 5.1 sends SIP SIMPLE (text/plain, no CPIM) in its basic chat rooms and takes the
// MESSAGE's Call-ID as the message's id; the recipient's delivery notification names the Call-ID
// it received as <message-id>. A push from storage with a new Call-ID made the sender log
// "Received IMDN for unknown message <new Call-ID>" and never show "delivered to user".
const USERS = { alice: 'alice-pw', bob: 'bob-pw' };

let app: RunningAppliance;
let alice: Linphone;
let bob: Linphone | undefined;

beforeAll(async () => {
  app = await startAppliance({ config: interopConfig(), users: USERS });
  alice = startLinphone({ user: 'alice', password: USERS.alice, domain: app.domain, proxyPort: app.sipPort });
});

afterAll(async () => {
  await alice?.stop();
  await bob?.stop();
  await app?.cleanup();
});

describe('Linphone delivery notifications for stored messages (P2, P5)', () => {
  it('a message Linphone sent to an offline user is shown delivered to the user once it is pushed from storage', async () => {
    expect(await alice.registrationState()).toBe('LinphoneRegistrationOk');
    const sent = await alice.command(`message sip:bob@${app.domain} hello-while-you-were-out`);
    const id = sent.fields.Id;
    // 202 from the store: "Delivered" to the server, not yet to the user
    await alice.waitForEvent('the 202 for the stored message', (e) => e.type === 'message-state-changed' && e.fields.Id === id && e.fields.State === 'LinphoneChatMessageStateDelivered', 15_000);

    bob = startLinphone({ user: 'bob', password: USERS.bob, domain: app.domain, proxyPort: app.sipPort });
    expect(await bob.registrationState()).toBe('LinphoneRegistrationOk');
    const got = await bob.waitForEvent('the pushed message', (e) => e.type === 'message-received', 15_000);
    expect(got.fields.Content).toBe('"hello-while-you-were-out"');

    // linphone-daemon prints no event past "Delivered"; liblinphone logs the chat message's state
    // machine, and "DeliveredToUser" is what its user interface shows as delivered to the user
    const toUser = /Chat message \S+ of chat room ConferenceId\(peer=IdentityAddress\(sip:bob@parley\.test\)[^\n]* moving from Delivered to DeliveredToUser/;
    await eventually(() => toUser.test(alice.log()) || /Received IMDN for unknown message/.test(alice.log()), 15_000).catch(() => undefined);
    expect(alice.log().match(/Received IMDN for unknown message \S+/)?.[0] ?? 'no unknown IMDN').toBe('no unknown IMDN');
    expect(alice.log()).toMatch(toUser);
  });
});
