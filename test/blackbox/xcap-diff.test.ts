import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, health, eventually, type RunningAppliance } from '../support/appliance.js';
import { sipp, received, header } from '../support/sipp.js';
import { xcapRequest } from '../support/xcap-client.js';
import { RawClient, buildRequest, headerOf } from '../support/raw-client.js';
import { authorize } from '../support/digest-client.js';

// two subscriptions per user at most, to reach the limit (the default configuration otherwise)
const CONFIG = { subscriptions: { maxPerUser: 2 } };
let app: RunningAppliance;
const DOC = 'resource-lists/users/sip:alice@parley.test/index';
const MIME = 'application/resource-lists+xml';
const list = (uri: string) => `<?xml version="1.0"?><resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list name="f"><entry uri="${uri}"/></list></resource-lists>`;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: { alice: 'alice-pw', bob: 'bob-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
});

describe('xcap-diff subscriptions (RFC 5875, X4)', () => {
  it('sends the full state, then an xcap-diff on a change made over HTTP, then ends on unsubscribe', async () => {
    const first = await xcapRequest(app, 'PUT', DOC, { body: list('sip:bob@parley.test'), headers: { 'Content-Type': MIME } });
    const etag1 = first.headers.get('etag')!;
    const run = sipp({
      scenario: 'xcap-diff.xml', remotePort: app.sipPort, service: 'alice',
      auth: { user: 'alice', password: 'alice-pw' }, vars: { domain: app.domain }, timeoutSec: 30,
    });
    // once the subscription is active (its full state sent first), change the document from "another device"
    await eventually(async () => (await health(app)).subscriptions === 1);
    const second = await xcapRequest(app, 'PUT', DOC, { body: list('sip:carol@parley.test'), headers: { 'Content-Type': MIME } });
    const etag2 = second.headers.get('etag')!;
    const r = await run.done;
    expect(r.code, r.errors + r.messages.slice(-2000)).toBe(0);
    const notifies = received(r.messages).filter((m) => m.startsWith('NOTIFY '));
    expect(notifies).toHaveLength(3);
    const [full, change, end] = notifies;
    expect(header(full, 'Event')).toBe('xcap-diff');
    expect(header(full, 'User-Agent')).toMatch(/^Parley\/\d+\.\d+\.\d+$/);
    expect(header(full, 'Content-Type')).toBe('application/xcap-diff+xml');
    expect(header(full, 'Subscription-State')).toMatch(/^active;expires=(600|59\d)$/);
    expect(full).toContain(`<document new-etag="${etag1.replace(/"/g, '&quot;')}" sel="${DOC}"/>`);
    expect(full).toMatch(/xcap-root="http:\/\/127\.0\.0\.1:\d+\/xcap-root"/);
    expect(change).toContain(`previous-etag="${etag1.replace(/"/g, '&quot;')}"`);
    expect(change).toContain(`new-etag="${etag2.replace(/"/g, '&quot;')}"`);
    expect(header(end, 'Subscription-State')).toMatch(/^terminated/);
  });
});

describe('xcap-diff for a list of documents (the SUBSCRIBE body, RFC 5875 §4.1)', () => {
  const RULES = 'pres-rules/users/sip:alice@parley.test/index';
  const rules = (id: string) =>
    `<cr:ruleset xmlns:cr="urn:ietf:params:xml:ns:common-policy"><cr:rule id="${id}"><cr:conditions/><cr:actions/></cr:rule></cr:ruleset>`;
  const watch = (uris: string[]) =>
    `<?xml version="1.0"?><resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>${uris.map((u) => `<entry uri="${u}"/>`).join('')}</list></resource-lists>`;

  /** SUBSCRIBE with a body through the 407 challenge; returns the final response. */
  async function subscribe(c: RawClient, body: string, callId: string, user = 'alice'): Promise<string> {
    const spec = {
      method: 'SUBSCRIBE', uri: `sip:${user}@parley.test`, from: `sip:${user}@parley.test`, to: `sip:${user}@parley.test`, transport: 'UDP' as const,
      localPort: c.localPort, callId, body,
      headers: ['Event: xcap-diff', 'Accept: application/xcap-diff+xml', 'Expires: 300', `Contact: <sip:${user}@127.0.0.1:${c.localPort}>`],
    };
    const typed = (cseq: number, extra: string[] = []) =>
      buildRequest({ ...spec, cseq, headers: [...spec.headers, ...extra] }).replace('Content-Type: text/plain', 'Content-Type: application/resource-lists+xml');
    const challenge = await c.request(typed(1));
    const authz = authorize(headerOf(challenge, 'Proxy-Authenticate')[0], { method: 'SUBSCRIBE', uri: spec.uri, username: user, password: `${user}-pw` });
    return c.request(typed(2, [`Proxy-Authorization: ${authz}`]));
  }

  it('reports only the documents the body names', async () => {
    await xcapRequest(app, 'PUT', RULES, { body: rules('r1'), headers: { 'Content-Type': 'application/auth-policy+xml' } });
    const c = await RawClient.udp(app.sipPort);
    const ok = await subscribe(c, watch([`http://127.0.0.1:${app.httpPort}/xcap-root/${DOC}`]), 'watch-one');
    expect(ok).toMatch(/^SIP\/2\.0 200 OK/);
    const full = await c.next((m) => m.startsWith('NOTIFY '));
    c.answer(full);
    expect(full).toContain(`sel="${DOC}"`);
    expect(full).not.toContain('pres-rules');
    // a change to a document not in the list is not reported: the next NOTIFY is the later change
    await xcapRequest(app, 'PUT', RULES, { body: rules('r2'), headers: { 'Content-Type': 'application/auth-policy+xml' } });
    await xcapRequest(app, 'PUT', DOC, { body: list('sip:dora@parley.test'), headers: { 'Content-Type': MIME } });
    const change = await c.next((m) => m.startsWith('NOTIFY '));
    c.answer(change);
    expect(change).toContain(`sel="${DOC}"`);
    expect(change).not.toContain('pres-rules');
    c.close();
  });

  it("refuses to watch another user's documents (403)", async () => {
    const c = await RawClient.udp(app.sipPort);
    const res = await subscribe(c, watch(['resource-lists/users/sip:bob@parley.test/index']), 'watch-bob');
    expect(res).toMatch(/^SIP\/2\.0 403/);
    c.close();
  });

  it('holds each user to subscriptions.maxPerUser', async () => {
    const clients = [await RawClient.udp(app.sipPort), await RawClient.udp(app.sipPort), await RawClient.udp(app.sipPort)];
    const own = watch([`http://127.0.0.1:${app.httpPort}/xcap-root/resource-lists/users/sip:bob@parley.test/index`]);
    expect(await subscribe(clients[0], own, 'limit-1', 'bob')).toMatch(/^SIP\/2\.0 200 /);
    expect(await subscribe(clients[1], own, 'limit-2', 'bob')).toMatch(/^SIP\/2\.0 200 /);
    expect(await subscribe(clients[2], own, 'limit-3', 'bob')).toMatch(/^SIP\/2\.0 403 Too many subscriptions/);
    for (const c of clients) c.close();
  });
});
