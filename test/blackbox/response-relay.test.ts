import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { ImUser } from '../support/im-user.js';

// The proxy side of a relayed MESSAGE's response: the device's 200 goes back to the sender once;
// a retransmission of it is absorbed, as the completed client transaction's Timer K would absorb it
// (RFC 3261 §17.1.2.2: the stack drops what matches no transaction), never relayed as a second answer.
const USERS = { alice: 'alice-pw', bob: 'bob-pw' };
let app: RunningAppliance;
const open: ImUser[] = [];

beforeAll(async () => {
  app = await startAppliance({ users: USERS });
}, 180_000);
afterAll(async () => {
  for (const u of open) u.close();
  await app?.cleanup();
});

async function user(name: keyof typeof USERS): Promise<ImUser> {
  const u = await ImUser.open(app, name, USERS[name]);
  open.push(u);
  expect(await u.register()).toMatch(/^SIP\/2\.0 200 /);
  return u;
}

describe('relayed responses', () => {
  it("relays a device's 200 once and absorbs its retransmission", async () => {
    const [alice, bob] = [await user('alice'), await user('bob')];
    const first = alice.message('bob', 'text/plain', 'one', [], 'relay-once-1');
    const forwarded = await bob.sip.next((m) => m.startsWith('MESSAGE ') && m.includes('relay-once-1'), 10_000);
    const head = forwarded.slice(0, forwarded.indexOf('\r\n\r\n'));
    bob.sip.answer(head, 200, 'OK', 'bob-1');
    bob.sip.answer(head, 200, 'OK', 'bob-1'); // the same response again, as after a lost one
    expect(await first).toMatch(/^SIP\/2\.0 200 /);
    // the server reads bob's datagrams in order: by the time the second message's 200 reaches
    // alice, a relayed copy of the first one's would have reached her before it
    const second = alice.message('bob', 'text/plain', 'two', [], 'relay-once-2');
    await bob.received('the second message', (m) => m.includes('relay-once-2'));
    expect(await second).toMatch(/^SIP\/2\.0 200 /);
    await expect(alice.sip.next((m) => m.startsWith('SIP/2.0 ') && m.includes('relay-once-1'), 1)).rejects.toThrow(/no matching message/);
  });
});
