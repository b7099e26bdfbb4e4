import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, freePort, type RunningAppliance } from '../support/appliance.js';
import { sipp, received, header } from '../support/sipp.js';
import { xcapRequest } from '../support/xcap-client.js';

// SIPp answers only MD5 challenges, and only the first one
const CONFIG = { auth: { algorithms: ['MD5', 'SHA-256'] } };
let app: RunningAppliance;
const DOC = 'resource-lists/users/sip:alice@parley.test/index';
const MIME = 'application/resource-lists+xml';
const list = (uri: string) => `<?xml version="1.0"?><resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list name="f"><entry uri="${uri}"/></list></resource-lists>`;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: { alice: 'alice-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
});

describe('xcap-diff subscriptions (RFC 5875, X4)', () => {
  it('sends the full state, then an xcap-diff on a change made over HTTP, then ends on unsubscribe', async () => {
    const first = await xcapRequest(app, 'PUT', DOC, { body: list('sip:bob@parley.test'), headers: { 'Content-Type': MIME } });
    const etag1 = first.headers.get('etag')!;
    const run = sipp({
      scenario: 'xcap-diff.xml', remotePort: app.sipPort, localPort: await freePort(), service: 'alice',
      auth: { user: 'alice', password: 'alice-pw' }, vars: { domain: app.domain }, timeoutSec: 30,
    });
    // let the subscription settle, then change the document from "another device"
    await new Promise((r) => setTimeout(r, 1500));
    const second = await xcapRequest(app, 'PUT', DOC, { body: list('sip:carol@parley.test'), headers: { 'Content-Type': MIME } });
    const etag2 = second.headers.get('etag')!;
    const r = await run.done;
    expect(r.code, r.errors + r.messages.slice(-2000)).toBe(0);
    const notifies = received(r.messages).filter((m) => m.startsWith('NOTIFY '));
    expect(notifies).toHaveLength(3);
    const [full, change, end] = notifies;
    expect(header(full, 'Event')).toBe('xcap-diff');
    expect(header(full, 'Content-Type')).toBe('application/xcap-diff+xml');
    expect(header(full, 'Subscription-State')).toMatch(/^active;expires=(600|59\d)$/);
    expect(full).toContain(`<document new-etag="${etag1.replace(/"/g, '&quot;')}" sel="${DOC}"/>`);
    expect(full).toMatch(/xcap-root="http:\/\/127\.0\.0\.1:\d+\/xcap-root"/);
    expect(change).toContain(`previous-etag="${etag1.replace(/"/g, '&quot;')}"`);
    expect(change).toContain(`new-etag="${etag2.replace(/"/g, '&quot;')}"`);
    expect(header(end, 'Subscription-State')).toMatch(/^terminated/);
  });
});
