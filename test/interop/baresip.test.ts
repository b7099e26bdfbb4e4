import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, health, eventually, type RunningAppliance } from '../support/appliance.js';
import { sippDevice, received, header } from '../support/sipp.js';
import { startBaresip, type Baresip } from '../support/baresip.js';
import { registerContact, sendMessage } from '../support/sip-user.js';
import { interopConfig } from '../support/interop.js';

// baresip 1.0 (Debian's baresip-core) against the appliance's DEFAULT configuration: a site
// that configures nothing must work with it (I1). baresip's libre (1.1) does MD5 only and
// gives up on a 401/407 that has any other digest challenge, so these tests need a default
// that offers such a client MD5 alone. To check a set-up locally:
//   INTEROP_AUTH_ALGORITHMS=MD5 npx vitest run test/interop/baresip.test.ts --maxWorkers=1
const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' };

let app: RunningAppliance;
let alice: Baresip;

beforeAll(async () => {
  app = await startAppliance({ config: interopConfig(), users: USERS });
  alice = await startBaresip({ user: 'alice', password: USERS.alice, domain: app.domain, proxyPort: app.sipPort, peer: `sip:bob@${app.domain}` });
});

afterAll(async () => {
  await alice?.stop();
  await app?.cleanup();
});

describe('baresip 1.0 as a desktop client (I1)', () => {
  it('registers over UDP through the digest challenge', async () => {
    const outcome = await alice.register();
    expect(outcome, `baresip's SIP trace:\n${alice.sip().map((m) => m.text).join('\n')}`).toEqual({ ok: true });
    // the appliance holds the binding baresip asked for, at baresip's own address
    const ok = alice.sip().find((m) => /^SIP\/2\.0 200 /.test(m.text) && /^CSeq:\s*\d+ REGISTER/im.test(m.text))!;
    expect(ok.text).toMatch(/^Contact: <sip:alice-[^@]+@127\.0\.0\.1:\d+>;expires=300/m);
    await eventually(async () => (await health(app)).registrations === 1);
  });

  it('sends a MESSAGE that the appliance forwards to the recipient\'s device (SIPp)', async () => {
    const { port, run: device } = await sippDevice({ scenario: 'message-uas.xml', remotePort: app.sipPort, timeoutSec: 20 });
    try {
      expect(await registerContact(app, { name: 'bob', password: USERS.bob }, `127.0.0.1:${port}`)).toMatch(/^SIP\/2\.0 200 /);
      const final = await alice.message('hello bob from baresip');
      expect(final, alice.output().slice(-3000)).toMatch(/^SIP\/2\.0 200 OK/);
      const got = await device.done;
      expect(got.code).toBe(0);
      const forwarded = received(got.messages)[0];
      expect(forwarded).toMatch(/^MESSAGE sip:bob@127\.0\.0\.1:\d+ SIP\/2\.0/);
      expect(forwarded).toContain('hello bob from baresip');
      expect(header(forwarded, 'User-Agent')).toMatch(/^baresip v1\.0\.0/);
      expect(header(forwarded, 'P-Asserted-Identity')).toBe('<sip:alice@parley.test>');
    } finally {
      device.kill();
    }
  });

  it('receives a MESSAGE from another user and shows it', async () => {
    const final = await sendMessage(app, { name: 'carol', password: USERS.carol }, 'alice', 'hello alice from carol');
    // the 200 is baresip's own answer, relayed (a stored message would get 202)
    expect(final).toMatch(/^SIP\/2\.0 200 OK/);
    const request = await alice.waitForSip('the MESSAGE from carol', (m) => m.text.startsWith('MESSAGE ') && m.text.includes('hello alice from carol'));
    expect(request.text).toMatch(/^P-Asserted-Identity: <sip:carol@parley\.test>/m);
    // menu's message handler prints `<from>: "<text>"` in the user interface
    await alice.waitForOutput('the message shown to the user', /sip:carol@parley\.test: "hello alice from carol"/);
  });
});
