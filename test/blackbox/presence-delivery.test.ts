import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { RawClient } from '../support/raw-client.js';
import { registerContact, sendMessage } from '../support/sip-user.js';
import { pidf, publish } from '../support/presence-client.js';

// T1 = 100 ms: live delivery waits 16 x T1 = 1.6 s for a device before storing (docs/architecture.md)
const CONFIG = { sip: { timers: { T1: 100 } } };
let app: RunningAppliance;
const alice = { name: 'alice', password: 'alice-pw' };
const bob = { name: 'bob', password: 'bob-pw' };

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: { alice: 'alice-pw', bob: 'bob-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
});

const messagesIn = (device: RawClient, text: string) => device.inbox.filter((m) => m.startsWith('MESSAGE ') && m.includes(text));

describe('presence-driven delivery (R4)', () => {
  it('stores at once for a user whose only device stopped answering, until it registers again', async () => {
    const device = await RawClient.udp(app.sipPort);
    expect(await registerContact(app, bob, `127.0.0.1:${device.localPort}`, 300)).toMatch(/^SIP\/2\.0 200/);
    // the device is gone without unregistering: the first message waits out the fork, then is stored
    expect(await sendMessage(app, alice, 'bob', 'first while away')).toMatch(/^SIP\/2\.0 202/);
    expect(messagesIn(device, 'first while away').length).toBeGreaterThan(0);
    // the next goes straight to storage: the device is not even tried
    expect(await sendMessage(app, alice, 'bob', 'second while away')).toMatch(/^SIP\/2\.0 202/);
    expect(messagesIn(device, 'second while away')).toHaveLength(0);
    // the device registers again and answers from now on: stored messages arrive, and live delivery resumes
    let answering = true;
    void (async () => {
      while (answering) {
        const m = await device.next((x) => x.startsWith('MESSAGE '), 500).catch(() => null);
        if (m) device.answer(m);
      }
    })();
    expect(await registerContact(app, bob, `127.0.0.1:${device.localPort}`, 300)).toMatch(/^SIP\/2\.0 200/);
    expect(await sendMessage(app, alice, 'bob', 'third, live')).toMatch(/^SIP\/2\.0 200/);
    answering = false;
    device.close();
  });

  it('tries a silent device again after 64·T1 without a new REGISTER, and delivers live once it answers', async () => {
    const device = await RawClient.udp(app.sipPort);
    expect(await registerContact(app, bob, `127.0.0.1:${device.localPort}`, 300)).toMatch(/^SIP\/2\.0 200/);
    // its answers were lost (as under overload, in a full receive queue): the fork finds none
    expect(await sendMessage(app, alice, 'bob', 'unanswered')).toMatch(/^SIP\/2\.0 202/);
    const silentSince = Date.now();
    expect(await sendMessage(app, alice, 'bob', 'stored straight away')).toMatch(/^SIP\/2\.0 202/);
    expect(messagesIn(device, 'stored straight away')).toHaveLength(0);
    let answering = true;
    void (async () => {
      while (answering) {
        const m = await device.next((x) => x.startsWith('MESSAGE ') && !x.includes('unanswered'), 500).catch(() => null);
        if (m) device.answer(m);
      }
    })();
    // 64 x T1 = 6.4 s after the try that found it silent, the next message tries it again
    await new Promise((r) => setTimeout(r, Math.max(0, 6_500 - (Date.now() - silentSince))));
    expect(await sendMessage(app, alice, 'bob', 'tried again')).toMatch(/^SIP\/2\.0 200/);
    expect(await sendMessage(app, alice, 'bob', 'live again')).toMatch(/^SIP\/2\.0 200/);
    answering = false;
    device.close();
  }, 30_000);

  it('takes a silent device back when it answers its retry after another device of the user answered first', async () => {
    const phone = await RawClient.udp(app.sipPort);
    const desktop = await RawClient.udp(app.sipPort);
    expect(await registerContact(app, bob, `127.0.0.1:${phone.localPort}`, 300)).toMatch(/^SIP\/2\.0 200/);
    expect(await registerContact(app, bob, `127.0.0.1:${desktop.localPort}`, 300)).toMatch(/^SIP\/2\.0 200/);
    // neither answers: both are taken for silent
    expect(await sendMessage(app, alice, 'bob', 'nobody there')).toMatch(/^SIP\/2\.0 202/);
    const silentSince = Date.now();
    // from now on the desktop answers at once, the phone 300 ms later
    let answering = true;
    const phoneGot: string[] = [];
    const answer = (device: RawClient, delayMs: number, got: string[] = []) =>
      (async () => {
        while (answering) {
          const m = await device.next((x) => x.startsWith('MESSAGE ') && !x.includes('nobody there'), 500).catch(() => null);
          if (m === null) continue;
          got.push(m);
          // not once the test has closed the device (a late answer would throw on a closed socket)
          setTimeout(() => answering && device.answer(m), delayMs);
        }
      })();
    void answer(desktop, 0);
    void answer(phone, 300, phoneGot);
    await new Promise((r) => setTimeout(r, Math.max(0, 6_500 - (Date.now() - silentSince))));
    // both are tried again; the desktop's 200 settles the fork, the phone's comes after it
    expect(await sendMessage(app, alice, 'bob', 'both tried')).toMatch(/^SIP\/2\.0 200/);
    await new Promise((r) => setTimeout(r, 800));
    expect(phoneGot.filter((m) => m.includes('both tried')).length).toBeGreaterThan(0);
    // the phone's late answer counts: the next message goes to it too, not only to the desktop
    expect(await sendMessage(app, alice, 'bob', 'to both again')).toMatch(/^SIP\/2\.0 200/);
    await new Promise((r) => setTimeout(r, 300));
    expect(phoneGot.filter((m) => m.includes('to both again')).length).toBeGreaterThan(0);
    answering = false;
    // the phone's delayed answers still pending see `answering` false and send nothing
    await new Promise((r) => setTimeout(r, 400));
    phone.close();
    desktop.close();
  }, 30_000);

  it('keeps delivering to a user whose presence says "do not disturb" (presence never drops a message)', async () => {
    const device = await RawClient.udp(app.sipPort);
    let answering = true;
    void (async () => {
      while (answering) {
        const m = await device.next((x) => x.startsWith('MESSAGE '), 500).catch(() => null);
        if (m) device.answer(m);
      }
    })();
    expect(await registerContact(app, bob, `127.0.0.1:${device.localPort}`, 300)).toMatch(/^SIP\/2\.0 200/);
    const dnd = pidf('parley.test', 'bob', { tuples: { phone: 'closed' }, activity: 'busy', personNote: 'Do not disturb' });
    expect(await publish(app, 'bob', { body: dnd })).toMatch(/^SIP\/2\.0 200/);
    expect(await sendMessage(app, alice, 'bob', 'are you there?')).toMatch(/^SIP\/2\.0 200/);
    answering = false;
    device.close();
  });
});
