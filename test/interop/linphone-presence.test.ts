import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { startLinphone, type Linphone } from '../support/linphone.js';
import { interopConfig, traceOf } from '../support/interop.js';
import { Subscriber } from '../support/subscriber.js';
import { pidf, publish, presRules, putPresRules } from '../support/presence-client.js';

const USERS = { carol: 'carol-pw', bob: 'bob-pw' };
let app: RunningAppliance;
let carol: Linphone;

beforeAll(async () => {
  app = await startAppliance({ config: interopConfig(), users: USERS });
  // bob lets carol see him (carol's Linphone watches bob); carol lets bob see her
  await putPresRules(app, 'bob', presRules([{ id: 'carol', watcher: `sip:carol@${app.domain}`, handling: 'allow' }]));
  await putPresRules(app, 'carol', presRules([{ id: 'bob', watcher: `sip:bob@${app.domain}`, handling: 'allow' }]));
  await publish(app, 'bob', { body: pidf(app.domain, 'bob', { tuples: { desk: 'open' }, activity: 'away' }) });
  carol = startLinphone({
    user: 'carol', password: USERS.carol, domain: app.domain, proxyPort: app.sipPort,
    accountExtra: ['publish=1', 'publish_expires=600'],
    sectionsExtra: ['[friend_0]', `url="Bob" <sip:bob@${app.domain}>`, 'pol=accept', 'subscribe=1'],
  });
});

afterAll(async () => {
  await carol?.stop();
  await app?.cleanup();
});

describe('Linphone (liblinphone 5.1) presence (R1)', () => {
  it('publishes its presence at login and a watcher sees it', async () => {
    expect(await carol.registrationState()).toBe('LinphoneRegistrationOk');
    const wire = () => traceOf(app, (m) => m.text.includes('PUBLISH'));
    await eventually(() => carol.sip().some((m) => m.dir === 'in' && /^SIP\/2\.0 200[^\n]*\n[\s\S]*^CSeq: \d+ PUBLISH/m.test(m.text)), 15_000).catch(() => {
      throw new Error(`no 200 to Linphone's PUBLISH:\n${wire()}`);
    });
    const bob = await Subscriber.udp(app, 'bob');
    expect(await bob.subscribe({ event: 'presence', target: 'carol' })).toMatch(/^SIP\/2\.0 200/);
    const n = await bob.nextNotify();
    expect(n.body).toContain('entity="sip:carol@parley.test"');
    expect(n.body).toMatch(/<basic>open<\/basic>/);
    bob.close();
  });

  it("watches a friend: its SUBSCRIBE is accepted and the friend's NOTIFY answered", async () => {
    await eventually(() => carol.sip().some((m) => m.dir === 'in' && m.text.startsWith('NOTIFY ') && m.text.includes('away')), 15_000).catch(() => {
      throw new Error(`Linphone got no NOTIFY with bob's presence:\n${carol.sip().map((m) => m.text).join('\n\n')}`);
    });
    // a change reaches Linphone too, and it answers 200
    await publish(app, 'bob', { body: pidf(app.domain, 'bob', { tuples: { desk: 'open' }, activity: 'on-the-phone' }) });
    await eventually(() => carol.sip().some((m) => m.dir === 'out' && m.text.startsWith('SIP/2.0 200') && /^CSeq: \d+ NOTIFY/m.test(m.text)) && carol.sip().some((m) => m.text.startsWith('NOTIFY ') && m.text.includes('on-the-phone')), 15_000);
  });
});
