import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, health, eventually, type RunningAppliance } from '../support/appliance.js';
import { sippDevice, received, header } from '../support/sipp.js';
import { startLinphone, type Linphone } from '../support/linphone.js';
import { registerContact, sendMessage } from '../support/sip-user.js';
import { interopConfig } from '../support/interop.js';

// linphone-daemon 5.1 (Debian's linphone-cli) against the appliance's DEFAULT configuration
// (I1). To check another digest set-up locally:
//   INTEROP_AUTH_ALGORITHMS=MD5 npx vitest run test/interop/linphone.test.ts --maxWorkers=1
const USERS = { carol: 'carol-pw', bob: 'bob-pw', dave: 'dave-pw' };

let app: RunningAppliance;
let carol: Linphone;

beforeAll(async () => {
  app = await startAppliance({ config: interopConfig(), users: USERS });
  carol = startLinphone({ user: 'carol', password: USERS.carol, domain: app.domain, proxyPort: app.sipPort });
});

afterAll(async () => {
  await carol?.stop();
  await app?.cleanup();
});

describe('Linphone (liblinphone 5.1) as a desktop client (I1)', () => {
  it('registers over UDP through the digest challenge', async () => {
    const state = await carol.registrationState();
    expect(state, `Linphone's SIP log:\n${carol.sip().map((m) => m.text).join('\n\n')}`).toBe('LinphoneRegistrationOk');
    const request = carol.sip().filter((m) => m.dir === 'out' && m.text.startsWith('REGISTER ')).pop()!;
    expect(request.text).toMatch(/^Authorization: +Digest /m);
    await eventually(async () => (await health(app)).registrations === 1);
  });

  it('sends a MESSAGE that the appliance forwards to the recipient\'s device (SIPp)', async () => {
    const { port, run: device } = await sippDevice({ scenario: 'message-uas.xml', remotePort: app.sipPort, timeoutSec: 20 });
    try {
      expect(await registerContact(app, { name: 'bob', password: USERS.bob }, `127.0.0.1:${port}`)).toMatch(/^SIP\/2\.0 200 /);
      const state = await carol.message(`sip:bob@${app.domain}`, 'hello bob from linphone');
      expect(state, carol.sip().map((m) => m.text).join('\n\n')).toBe('LinphoneChatMessageStateDelivered');
      const got = await device.done;
      expect(got.code).toBe(0);
      const forwarded = received(got.messages)[0];
      expect(forwarded).toMatch(/^MESSAGE sip:bob@127\.0\.0\.1:\d+ SIP\/2\.0/);
      expect(forwarded).toContain('hello bob from linphone');
      expect(header(forwarded, 'Content-Type')).toBe('text/plain');
      expect(header(forwarded, 'P-Asserted-Identity')).toBe('<sip:carol@parley.test>');
      // the device's 200, relayed by the appliance, is what Linphone got
      const final = carol.sip().filter((m) => m.dir === 'in' && /^CSeq: \d+ MESSAGE/m.test(m.text)).pop()!;
      expect(final.text).toMatch(/^SIP\/2\.0 200 OK/);
    } finally {
      device.kill();
    }
  });

  it('receives a MESSAGE from another user as a message-received event', async () => {
    const final = await sendMessage(app, { name: 'dave', password: USERS.dave }, 'carol', 'hello carol from dave');
    // the 200 is liblinphone's own answer ("200 Ok"), relayed (a stored message would get 202)
    expect(final).toMatch(/^SIP\/2\.0 200 /);
    const ev = await carol.waitForEvent('message-received from dave', (e) => e.type === 'message-received');
    expect(ev.fields.From).toBe('sip:dave@parley.test');
    expect(ev.fields.Content).toBe('"hello carol from dave"');
  });
});
