import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { ImUser, bodyOf, cpimWithImdn, imdnCpim, cpimHeader, imdnElement, imdnStatus } from '../support/im-user.js';
import { headerOf } from '../support/raw-client.js';

// Delivery and display notifications (P5: RFC 5438 IMDN carried in RFC 3862 CPIM) end to end:
// live, from deferred storage, and through the exploder. Each user is a RawClient device, so the
// assertions read what reached the device byte for byte.
const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw', erin: 'erin-pw' };

let app: RunningAppliance;
const open: ImUser[] = [];

async function user(name: keyof typeof USERS, register = true): Promise<ImUser> {
  const u = await ImUser.open(app, name, USERS[name]);
  open.push(u);
  if (register) expect(await u.register()).toMatch(/^SIP\/2\.0 200 /);
  return u;
}

beforeAll(async () => {
  app = await startAppliance({ users: USERS });
});
afterAll(async () => {
  for (const u of open) u.close();
  await app?.cleanup();
});

const stamp = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

describe('IMDN live (P5, RFC 5438)', () => {
  it('a message asking for notifications reaches the recipient with its CPIM headers intact, and the delivery and display notifications reach the sender matching it', async () => {
    const [alice, bob] = [await user('alice'), await user('bob')];
    const dateTime = stamp();
    const cpim = cpimWithImdn({ from: alice.aor, to: bob.aor, messageId: 'live-34jk324j', dateTime, dispositions: 'positive-delivery, negative-delivery, display', text: 'Hello live' });
    const sent = alice.message('bob', 'message/cpim', cpim);
    const got = await bob.received('the message');
    expect(await sent).toMatch(/^SIP\/2\.0 200 /);
    // RFC 5438 §6: the headers the sender set travel unchanged
    expect(bodyOf(got)).toBe(cpim);
    expect(cpimHeader(bodyOf(got), 'imdn.Message-ID')).toBe('live-34jk324j');

    for (const [kind, status] of [['delivery', 'delivered'], ['display', 'displayed']] as const) {
      const imdn = imdnCpim({ from: bob.aor, to: alice.aor, messageId: 'live-34jk324j', dateTime, originalRecipient: bob.aor, kind, status });
      const answer = bob.message('alice', 'message/cpim', imdn);
      const back = bodyOf(await alice.received(`the ${kind} notification`));
      expect(await answer).toMatch(/^SIP\/2\.0 200 /);
      const xml = back.slice(back.indexOf('<?xml'));
      // RFC 5438 §7.1.2: the sender matches by <message-id>, and by recipient with original-recipient-uri
      expect(imdnElement(xml, 'message-id')).toBe('live-34jk324j');
      expect(imdnElement(xml, 'datetime')).toBe(dateTime);
      expect(imdnElement(xml, 'original-recipient-uri')).toBe(bob.aor);
      expect(imdnStatus(xml)).toEqual({ kind, status });
    }
    alice.close();
    bob.close();
  });
});

describe('IMDN through deferred storage (P2, P5)', () => {
  it('a delivery notification for a message pushed from storage reaches the sender with the original Message-ID', async () => {
    const alice = await user('alice');
    const carol = await user('carol', false);
    const dateTime = stamp();
    const cpim = cpimWithImdn({ from: alice.aor, to: carol.aor, messageId: 'stored-77aa', dateTime, dispositions: 'positive-delivery', text: 'Hello later' });
    expect(await alice.message('carol', 'message/cpim', cpim)).toMatch(/^SIP\/2\.0 202 /);
    expect(await carol.register()).toMatch(/^SIP\/2\.0 200 /);
    const pushed = await carol.received('the pushed message');
    expect(bodyOf(pushed)).toBe(cpim);
    const imdn = imdnCpim({ from: carol.aor, to: cpimHeader(bodyOf(pushed), 'From')!.replace(/[<>]/g, ''), messageId: cpimHeader(bodyOf(pushed), 'imdn.Message-ID')!, dateTime: cpimHeader(bodyOf(pushed), 'DateTime')!, originalRecipient: carol.aor, kind: 'delivery', status: 'delivered' });
    const answer = carol.message('alice', 'message/cpim', imdn);
    const xml = bodyOf(await alice.received('the delivery notification', (m) => m.includes('message/imdn+xml')));
    expect(await answer).toMatch(/^SIP\/2\.0 200 /);
    expect(imdnElement(xml, 'message-id')).toBe('stored-77aa');
    expect(imdnElement(xml, 'datetime')).toBe(dateTime);
    expect(imdnStatus(xml)).toEqual({ kind: 'delivery', status: 'delivered' });
    alice.close();
    carol.close();
  });

  it('a message pushed from storage keeps the Call-ID and From tag it was sent with, which a SIP SIMPLE client\'s delivery notification names as <message-id>', async () => {
    const alice = await user('alice');
    const dave = await user('dave', false);
    // liblinphone without CPIM: the outgoing message's id is its Call-ID (seen on the wire, docs)
    expect(await alice.message('dave', 'text/plain', 'plain hello', [], 'ffqb9rgMGBs')).toMatch(/^SIP\/2\.0 202 /);
    expect(await dave.register()).toMatch(/^SIP\/2\.0 200 /);
    const pushed = await dave.received('the pushed message');
    expect(headerOf(pushed, 'Call-ID')).toEqual(['ffqb9rgMGBs']);
    expect(headerOf(pushed, 'From')[0]).toMatch(/^<sip:alice@parley\.test>;tag=/);
    alice.close();
    dave.close();
  });
});
