import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, health, type RunningAppliance } from '../support/appliance.js';
import { RawClient, buildRequest, headerOf, type RequestSpec } from '../support/raw-client.js';
import { authorize } from '../support/digest-client.js';

// Limits small enough to reach with a burst; the contact limit is the default (10).
const CONFIG = { deferred: { maxPerUser: 50, maxPerSender: 30, retryAfterWhenFull: 1800 } };
const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw' };
const D = 'parley.test';
let app: RunningAppliance;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: USERS });
});
afterAll(async () => {
  await app?.cleanup();
});

/**
 * Sends `specs` all at once, each through its own digest challenge: the challenges are fetched
 * first (concurrently), then every authenticated request is sent in one burst.
 */
async function burst(c: RawClient, specs: RequestSpec[], user: string, header: 'Authorization' | 'Proxy-Authorization'): Promise<string[]> {
  // a burst of hundreds waits its turn on a loaded machine: a generous bound per answer
  const challenges = await Promise.all(specs.map((s) => c.request(buildRequest({ ...s, cseq: 1 }), 20_000)));
  const values = challenges.map((ch) => headerOf(ch, header === 'Authorization' ? 'WWW-Authenticate' : 'Proxy-Authenticate')[0]);
  return Promise.all(
    specs.map((s, i) =>
      c.request(buildRequest({ ...s, cseq: 2, headers: [...(s.headers ?? []), `${header}: ${authorize(values[i], { method: s.method, uri: s.uri, username: user, password: `${user}-pw` })}`] }), 20_000),
    ),
  );
}

describe('limits that hold under concurrency', () => {
  it('keeps registrar.maxContactsPerUser when 40 REGISTERs arrive at once, and a MESSAGE reaches only those', async () => {
    const devices = await Promise.all(Array.from({ length: 40 }, () => RawClient.udp(app.sipPort)));
    const c = await RawClient.udp(app.sipPort);
    const specs = devices.map((d, i): RequestSpec => ({
      method: 'REGISTER', uri: `sip:${D}`, from: `sip:dave@${D}`, to: `sip:dave@${D}`, transport: 'UDP', localPort: c.localPort, callId: `reg-burst-${i}`,
      headers: [`Contact: <sip:dave@127.0.0.1:${d.localPort}>`, 'Expires: 300'],
    }));
    const answers = await burst(c, specs, 'dave', 'Authorization');
    expect(answers.filter((a) => a.startsWith('SIP/2.0 200')).length).toBe(10);
    expect(answers.filter((a) => a.startsWith('SIP/2.0 403 Too many contacts (at most 10)')).length).toBe(30);
    expect((await health(app)).registrations).toBe(10);
    // one MESSAGE: copies go to the ten registered devices and nowhere else
    const sending = burst(c, [{ method: 'MESSAGE', uri: `sip:dave@${D}`, from: `sip:alice@${D}`, to: `sip:dave@${D}`, transport: 'UDP', localPort: c.localPort, body: 'fan-out' }], 'alice', 'Proxy-Authorization');
    const reached: RawClient[] = [];
    await Promise.all(
      devices.map(async (d) => {
        // bounded wait: a device that is not registered never gets a copy
        const m = await d.next((x) => x.startsWith('MESSAGE '), 2000).catch(() => null);
        if (m !== null) {
          reached.push(d);
          d.answer(m);
        }
      }),
    );
    expect((await sending)[0]).toMatch(/^SIP\/2\.0 200 /);
    expect(reached.length).toBe(10);
    for (const d of [...devices, c]) d.close();
  });

  it("keeps deferred.maxPerUser and each sender's share under a burst, with 480 and Retry-After past them", async () => {
    const alice = await RawClient.udp(app.sipPort);
    const message = (c: RawClient, from: string, i: number): RequestSpec => ({
      method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:${from}@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort, callId: `${from}-burst-${i}`, body: `m${i}`,
    });
    // bob is offline: everything goes to his store, 30 at most from alice
    const fromAlice = await burst(alice, Array.from({ length: 200 }, (_, i) => message(alice, 'alice', i)), 'alice', 'Proxy-Authorization');
    expect(fromAlice.filter((a) => a.startsWith('SIP/2.0 202')).length).toBe(30);
    const shareFull = fromAlice.filter((a) => a.startsWith('SIP/2.0 480 Too many of your messages are waiting for this recipient'));
    expect(shareFull.length).toBe(170);
    expect(headerOf(shareFull[0], 'Retry-After')).toEqual(['1800']);
    // another sender still gets a place, until the store itself is full (50)
    const carol = await RawClient.udp(app.sipPort);
    const fromCarol = await burst(carol, Array.from({ length: 40 }, (_, i) => message(carol, 'carol', i)), 'carol', 'Proxy-Authorization');
    expect(fromCarol.filter((a) => a.startsWith('SIP/2.0 202')).length).toBe(20);
    expect(fromCarol.filter((a) => a.startsWith("SIP/2.0 480 Recipient's message store is full")).length).toBe(20);
    expect((await health(app)).storedMessages).toBe(50);
    alice.close();
    carol.close();
  });
});
