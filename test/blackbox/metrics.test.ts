import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { sippOk, sippDevice } from '../support/sipp.js';
import { xcapRequest } from '../support/xcap-client.js';
import { parseOpenMetrics, valueOf, type Sample } from '../support/openmetrics.js';
import { Subscriber } from '../support/subscriber.js';
import { ChatClient } from '../support/msrp-client.js';
import type { ReceivedMessage } from '../../appliance/src/msrp/msrp-session.js';

// SIPp answers only MD5 challenges
const CONFIG = { auth: { algorithms: ['MD5', 'SHA-256'] } };
const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw', erin: 'erin-pw' };

let app: RunningAppliance;
const closers: { close(): void }[] = [];

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: USERS });
});
afterAll(async () => {
  for (const c of closers) c.close();
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
      // the MESSAGE challenges answered by the native UDP socket itself are counted once a second
      const challenged = valueOf(samples, 'parley_sip_transactions_total', { method: 'MESSAGE', class: '4xx' }) - valueOf(before, 'parley_sip_transactions_total', { method: 'MESSAGE', class: '4xx' });
      return valueOf(samples, 'parley_messages_total', { outcome: 'stored' }) > valueOf(before, 'parley_messages_total', { outcome: 'stored' }) && challenged >= 2 && samples;
    });
    expect(valueOf(after, 'parley_registrations', { transport: 'UDP' })).toBeGreaterThanOrEqual(2);
    expect(valueOf(after, 'parley_sip_transactions_total', { method: 'REGISTER', class: '2xx' }) - valueOf(before, 'parley_sip_transactions_total', { method: 'REGISTER', class: '2xx' })).toBe(2);
    expect(valueOf(after, 'parley_sip_transactions_total', { method: 'REGISTER', class: '4xx' })).toBeGreaterThanOrEqual(2); // the 401 challenges
    expect(valueOf(after, 'parley_sip_transactions_total', { method: 'MESSAGE', class: '2xx' }) - valueOf(before, 'parley_sip_transactions_total', { method: 'MESSAGE', class: '2xx' })).toBe(2);
    // each MESSAGE's 407
    expect(valueOf(after, 'parley_sip_transactions_total', { method: 'MESSAGE', class: '4xx' }) - valueOf(before, 'parley_sip_transactions_total', { method: 'MESSAGE', class: '4xx' })).toBe(2);
    expect(valueOf(after, 'parley_messages_total', { outcome: 'delivered' }) - valueOf(before, 'parley_messages_total', { outcome: 'delivered' })).toBe(1);
    expect(valueOf(after, 'parley_messages_total', { outcome: 'stored' }) - valueOf(before, 'parley_messages_total', { outcome: 'stored' })).toBe(1);
    expect(valueOf(after, 'parley_deferred_queue_depth')).toBe(valueOf(before, 'parley_deferred_queue_depth') + 1);
    expect(valueOf(after, 'parley_xcap_operations_total', { method: 'GET', status: '404' }) - valueOf(before, 'parley_xcap_operations_total', { method: 'GET', status: '404' })).toBe(1);
    expect(valueOf(after, 'parley_xcap_operations_total', { method: 'GET', status: '401' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(after, 'parley_store_write_seconds_count')).toBeGreaterThan(valueOf(before, 'parley_store_write_seconds_count'));
  });

  it('moves the subscription, MSRP session, room and switched-message series when presence and chat traffic flows', async () => {
    const before = (await scrape()).samples;
    const delta = (samples: Sample[], name: string, labels: Record<string, string> = {}) => valueOf(samples, name, labels) - valueOf(before, name, labels);

    // a SUBSCRIBE to someone else's presence waits for their consent (no pres-rules: OMA's confirm),
    // and a watcher-info SUBSCRIBE to one's own is active (RFC 3856, RFC 3857)
    const watcher = await Subscriber.udp(app, 'carol');
    const winfo = await Subscriber.udp(app, 'alice');
    closers.push(watcher, winfo);
    expect(await watcher.subscribe({ event: 'presence', target: 'alice', accept: 'application/pidf+xml' })).toMatch(/^SIP\/2\.0 200/);
    expect(await winfo.subscribe({ event: 'presence.winfo', target: 'alice', accept: 'application/watcherinfo+xml' })).toMatch(/^SIP\/2\.0 200/);

    // a one-to-one chat: dave's message switched to erin (S1)
    const dave = await ChatClient.connect(app, 'dave', USERS.dave);
    const erin = await ChatClient.connect(app, 'erin', USERS.erin);
    closers.push(dave, erin);
    const [dCall, eCall] = await Promise.all([dave.invite('erin'), erin.answerInvite()]);
    expect(dCall.final).toMatch(/^SIP\/2\.0 200 OK/);
    const toErin = new Promise<ReceivedMessage>((resolve) => {
      eCall.session.onMessage = (m) => {
        m.report(200);
        resolve(m);
      };
    });
    expect((await dCall.session.send('text/plain', Buffer.from('hello erin'))).status).toBe(200);
    expect((await toErin).body.toString()).toBe('hello erin');

    // a room: bob and carol join the public group "lobby" (S3); bob's message is relayed to carol (S4)
    const lobby = `<?xml version="1.0" encoding="UTF-8"?>
<group xmlns="urn:oma:xml:poc:list-service"><list-service uri="sip:lobby@${app.domain}"><list/><cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy"><cp:rule id="parley-join-lobby"><cp:conditions><cp:identity><cp:many domain="${app.domain}"/></cp:identity></cp:conditions><cp:actions><join-handling>true</join-handling></cp:actions></cp:rule></cp:ruleset></list-service></group>`;
    const put = await xcapRequest(app, 'PUT', `org.openmobilealliance.groups/users/sip:alice@${app.domain}/index`, { body: lobby, headers: { 'Content-Type': 'application/vnd.oma.poc.groups+xml' } });
    expect(put.status).toBe(201);
    const bobChat = await ChatClient.connect(app, 'bob', USERS.bob, false);
    const carolChat = await ChatClient.connect(app, 'carol', USERS.carol, false);
    closers.push(bobChat, carolChat);
    const bobIn = await bobChat.invite('lobby');
    const carolIn = await carolChat.invite('lobby');
    expect([bobIn.final, carolIn.final].map((f) => f.split('\r\n')[0])).toEqual(['SIP/2.0 200 OK', 'SIP/2.0 200 OK']);
    const toCarol = new Promise<ReceivedMessage>((resolve) => {
      carolIn.session.onMessage = (m) => {
        m.report(200);
        resolve(m);
      };
    });
    expect((await bobIn.session.send('text/plain', Buffer.from('hello room'))).status).toBe(200);
    expect((await toCarol).body.toString()).toContain('hello room');

    // wait for the scrape that sees the room's relayed message (the last thing that happened)
    const during = await eventually(async () => {
      const { samples } = await scrape();
      return delta(samples, 'parley_msrp_messages_total', { kind: 'room' }) >= 1 && samples;
    });
    expect(delta(during, 'parley_subscriptions', { package: 'presence', state: 'pending' })).toBe(1);
    expect(delta(during, 'parley_subscriptions', { package: 'presence.winfo', state: 'active' })).toBe(1);
    expect(delta(during, 'parley_one_to_one_sessions')).toBe(1);
    // two legs of the one-to-one session and one per participant, all over TCP
    expect(delta(during, 'parley_msrp_sessions', { transport: 'tcp' })).toBe(4);
    expect(delta(during, 'parley_rooms')).toBe(1);
    expect(delta(during, 'parley_room_participants')).toBe(2);
    expect(delta(during, 'parley_msrp_messages_total', { kind: 'one_to_one' })).toBe(1);
    expect(delta(during, 'parley_msrp_messages_total', { kind: 'room' })).toBe(1);

    // all ended: the gauges come back down, the counters stay
    await Promise.all([dave.bye(dCall), erin.awaitBye(eCall)]);
    await Promise.all([bobChat.bye(bobIn), carolChat.bye(carolIn)]);
    expect(await watcher.refresh(0)).toMatch(/^SIP\/2\.0 200/);
    expect(await winfo.refresh(0)).toMatch(/^SIP\/2\.0 200/);
    const after = await eventually(async () => {
      const { samples } = await scrape();
      return delta(samples, 'parley_msrp_sessions', { transport: 'tcp' }) === 0 && delta(samples, 'parley_subscriptions') === 0 && samples;
    });
    expect(delta(after, 'parley_one_to_one_sessions')).toBe(0);
    expect(delta(after, 'parley_rooms')).toBe(0);
    expect(delta(after, 'parley_room_participants')).toBe(0);
    expect(delta(after, 'parley_msrp_messages_total')).toBe(2);
  });
});
