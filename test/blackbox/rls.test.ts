import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { Subscriber, type Notify } from '../support/subscriber.js';
import { pidf, publish, presRules, putPresRules } from '../support/presence-client.js';
import { xcapRequest } from '../support/xcap-client.js';

const CONFIG = { subscriptions: { minNotifyInterval: 100 } };
let app: RunningAppliance;
/** the one test's own appliance (NOTIFYs paced at 30 s), stopped in afterAll too should the test time out */
let paced: RunningAppliance | undefined;
const D = 'parley.test';
const EVENTLIST = { headers: ['Supported: eventlist'], accept: 'application/pidf+xml, application/rlmi+xml, multipart/related' };

/** A multipart/related NOTIFY (RFC 2387) split into its parts, independently of the appliance's code. */
function parts(n: Notify): { rlmi: string; byCid: Map<string, string> } {
  const boundary = /boundary="?([^";]+)"?/.exec(n.contentType)![1];
  const start = /start="?<([^>"]+)>"?/.exec(n.contentType)![1];
  const byCid = new Map<string, string>();
  for (const chunk of n.body.split(`--${boundary}`).slice(1, -1)) {
    const sep = chunk.indexOf('\r\n\r\n');
    const head = chunk.slice(0, sep);
    const cid = /^Content-ID:\s*<([^>]+)>/im.exec(head)![1];
    byCid.set(cid, chunk.slice(sep + 4).replace(/\r\n$/, ''));
  }
  return { rlmi: byCid.get(start)!, byCid };
}

/** The RLMI resources: uri -> instance state (and the cid of its document). */
function resources(rlmi: string): Map<string, { state: string; cid: string | null; reason: string | null }> {
  const out = new Map<string, { state: string; cid: string | null; reason: string | null }>();
  for (const m of rlmi.matchAll(/<resource uri="([^"]+)">[\s\S]*?<instance ([^>]*)\/>/g)) {
    const attr = (n: string) => new RegExp(`${n}="([^"]*)"`).exec(m[2])?.[1] ?? null;
    out.set(m[1], { state: attr('state')!, cid: attr('cid'), reason: attr('reason') });
  }
  return out;
}

const buddies = (entries: string[]) =>
  `<?xml version="1.0" encoding="UTF-8"?><resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list name="buddies">${entries.map((e) => `<entry uri="${e}"/>`).join('')}</list></resource-lists>`;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' } });
  await xcapRequest(app, 'PUT', `resource-lists/users/sip:alice@${D}/index`, { body: buddies([`sip:bob@${D}`, `sip:carol@${D}`, 'sip:zed@elsewhere.example']), headers: { 'Content-Type': 'application/resource-lists+xml' } });
  await putPresRules(app, 'bob', presRules([{ id: 'alice', watcher: `sip:alice@${D}`, handling: 'allow' }]));
});
afterAll(async () => {
  await app?.cleanup();
  await paced?.cleanup();
});

describe('resource list subscriptions (RFC 4662)', () => {
  it("the buddy list: full state with every member's presence first, then only what changes, RLMI versions counting up", async () => {
    await publish(app, 'bob', { body: pidf(D, 'bob', { tuples: { pc: 'open' }, activity: 'away' }) });
    const alice = await Subscriber.udp(app, 'alice');
    expect(await alice.subscribe({ event: 'presence', target: `sip:alice+buddies@${D}`, ...EVENTLIST })).toMatch(/^SIP\/2\.0 200/);
    const first = await alice.nextNotify();
    expect(first.contentType).toMatch(/^multipart\/related;type="application\/rlmi\+xml";start="<[^>]+>";boundary=/);
    const p0 = parts(first);
    expect(p0.rlmi).toMatch(/<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:alice\+buddies@parley\.test" version="0" fullState="true">/);
    const r0 = resources(p0.rlmi);
    expect(r0.get(`sip:bob@${D}`)?.state).toBe('active');
    expect(p0.byCid.get(r0.get(`sip:bob@${D}`)!.cid!)).toContain('entity="sip:bob@parley.test"');
    expect(p0.byCid.get(r0.get(`sip:bob@${D}`)!.cid!)).toContain('away');
    // carol has no rule for alice: the OMA default, confirm
    expect(r0.get(`sip:carol@${D}`)?.state).toBe('pending');
    expect(r0.get('sip:zed@elsewhere.example')).toEqual({ state: 'terminated', cid: null, reason: 'noresource' });

    // bob changes: a partial NOTIFY with bob alone
    await publish(app, 'bob', { body: pidf(D, 'bob', { tuples: { pc: 'open' }, activity: 'meal' }) });
    const second = parts(await alice.nextNotify());
    expect(second.rlmi).toContain('version="1" fullState="false"');
    const r1 = resources(second.rlmi);
    expect([...r1.keys()]).toEqual([`sip:bob@${D}`]);
    expect(second.byCid.get(r1.get(`sip:bob@${D}`)!.cid!)).toContain('meal');

    // carol lets alice see her: carol becomes active in the next partial NOTIFY
    await putPresRules(app, 'carol', presRules([{ id: 'alice', watcher: `sip:alice@${D}`, handling: 'allow' }]));
    const third = parts(await alice.nextNotify());
    expect(third.rlmi).toContain('version="2" fullState="false"');
    expect(resources(third.rlmi).get(`sip:carol@${D}`)?.state).toBe('active');
    alice.close();
  });

  it('a list defined in rls-services (RFC 4826 §4), and a changed list gives the full state again', async () => {
    const services = (members: string[]) =>
      `<?xml version="1.0" encoding="UTF-8"?><rls-services xmlns="urn:ietf:params:xml:ns:rls-services" xmlns:rl="urn:ietf:params:xml:ns:resource-lists">` +
      `<service uri="sip:alice-team@${D}"><list name="team">${members.map((m) => `<rl:entry uri="${m}"/>`).join('')}</list><packages><package>presence</package></packages></service></rls-services>`;
    const put = await xcapRequest(app, 'PUT', `rls-services/users/sip:alice@${D}/index`, { body: services([`sip:bob@${D}`]), headers: { 'Content-Type': 'application/rls-services+xml' } });
    expect(put.status).toBe(201);
    const alice = await Subscriber.udp(app, 'alice');
    expect(await alice.subscribe({ event: 'presence', target: `sip:alice-team@${D}`, ...EVENTLIST })).toMatch(/^SIP\/2\.0 200/);
    const r0 = resources(parts(await alice.nextNotify()).rlmi);
    expect([...r0.keys()]).toEqual([`sip:bob@${D}`]);
    await xcapRequest(app, 'PUT', `rls-services/users/sip:alice@${D}/index`, { body: services([`sip:bob@${D}`, `sip:carol@${D}`]), headers: { 'Content-Type': 'application/rls-services+xml' } });
    const again = parts(await alice.nextNotify());
    expect(again.rlmi).toContain('fullState="true"');
    expect([...resources(again.rlmi).keys()].sort()).toEqual([`sip:bob@${D}`, `sip:carol@${D}`]);
    alice.close();
  });

  it('needs eventlist (421) and is for the list owner only (403)', async () => {
    const alice = await Subscriber.udp(app, 'alice');
    const res = await alice.subscribe({ event: 'presence', target: `sip:alice+buddies@${D}` });
    expect(res).toMatch(/^SIP\/2\.0 421/);
    expect(res).toMatch(/^Require: eventlist/m);
    const bob = await Subscriber.udp(app, 'bob');
    expect(await bob.subscribe({ event: 'presence', target: `sip:alice+buddies@${D}`, ...EVENTLIST })).toMatch(/^SIP\/2\.0 403/);
    for (const s of [alice, bob]) s.close();
  });

  it("a list's owner shows in each member's winfo as a watcher, and the member's acceptance activates the member at once", async () => {
    // list NOTIFYs paced at 30 s: what arrives within nextNotify's bound did not wait for the rate
    const app2 = (paced = await startAppliance({ config: { subscriptions: { minNotifyInterval: 30_000 } }, users: { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' } }));
    try {
      await xcapRequest(app2, 'PUT', `resource-lists/users/sip:alice@${D}/index`, { body: buddies([`sip:bob@${D}`, `sip:carol@${D}`]), headers: { 'Content-Type': 'application/resource-lists+xml' } });
      await putPresRules(app2, 'bob', presRules([{ id: 'alice', watcher: `sip:alice@${D}`, handling: 'allow' }]));
      const carolWinfo = await Subscriber.udp(app2, 'carol');
      expect(await carolWinfo.subscribe({ event: 'presence.winfo', target: 'carol' })).toMatch(/^SIP\/2\.0 200/);
      expect((await carolWinfo.nextNotify()).body).not.toContain('sip:alice@');
      const bobWinfo = await Subscriber.udp(app2, 'bob');
      expect(await bobWinfo.subscribe({ event: 'presence.winfo', target: 'bob' })).toMatch(/^SIP\/2\.0 200/);
      await bobWinfo.nextNotify();

      const alice = await Subscriber.udp(app2, 'alice');
      expect(await alice.subscribe({ event: 'presence', target: `sip:alice+buddies@${D}`, ...EVENTLIST })).toMatch(/^SIP\/2\.0 200/);
      const r0 = resources(parts(await alice.nextNotify()).rlmi);
      expect(r0.get(`sip:carol@${D}`)?.state).toBe('pending');
      expect(r0.get(`sip:bob@${D}`)?.state).toBe('active');
      // each member sees the list's owner watching them, as their rules for alice say
      const pending = await carolWinfo.notifyWhere((n) => n.body.includes('sip:alice@'));
      const seen = /<watcher id="([^"]+)" event="subscribe" status="pending">sip:alice@parley\.test<\/watcher>/.exec(pending.body);
      expect(seen).not.toBeNull();
      expect((await bobWinfo.notifyWhere((n) => n.body.includes('sip:alice@'))).body).toMatch(/event="subscribe" status="active">sip:alice@parley\.test</);

      // carol accepts alice: her instance is active in the next list NOTIFY, without waiting 30 s
      expect(await putPresRules(app2, 'carol', presRules([{ id: 'alice', watcher: `sip:alice@${D}`, handling: 'allow' }]))).toBe(201);
      const accepted = parts(await alice.nextNotify());
      expect(accepted.rlmi).toContain('fullState="false"');
      const carol = resources(accepted.rlmi).get(`sip:carol@${D}`);
      expect(carol?.state).toBe('active');
      expect(accepted.byCid.get(carol!.cid!)).toContain('entity="sip:carol@parley.test"');
      const approved = await carolWinfo.notifyWhere((n) => n.body.includes('sip:alice@'));
      expect(approved.body).toContain(`<watcher id="${seen![1]}" event="approved" status="active">sip:alice@parley.test</watcher>`);
      // a new winfo subscription's full state has the back-end watcher too
      const again = await Subscriber.udp(app2, 'carol');
      await again.subscribe({ event: 'presence.winfo', target: 'carol' });
      expect((await again.nextNotify()).body).toMatch(/state="full"[\s\S]*status="active">sip:alice@parley\.test</);

      // alice ends her list subscription: the members see her go
      expect(await alice.refresh(0)).toMatch(/^SIP\/2\.0 200/);
      const gone = await carolWinfo.notifyWhere((n) => n.body.includes('sip:alice@'));
      expect(gone.body).toMatch(/event="timeout" status="terminated">sip:alice@parley\.test</);
      for (const s of [carolWinfo, bobWinfo, alice, again]) s.close();
    } finally {
      await app2.cleanup();
      paced = undefined;
    }
  });
});
