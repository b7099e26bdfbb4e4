import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { sippOk, sippDevice } from '../support/sipp.js';
import { xcapRequest } from '../support/xcap-client.js';
import { parseOpenMetrics, valueOf, type Sample } from '../support/openmetrics.js';

// SIPp answers only MD5 challenges
const CONFIG = { auth: { algorithms: ['MD5', 'SHA-256'] } };
const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' };

let app: RunningAppliance;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: USERS });
});
afterAll(async () => {
  await app?.cleanup();
});

async function scrape(): Promise<{ res: Response; samples: Sample[] }> {
  const res = await fetch(`http://127.0.0.1:${app.metricsPort}/metrics`);
  const text = await res.text();
  return { res, samples: await parseOpenMetrics(text) };
}

const register = (user: keyof typeof USERS, contact: string) =>
  sippOk({ scenario: 'register.xml', remotePort: app.sipPort, service: user, auth: { user, password: USERS[user] }, vars: { domain: app.domain, expires: '300', contact } });

const message = (from: keyof typeof USERS, to: string, body: string) =>
  sippOk({ scenario: 'message-uac.xml', remotePort: app.sipPort, service: from, auth: { user: from, password: USERS[from] }, vars: { domain: app.domain, to, body } });

describe('/metrics (A4)', () => {
  it('serves OpenMetrics text that a strict parser reads, with process metrics and event-loop lag', async () => {
    const { res, samples } = await scrape();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    const names = new Set(samples.map((s) => s.name));
    for (const n of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'parley_deferred_queue_depth', 'parley_store_write_seconds_count'])
      expect(names, n).toContain(n);
  });

  it('is not on the public HTTP port, and answers only GET /metrics', async () => {
    expect((await fetch(`http://127.0.0.1:${app.httpPort}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${app.metricsPort}/other`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${app.metricsPort}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('moves the registration, transaction, message, queue, XCAP and store series when traffic flows', async () => {
    const before = (await scrape()).samples;
    const bob = await sippDevice({ scenario: 'message-uas.xml', remotePort: app.sipPort, calls: 1, timeoutSec: 30 });
    await register('bob', `127.0.0.1:${bob.port}`);
    await register('alice', '127.0.0.1:5997');
    await message('alice', 'bob', 'delivered one');
    await bob.run.done;
    await message('alice', 'carol', 'stored one'); // carol is offline: stored (202)
    const xcap = await xcapRequest(app, 'GET', `resource-lists/users/sip:alice@${app.domain}/index`);
    expect(xcap.status).toBe(404);

    const after = await eventually(async () => {
      const { samples } = await scrape();
      return valueOf(samples, 'parley_messages_total', { outcome: 'stored' }) > valueOf(before, 'parley_messages_total', { outcome: 'stored' }) && samples;
    });
    expect(valueOf(after, 'parley_registrations', { transport: 'UDP' })).toBeGreaterThanOrEqual(2);
    expect(valueOf(after, 'parley_sip_transactions_total', { method: 'REGISTER', class: '2xx' }) - valueOf(before, 'parley_sip_transactions_total', { method: 'REGISTER', class: '2xx' })).toBe(2);
    expect(valueOf(after, 'parley_sip_transactions_total', { method: 'REGISTER', class: '4xx' })).toBeGreaterThanOrEqual(2); // the 401 challenges
    expect(valueOf(after, 'parley_sip_transactions_total', { method: 'MESSAGE', class: '2xx' }) - valueOf(before, 'parley_sip_transactions_total', { method: 'MESSAGE', class: '2xx' })).toBe(2);
    expect(valueOf(after, 'parley_messages_total', { outcome: 'delivered' }) - valueOf(before, 'parley_messages_total', { outcome: 'delivered' })).toBe(1);
    expect(valueOf(after, 'parley_messages_total', { outcome: 'stored' }) - valueOf(before, 'parley_messages_total', { outcome: 'stored' })).toBe(1);
    expect(valueOf(after, 'parley_deferred_queue_depth')).toBe(valueOf(before, 'parley_deferred_queue_depth') + 1);
    expect(valueOf(after, 'parley_xcap_operations_total', { method: 'GET', status: '404' }) - valueOf(before, 'parley_xcap_operations_total', { method: 'GET', status: '404' })).toBe(1);
    expect(valueOf(after, 'parley_xcap_operations_total', { method: 'GET', status: '401' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(after, 'parley_store_write_seconds_count')).toBeGreaterThan(valueOf(before, 'parley_store_write_seconds_count'));
  });
});
