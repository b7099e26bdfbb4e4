import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, health, eventually, type RunningAppliance } from '../support/appliance.js';
import { sipp, sippOk, received } from '../support/sipp.js';
import { RawClient } from '../support/raw-client.js';
import { xcapRequest } from '../support/xcap-client.js';

// SIPp answers only MD5 challenges, and only the first one
const CONFIG = { auth: { algorithms: ['MD5', 'SHA-256'] } };
let app: RunningAppliance;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
});

const RULES = 'im-access-rules/users/sip:bob@parley.test/index';
const rules = (handling: string, who: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>
<cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy" xmlns:ir="urn:parley:params:xml:ns:im-rules">
  <cp:rule id="r1">
    <cp:conditions><cp:identity><cp:one id="${who}"/></cp:identity></cp:conditions>
    <cp:actions><ir:im-handling>${handling}</ir:im-handling></cp:actions>
  </cp:rule>
</cp:ruleset>`;

async function putRules(body: string): Promise<number> {
  return (await xcapRequest(app, 'PUT', RULES, { user: 'bob', body, headers: { 'Content-Type': 'application/auth-policy+xml' } })).status;
}

/** alice (or carol) sends bob a MESSAGE with SIPp; returns the final status line it got. */
async function message(from: string, text: string): Promise<string> {
  // SIPp exits non-zero on a 403 its scenario did not expect: the traced answer is what counts
  const r = await sipp({
    scenario: 'message-uac.xml',
    remotePort: app.sipPort,
    service: from,
    auth: { user: from, password: `${from}-pw` },
    vars: { domain: app.domain, to: 'bob', body: text },
    timeoutSec: 10,
  }).done;
  return received(r.messages).pop()?.split(/\r?\n/)[0] ?? 'no answer';
}

describe('block lists in force (Y2): IM access rules written over XCAP', () => {
  it('validates the rules document against its schema', async () => {
    expect(await putRules(rules('maybe', 'sip:alice@parley.test'))).toBe(409);
  });

  it('refuses MESSAGEs from a blocked sender with 403, and lets others through', async () => {
    expect(await putRules(rules('block', 'sip:alice@parley.test'))).toBe(201);
    expect(await message('alice', 'let me in')).toMatch(/^SIP\/2\.0 403/);
    expect(await message('carol', 'hello bob')).toBe('SIP/2.0 202 Accepted');
  });

  it('drops MESSAGEs silently on polite-block: 202, and nothing is stored or delivered', async () => {
    const stored = (await health(app)).storedMessages;
    expect(await putRules(rules('polite-block', 'sip:alice@parley.test'))).toBe(200);
    expect(await message('alice', 'are you there?')).toBe('SIP/2.0 202 Accepted');
    expect((await health(app)).storedMessages).toBe(stored);
  });

  it('delivers again once the rules are deleted', async () => {
    const stored = (await health(app)).storedMessages;
    expect((await xcapRequest(app, 'DELETE', RULES, { user: 'bob' })).status).toBe(200);
    expect(await message('alice', 'friends again')).toBe('SIP/2.0 202 Accepted');
    expect((await health(app)).storedMessages).toBe(stored + 1);
  });
});

describe('delivery preferences (P2): im-preferences written over XCAP', () => {
  const PREFS = 'im-preferences/users/sip:bob@parley.test/index';
  const prefs = (delivery: string) =>
    `<im-preferences xmlns="urn:parley:params:xml:ns:im-prefs"><delivery>${delivery}</delivery></im-preferences>`;

  it('stores instead of delivering when the preference says store, and delivers live otherwise', async () => {
    // bob's device: a bare UDP socket that answers 200 to every MESSAGE
    const device = await RawClient.udp(app.sipPort);
    await sippOk({
      scenario: 'register.xml', remotePort: app.sipPort, service: 'bob',
      auth: { user: 'bob', password: 'bob-pw' }, vars: { domain: app.domain, expires: '300', contact: `127.0.0.1:${device.localPort}` },
    });
    // it answers every MESSAGE (stored ones are pushed on REGISTER too) and keeps their bodies
    const got: string[] = [];
    let open = true;
    void (async () => {
      while (open) {
        const m = await device.next((x) => x.startsWith('MESSAGE '), 60_000).catch(() => null);
        if (m === null) return;
        got.push(m);
        device.answer(m, 200, 'OK', 'dev');
      }
    })();
    const delivered = (text: string) => got.some((m) => m.includes(text));
    // registering pushed what was stored for bob before (the previous test's message): let it land
    await eventually(async () => (await health(app)).storedMessages === 0 && delivered('friends again'));
    expect((await xcapRequest(app, 'PUT', PREFS, { user: 'bob', body: prefs('store'), headers: { 'Content-Type': 'application/vnd.parley.im-preferences+xml' } })).status).toBe(201);
    const stored = (await health(app)).storedMessages;
    expect(await message('carol', 'keep it for me')).toBe('SIP/2.0 202 Accepted');
    expect((await health(app)).storedMessages).toBe(stored + 1);

    expect((await xcapRequest(app, 'PUT', PREFS, { user: 'bob', body: prefs('deliver'), headers: { 'Content-Type': 'application/vnd.parley.im-preferences+xml' } })).status).toBe(200);
    expect(await message('carol', 'right now')).toBe('SIP/2.0 200 OK');
    expect(delivered('right now')).toBe(true);
    // the stored one waits for bob's next REGISTER: not pushed live, and still in the store
    expect(delivered('keep it for me')).toBe(false);
    expect((await health(app)).storedMessages).toBe(stored + 1);
    open = false;
    device.close();
  });
});
