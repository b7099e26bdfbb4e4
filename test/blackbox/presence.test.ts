import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { Subscriber } from '../support/subscriber.js';
import { headerOf } from '../support/raw-client.js';
import { registerContact } from '../support/sip-user.js';
import { pidf, publish, presRules, putPresRules } from '../support/presence-client.js';
import { xcapRequest } from '../support/xcap-client.js';

// NOTIFYs paced at 100 ms instead of RFC 3856's 5 s, and PUBLISH and SUBSCRIBE expiry from 1 s, so flows run quickly
const CONFIG = { subscriptions: { minNotifyInterval: 100, minExpires: 1 }, presence: { minExpires: 1, maxBodyBytes: 2048 } };
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina'];
let app: RunningAppliance;
const D = 'parley.test';
const etagOf = (res: string) => headerOf(res, 'SIP-ETag')[0];
const basics = (doc: string) => [...doc.matchAll(/<basic>(\w+)<\/basic>/g)].map((m) => m[1]);

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: Object.fromEntries(USERS.map((u) => [u, `${u}-pw`])) });
});
afterAll(async () => {
  await app?.cleanup();
});

describe('PUBLISH (RFC 3903)', () => {
  it('initial, refresh, modify and remove, each with a new entity-tag; 412 for one we do not hold', async () => {
    const initial = await publish(app, 'gina', { body: pidf(D, 'gina', { tuples: { t1: 'open' } }), expires: 120 });
    expect(initial).toMatch(/^SIP\/2\.0 200/);
    expect(headerOf(initial, 'Expires')[0]).toBe('120');
    const e1 = etagOf(initial);
    expect(e1).toMatch(/\S+/);
    const refresh = await publish(app, 'gina', { ifMatch: e1, expires: 60 });
    expect(refresh).toMatch(/^SIP\/2\.0 200/);
    const e2 = etagOf(refresh);
    expect(e2).not.toBe(e1);
    // the old tag is gone (RFC 3903 §4.1: a new one each time)
    expect(await publish(app, 'gina', { ifMatch: e1, expires: 60 })).toMatch(/^SIP\/2\.0 412/);
    const modify = await publish(app, 'gina', { ifMatch: e2, body: pidf(D, 'gina', { tuples: { t1: 'closed' } }) });
    expect(modify).toMatch(/^SIP\/2\.0 200/);
    const remove = await publish(app, 'gina', { ifMatch: etagOf(modify), expires: 0 });
    expect(remove).toMatch(/^SIP\/2\.0 200/);
    expect(headerOf(remove, 'Expires')[0]).toBe('0');
    expect(await publish(app, 'gina', { ifMatch: etagOf(modify), expires: 60 })).toMatch(/^SIP\/2\.0 412/);
  });

  it('refuses bad input with a precise status', async () => {
    const good = pidf(D, 'gina', { tuples: { t1: 'open' } });
    expect(await publish(app, 'gina', { body: good, event: 'dialog' })).toMatch(/^SIP\/2\.0 489/);
    const brief = await publish(app, 'gina', { body: good, expires: 0 });
    expect(brief).toMatch(/^SIP\/2\.0 200/); // an initial PUBLISH with Expires: 0 stores nothing
    expect(await publish(app, 'gina', { body: good, contentType: 'text/plain' })).toMatch(/^SIP\/2\.0 415/);
    expect(await publish(app, 'gina', { body: '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:gina@parley.test"><tuple id="a">' })).toMatch(/^SIP\/2\.0 400 Malformed PIDF/);
    expect(await publish(app, 'gina', { body: '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="x"><tuple><status/></tuple></presence>' })).toMatch(/^SIP\/2\.0 400 Malformed PIDF: <tuple> needs an id/);
    expect(await publish(app, 'gina', { body: pidf(D, 'gina', { tuples: { t1: 'open' }, personNote: 'x'.repeat(3000) }) })).toMatch(/^SIP\/2\.0 413/);
    expect(await publish(app, 'gina', { body: good, target: 'alice' })).toMatch(/^SIP\/2\.0 403 Only your own presence/);
    expect(await publish(app, 'gina', {})).toMatch(/^SIP\/2\.0 400 Initial PUBLISH without a body/);
    // after all that, the same publisher (and anyone else) is served as before
    const ok = await publish(app, 'gina', { body: good, expires: 60 });
    expect(ok).toMatch(/^SIP\/2\.0 200/);
    expect(await publish(app, 'gina', { ifMatch: etagOf(ok), expires: 0 })).toMatch(/^SIP\/2\.0 200/);
  });

  it('answers an interval below the minimum with 423 and Min-Expires', async () => {
    const app2 = await startAppliance({ config: { presence: { minExpires: 60 } }, users: { gina: 'gina-pw' } });
    try {
      const res = await publish(app2, 'gina', { body: pidf(D, 'gina', { tuples: { t1: 'open' } }), expires: 10 });
      expect(res).toMatch(/^SIP\/2\.0 423/);
      expect(headerOf(res, 'Min-Expires')[0]).toBe('60');
    } finally {
      await app2.cleanup();
    }
  });
});

describe('presence subscriptions (RFC 3856) with pres-rules (RFC 5025) and watcher information (RFC 3857/3858)', () => {
  it('a stranger waits pending, the presentity hears of them by winfo, accepts them over XCAP, and they see the presence', async () => {
    const winfo = await Subscriber.udp(app, 'alice');
    expect(await winfo.subscribe({ event: 'presence.winfo', target: 'alice', accept: 'application/watcherinfo+xml' })).toMatch(/^SIP\/2\.0 200/);
    const w0 = await winfo.nextNotify();
    expect(w0.contentType).toBe('application/watcherinfo+xml');
    expect(w0.body).toContain('state="full"');
    expect(w0.body).toContain('version="0"');

    const carol = await Subscriber.udp(app, 'carol');
    expect(await carol.subscribe({ event: 'presence', target: 'alice', accept: 'application/pidf+xml' })).toMatch(/^SIP\/2\.0 200/);
    const pending = await carol.nextNotify();
    expect(pending.state).toMatch(/^pending;expires=\d+$/);
    expect(pending.body).toBe('');

    const w1 = await winfo.nextNotify();
    expect(w1.body).toContain('state="partial"');
    expect(w1.body).toContain('version="1"');
    expect(w1.body).toMatch(/<watcher id="[^"]+" event="subscribe" status="pending">sip:carol@parley\.test<\/watcher>/);

    expect(await publish(app, 'alice', { body: pidf(D, 'alice', { tuples: { phone: 'open' }, activity: 'away' }) })).toMatch(/^SIP\/2\.0 200/);
    // alice accepts carol: an XCAP write to her pres-rules
    expect(await putPresRules(app, 'alice', presRules([{ id: 'carol', watcher: `sip:carol@${D}`, handling: 'allow' }]))).toBe(201);
    const active = await carol.nextNotify();
    expect(active.state).toMatch(/^active;expires=\d+$/);
    expect(active.contentType).toBe('application/pidf+xml');
    expect(active.body).toContain('entity="sip:alice@parley.test"');
    expect(active.body).toMatch(/<rpid:away\/>|<away\/>/);
    const w2 = await winfo.nextNotify();
    expect(w2.body).toMatch(/event="approved" status="active">sip:carol@parley\.test</);

    // "Alice's Linphone publishes away; every watcher she allows sees it": now back, then away again
    await publish(app, 'alice', { body: pidf(D, 'alice', { tuples: { phone: 'open' }, activity: 'on-the-phone' }) });
    const change = await carol.notifyWhere((n) => n.body.includes('on-the-phone'));
    expect(basics(change.body)).toContain('open');
    for (const s of [winfo, carol]) s.close();
  });

  it('a pending watcher whose subscription runs out ends with giveup (an active one with timeout), and winfo says giveup', async () => {
    // frank has no pres-rules: a stranger waits (the OMA default, confirm)
    const winfo = await Subscriber.udp(app, 'frank');
    expect(await winfo.subscribe({ event: 'presence.winfo', target: 'frank' })).toMatch(/^SIP\/2\.0 200/);
    await winfo.nextNotify();
    const gina = await Subscriber.udp(app, 'gina');
    expect(await gina.subscribe({ event: 'presence', target: 'frank', expires: 2 })).toMatch(/^SIP\/2\.0 200/);
    expect((await gina.nextNotify()).state).toMatch(/^pending;expires=\d+$/);
    await winfo.notifyWhere((n) => /event="subscribe" status="pending">sip:gina@/.test(n.body));
    // nobody decides: the subscription runs out pending (RFC 6665 §4.1.3 giveup)
    const end = await gina.nextNotify();
    expect(end.state).toBe('terminated;reason=giveup');
    expect(end.body).toBe('');
    const w = await winfo.notifyWhere((n) => n.body.includes('sip:gina@'));
    expect(w.body).toMatch(/<watcher id="[^"]+" event="giveup" status="terminated">sip:gina@parley\.test<\/watcher>/);
    // an active subscription that runs out is a plain timeout
    const self = await Subscriber.udp(app, 'frank');
    expect(await self.subscribe({ event: 'presence', target: 'frank', expires: 2 })).toMatch(/^SIP\/2\.0 200/);
    expect((await self.nextNotify()).state).toMatch(/^active/);
    expect((await self.notifyWhere((n) => n.state.startsWith('terminated'))).state).toBe('terminated;reason=timeout');
    for (const s of [winfo, gina, self]) s.close();
  });

  it('a blocked watcher gets 403; a politely blocked one sees a neutral document', async () => {
    await putPresRules(app, 'bob', presRules([{ id: 'no-dave', watcher: `sip:dave@${D}`, handling: 'block' }, { id: 'shy', watcher: `sip:erin@${D}`, handling: 'polite-block' }]));
    await publish(app, 'bob', { body: pidf(D, 'bob', { tuples: { laptop: 'open' }, activity: 'busy' }) });
    const dave = await Subscriber.udp(app, 'dave');
    expect(await dave.subscribe({ event: 'presence', target: 'bob' })).toMatch(/^SIP\/2\.0 403/);
    const erin = await Subscriber.udp(app, 'erin');
    expect(await erin.subscribe({ event: 'presence', target: 'bob' })).toMatch(/^SIP\/2\.0 200/);
    const n = await erin.nextNotify();
    expect(n.state).toMatch(/^active/);
    // what an offline user with nothing published looks like: one closed tuple, nothing else
    expect(basics(n.body)).toEqual(['closed']);
    expect(n.body).not.toContain('busy');
    expect(n.body).not.toContain('laptop');
    for (const s of [dave, erin]) s.close();
  });

  it('a change of rules that blocks an active watcher ends the subscription (rejected), and winfo says so', async () => {
    await putPresRules(app, 'carol', presRules([{ id: 'frank', watcher: `sip:frank@${D}`, handling: 'allow' }]));
    const winfo = await Subscriber.udp(app, 'carol');
    await winfo.subscribe({ event: 'presence.winfo', target: 'carol' });
    await winfo.nextNotify();
    const frank = await Subscriber.udp(app, 'frank');
    expect(await frank.subscribe({ event: 'presence', target: 'carol' })).toMatch(/^SIP\/2\.0 200/);
    expect((await frank.nextNotify()).state).toMatch(/^active/);
    await winfo.notifyWhere((n) => n.body.includes('status="active">sip:frank@'));
    await putPresRules(app, 'carol', presRules([{ id: 'frank', watcher: `sip:frank@${D}`, handling: 'block' }]));
    const end = await frank.nextNotify();
    expect(end.state).toBe('terminated;reason=rejected');
    expect(end.body).toBe('');
    const w = await winfo.notifyWhere((n) => n.body.includes('sip:frank@'));
    expect(w.body).toMatch(/event="rejected" status="terminated">sip:frank@parley\.test</);
    for (const s of [winfo, frank]) s.close();
  });

  it('composes two devices into one document, and falls back to registration state when publications expire', async () => {
    await putPresRules(app, 'dave', presRules([{ id: 'gina', watcher: `sip:gina@${D}`, handling: 'allow' }]));
    const gina = await Subscriber.udp(app, 'gina');
    await gina.subscribe({ event: 'presence', target: 'dave' });
    // nothing published, no device registered: closed
    expect(basics((await gina.nextNotify()).body)).toEqual(['closed']);
    // a registered device, still nothing published: open (R4)
    expect(await registerContact(app, { name: 'dave', password: 'dave-pw' }, '127.0.0.1:5999', 60)).toMatch(/^SIP\/2\.0 200/);
    const registered = await gina.notifyWhere((n) => basics(n.body).includes('open'));
    expect(registered.body).toContain('id="parley-registration"');
    // two devices publish; the document has both tuples, and the person merged from both
    await publish(app, 'dave', { body: pidf(D, 'dave', { tuples: { desk: 'open' }, activity: 'meeting' }), expires: 2 });
    await publish(app, 'dave', { body: pidf(D, 'dave', { tuples: { mobile: 'closed' }, personNote: 'back at 3' }), expires: 2 });
    const both = await gina.notifyWhere((n) => n.body.includes('id="desk"') && n.body.includes('id="mobile"'));
    expect(both.body).not.toContain('parley-registration');
    expect(both.body).toContain('meeting');
    expect(both.body).toContain('back at 3');
    expect(both.body.match(/<[\w:]*person /g)).toHaveLength(1);
    // both publications expire (2 s, not refreshed): back to the registration tuple
    const expired = await gina.notifyWhere((n) => n.body.includes('parley-registration'), 15_000);
    expect(expired.body).not.toContain('id="desk"');
    // the device unregisters: closed
    expect(await registerContact(app, { name: 'dave', password: 'dave-pw' }, '127.0.0.1:5999', 0)).toMatch(/^SIP\/2\.0 200/);
    await gina.notifyWhere((n) => basics(n.body).join() === 'closed');
    gina.close();
  });

  it('takes a pidf-manipulation document (RFC 4827) as one more source', async () => {
    await putPresRules(app, 'erin', presRules([{ id: 'gina', watcher: `sip:gina@${D}`, handling: 'allow' }]));
    const gina = await Subscriber.udp(app, 'gina');
    await gina.subscribe({ event: 'presence', target: 'erin' });
    await gina.nextNotify();
    const doc = pidf(D, 'erin', { tuples: { web: 'open' }, personNote: 'out of office' });
    const res = await xcapRequest(app, 'PUT', `pidf-manipulation/users/sip:erin@${D}/index`, { user: 'erin', body: doc, headers: { 'Content-Type': 'application/pidf+xml' } });
    expect(res.status).toBe(201);
    const n = await gina.notifyWhere((x) => x.body.includes('out of office'));
    expect(n.body).toContain('id="web"');
    gina.close();
  });

  it('echoes the Event id parameter in every NOTIFY (RFC 6665 §8.2.1)', async () => {
    const gina = await Subscriber.udp(app, 'gina');
    expect(await gina.subscribe({ event: 'presence;id=42', target: 'gina' })).toMatch(/^SIP\/2\.0 200/);
    expect((await gina.nextNotify()).event).toBe('presence;id=42');
    gina.close();
  });

  it('refuses presence of someone who is not a user (404) and SUBSCRIBEs that accept no PIDF (406)', async () => {
    const gina = await Subscriber.udp(app, 'gina');
    expect(await gina.subscribe({ event: 'presence', target: 'nobody' })).toMatch(/^SIP\/2\.0 404/);
    const g2 = await Subscriber.udp(app, 'gina');
    expect(await g2.subscribe({ event: 'presence', target: 'alice', accept: 'text/plain' })).toMatch(/^SIP\/2\.0 406/);
    for (const s of [gina, g2]) s.close();
  });
});
