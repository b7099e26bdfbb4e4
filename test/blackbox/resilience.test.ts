import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, health, type RunningAppliance } from '../support/appliance.js';
import { RawClient, buildRequest, headerOf, type RequestSpec } from '../support/raw-client.js';
import { authorize } from '../support/digest-client.js';
import { runSql } from '../support/store-sql.js';

const D = 'parley.test';
let app: RunningAppliance;

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw', bob: 'bob-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
});

async function authenticated(c: RawClient, spec: RequestSpec, user: string, password: string): Promise<string> {
  const first = await c.request(buildRequest({ ...spec, cseq: 1 }));
  const challenge = headerOf(first, 'Proxy-Authenticate')[0];
  if (challenge === undefined) return first;
  return c.request(buildRequest({ ...spec, cseq: 2, headers: [...(spec.headers ?? []), `Proxy-Authorization: ${authorize(challenge, { method: spec.method, uri: spec.uri, username: user, password })}`] }));
}

describe('one request never takes the process down', () => {
  it('survives a failure after the final response (SUBSCRIBE answered 200, then its document store read fails)', async () => {
    // the documents table disappears under the running server: every read of it now fails
    await runSql(app, 'ALTER TABLE xcap_documents RENAME TO xcap_documents_away');
    try {
      const c = await RawClient.udp(app.sipPort);
      const spec: RequestSpec = {
        method: 'SUBSCRIBE', uri: `sip:alice@${D}`, from: `sip:alice@${D}`, to: `sip:alice@${D}`, transport: 'UDP', localPort: c.localPort, callId: 'sub-after-answer',
        headers: ['Event: xcap-diff', 'Accept: application/xcap-diff+xml', 'Expires: 600', `Contact: <sip:alice@127.0.0.1:${c.localPort}>`],
      };
      expect(await authenticated(c, spec, 'alice', 'alice-pw')).toMatch(/^SIP\/2\.0 200 /);
      // a MESSAGE whose policy read fails gets 500, not silence
      const m: RequestSpec = { method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort, body: 'still there?' };
      expect(await authenticated(c, m, 'alice', 'alice-pw')).toMatch(/^SIP\/2\.0 500 /);
      c.close();
    } finally {
      await runSql(app, 'ALTER TABLE xcap_documents_away RENAME TO xcap_documents');
    }
    // the process is alive, answers, and logged what failed, as an error of that request
    const c = await RawClient.udp(app.sipPort);
    expect(await c.request(buildRequest({ method: 'OPTIONS', uri: `sip:${D}`, from: `sip:probe@${D}`, to: `sip:${D}`, transport: 'UDP', localPort: c.localPort }))).toMatch(/^SIP\/2\.0 200 /);
    c.close();
    expect((await health(app)).registrations).toBeGreaterThanOrEqual(0);
    expect(app.logs.some((l) => l.includes('"msg":"request failed after its final response"') && l.includes('"method":"SUBSCRIBE"'))).toBe(true);
    // and once the store is back, the same requests work
    const again = await RawClient.udp(app.sipPort);
    const m: RequestSpec = { method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: again.localPort, body: 'back' };
    expect(await authenticated(again, m, 'alice', 'alice-pw')).toMatch(/^SIP\/2\.0 202 /);
    again.close();
  });
});
