import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { Subscriber } from '../support/subscriber.js';
import { xcapRequest } from '../support/xcap-client.js';
import { authorize } from '../support/digest-client.js';
import { pidf, publish, presRules, putPresRules } from '../support/presence-client.js';
import { headerOf } from '../support/raw-client.js';

// The event-package framework (events/), seen through xcap-diff, its simplest package.
let app: RunningAppliance;
const DOC = 'resource-lists/users/sip:alice@parley.test/index';
const list = (uri: string) => `<?xml version="1.0"?><resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list name="f"><entry uri="${uri}"/></list></resource-lists>`;

beforeAll(async () => {
  app = await startAppliance({ config: { subscriptions: { rate: { burst: 12, perSecond: 0.1 }, minNotifyInterval: 100 } }, users: { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
});

describe('subscriptions (RFC 6665) on the shared framework', () => {
  it('keeps an active subscription across a restart: a NOTIFY with the state, then changes, with CSeqs that keep rising', async () => {
    const alice = await Subscriber.udp(app, 'alice');
    expect(await alice.subscribe({ event: 'xcap-diff', target: 'alice' })).toMatch(/^SIP\/2\.0 200/);
    const first = await alice.nextNotify();
    expect(first.state).toMatch(/^active;expires=/);
    await app.restart();
    // after the restart the subscriber is told the state again, in the same dialog
    const again = await alice.nextNotify();
    expect(again.state).toMatch(/^active;expires=/);
    expect(again.cseq).toBeGreaterThan(first.cseq);
    const put = await xcapRequest(app, 'PUT', DOC, { body: list('sip:bob@parley.test'), headers: { 'Content-Type': 'application/resource-lists+xml' } });
    const change = await alice.nextNotify();
    expect(change.body).toContain(`new-etag="${put.headers.get('etag')!.replace(/"/g, '&quot;')}"`);
    // the dialog still works: unsubscribe, final NOTIFY
    expect(await alice.refresh(0)).toMatch(/^SIP\/2\.0 200/);
    expect((await alice.nextNotify()).state).toBe('terminated;reason=timeout');
    alice.close();
  });

  it('keeps presence and buddy-list subscriptions across a restart, each told the state again, then changes', async () => {
    const D = app.domain;
    await putPresRules(app, 'carol', presRules([{ id: 'bob', watcher: `sip:bob@${D}`, handling: 'allow' }]));
    await xcapRequest(app, 'PUT', `resource-lists/users/sip:bob@${D}/index`, { user: 'bob', body: list(`sip:carol@${D}`).replace('name="f"', 'name="buddies"'), headers: { 'Content-Type': 'application/resource-lists+xml' } });
    await publish(app, 'carol', { body: pidf(D, 'carol', { tuples: { pc: 'open' }, activity: 'away' }) });
    const watcher = await Subscriber.udp(app, 'bob');
    expect(await watcher.subscribe({ event: 'presence', target: 'carol' })).toMatch(/^SIP\/2\.0 200/);
    expect((await watcher.nextNotify()).body).toContain('away');
    const lister = await Subscriber.udp(app, 'bob');
    const eventlist = { headers: ['Supported: eventlist'], accept: 'application/pidf+xml, application/rlmi+xml, multipart/related' };
    expect(await lister.subscribe({ event: 'presence', target: `sip:bob+buddies@${D}`, ...eventlist })).toMatch(/^SIP\/2\.0 200/);
    expect((await lister.nextNotify()).body).toContain('version="0" fullState="true"');
    await app.restart();
    // publications do not survive a restart (carol's device publishes again at its next refresh): her state now is closed
    const watched = await watcher.nextNotify();
    expect(watched.state).toMatch(/^active;expires=/);
    expect(watched.body).toContain('<basic>closed</basic>');
    const listed = await lister.nextNotify();
    expect(listed.body).toContain('fullState="true"');
    expect(listed.body).toContain(`<resource uri="sip:carol@${D}">`);
    // carol publishes again: both hear of it
    await publish(app, 'carol', { body: pidf(D, 'carol', { tuples: { pc: 'open' }, activity: 'meal' }) });
    expect((await watcher.notifyWhere((n) => n.body.includes('meal'))).state).toMatch(/^active/);
    expect((await lister.notifyWhere((n) => n.body.includes('meal'))).body).toContain('fullState="false"');
    for (const s of [watcher, lister]) s.close();
  });

  it("refuses an in-dialog SUBSCRIBE from someone else (403): another user's credentials, or another From", async () => {
    const again = await Subscriber.udp(app, 'alice');
    expect(await again.subscribe({ event: 'xcap-diff', target: 'alice' })).toMatch(/^SIP\/2\.0 200/);
    await again.nextNotify();
    const uri = /^SUBSCRIBE (\S+)/.exec(again.inDialogRequest(0))![1];
    const bobAuth = authorize(`Digest realm="parley.test", nonce="${'0'.repeat(8)}", qop="auth", algorithm=MD5`, { method: 'SUBSCRIBE', uri, username: 'bob', password: 'bob-pw' });
    const stale = await again.client.request(again.inDialogRequest(0, [`Proxy-Authorization: ${bobAuth}`]));
    // a made-up nonce is answered with a challenge; bob answers it with his own credentials
    expect(stale).toMatch(/^SIP\/2\.0 407/);
    const asBob = authorize(headerOf(stale, 'Proxy-Authenticate')[0], { method: 'SUBSCRIBE', uri, username: 'bob', password: 'bob-pw' });
    const refused = await again.client.request(again.inDialogRequest(0, [`Proxy-Authorization: ${asBob}`]));
    expect(refused).toMatch(/^SIP\/2\.0 403 Not the subscriber of this dialog/);
    const forged = await again.client.request(again.inDialogRequest(0).replace(/^From: <sip:alice@/m, 'From: <sip:carol@'));
    expect(forged).toMatch(/^SIP\/2\.0 403 Not the subscriber of this dialog/);
    // the subscriber's own unsubscribe, without credentials: the dialog's tags authorise it
    expect(await again.refresh(0)).toMatch(/^SIP\/2\.0 200/);
    expect((await again.nextNotify()).state).toBe('terminated;reason=timeout');
    again.close();
  });

  it("answers an in-dialog SUBSCRIBE for another event or id with 489, and the dialog's subscription carries on", async () => {
    const alice = await Subscriber.udp(app, 'alice');
    expect(await alice.subscribe({ event: 'presence;id=7', target: 'alice' })).toMatch(/^SIP\/2\.0 200/);
    await alice.nextNotify();
    const withEvent = (event: string) => alice.inDialogRequest(600).replace(/^Event: .*$/m, `Event: ${event}`);
    // another package we serve, another id, no id: none of them is this dialog's subscription (RFC 6665 §8.2.1)
    for (const event of ['xcap-diff', 'presence;id=8', 'presence']) {
      const res = await alice.client.request(withEvent(event));
      expect(res).toMatch(/^SIP\/2\.0 489 /);
      expect(headerOf(res, 'Allow-Events')[0]).toContain('presence');
    }
    // the subscription is still there: a refresh with its own event is accepted, and a NOTIFY follows
    expect(await alice.client.request(withEvent('presence;id=7'))).toMatch(/^SIP\/2\.0 200/);
    const n = await alice.nextNotify();
    expect(n.state).toMatch(/^active;expires=/);
    expect(n.event).toBe('presence;id=7');
    alice.close();
  });

  it('answers a SUBSCRIBE storm from one subscriber with 503 and Retry-After, and keeps serving others', async () => {
    const storm = await Promise.all(Array.from({ length: 20 }, () => Subscriber.udp(app, 'carol')));
    const results = await Promise.all(storm.map((s) => s.subscribe({ event: 'xcap-diff', target: 'carol', expires: 0 })));
    const refused = results.filter((r) => r.startsWith('SIP/2.0 503'));
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect(headerOf(r, 'Retry-After')[0]).toMatch(/^\d+$/);
    const bob = await Subscriber.udp(app, 'bob');
    expect(await bob.subscribe({ event: 'xcap-diff', target: 'bob', expires: 0 })).toMatch(/^SIP\/2\.0 200/);
    for (const s of [...storm, bob]) s.close();
  });
});
