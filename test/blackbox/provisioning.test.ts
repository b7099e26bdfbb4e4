import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOMParser } from '@xmldom/xmldom';
import { startAppliance, eventually, health, type RunningAppliance } from '../support/appliance.js';
import { authorize } from '../support/digest-client.js';
import { startLinphone } from '../support/linphone.js';

const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' };
let app: RunningAppliance;

beforeAll(async () => {
  app = await startAppliance({ users: USERS });
  await app.cli('user', 'set', 'alice', '--display-name', 'Alice Liddell');
});
afterAll(async () => {
  await app?.cleanup();
});

/** GET with HTTP digest as `user` (the tests' own digest code). */
async function provisioning(path: string, user: keyof typeof USERS, headers: Record<string, string> = {}): Promise<Response> {
  const url = `http://127.0.0.1:${app.httpPort}${path}`;
  const first = await fetch(url, { headers });
  if (first.status !== 401) return first;
  const challenge = first.headers.get('www-authenticate')!.split(/,\s*(?=Digest )/)[0];
  return fetch(url, { headers: { ...headers, Authorization: authorize(challenge, { method: 'GET', uri: path, username: user, password: USERS[user] }) } });
}

const entries = (xml: string, section: string): Record<string, string> => {
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  const out: Record<string, string> = {};
  for (const s of Array.from(doc.getElementsByTagName('section')).filter((e) => e.getAttribute('name') === section))
    for (const e of Array.from(s.getElementsByTagName('entry'))) out[e.getAttribute('name')!] = e.textContent ?? '';
  return out;
};

describe('client provisioning (A6)', () => {
  it('asks for digest credentials, and refuses another user\'s settings', async () => {
    const res = await fetch(`http://127.0.0.1:${app.httpPort}/provisioning/alice`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Digest realm="parley\.test"/);
    const other = await provisioning('/provisioning/alice', 'bob');
    expect(other.status).toBe(403);
    expect(await other.text()).toMatch(/bob's: fetch \/provisioning\/bob/);
  });

  it('serves Linphone remote provisioning XML: the account, its proxy, the conference factory, the XCAP root', async () => {
    // the server rereads the directory every few seconds: wait until it has the display name set above
    const { res, xml } = await eventually(async () => {
      const r = await provisioning('/provisioning/alice', 'alice');
      const text = await r.text();
      return text.includes('Alice Liddell') && { res: r, xml: text };
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/xml/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(xml).toMatch(/<config xmlns="http:\/\/www\.linphone\.org\/xsds\/lpconfig\.xsd"/);
    const proxy = entries(xml, 'proxy_0');
    expect(proxy.reg_identity).toBe('"Alice Liddell" <sip:alice@parley.test>');
    expect(proxy.reg_proxy).toBe(`<sip:127.0.0.1:${app.sipPort};transport=tcp>`);
    expect(proxy.reg_route).toBe(proxy.reg_proxy);
    expect(proxy.conference_factory_uri).toBe('sip:conf-factory@parley.test');
    expect(entries(xml, 'parley').xcap_root).toBe(`http://127.0.0.1:${app.httpPort}/xcap-root`);
    expect(xml).not.toMatch(/passw|ha1/i); // no secret: the client keeps the credentials it fetched with
  });

  it('serves the same settings as JSON when asked', async () => {
    for (const res of [await provisioning('/provisioning/bob', 'bob', { Accept: 'application/json' }), await provisioning('/provisioning/bob?format=json', 'bob')]) {
      expect(res.status).toBe(200);
      const s = (await res.json()) as Record<string, unknown>;
      expect(s).toMatchObject({
        aor: 'sip:bob@parley.test',
        sip: { transport: 'tcp', proxy: `<sip:127.0.0.1:${app.sipPort};transport=tcp>` },
        xcapRoot: `http://127.0.0.1:${app.httpPort}/xcap-root`,
        conferenceFactoryUri: 'sip:conf-factory@parley.test',
        wsUrl: `ws://127.0.0.1:${app.wsPort}`,
        wssUrl: `wss://127.0.0.1:${app.wssPort}`,
      });
      expect((s.sip as { transports: { transport: string }[] }).transports.map((t) => t.transport)).toEqual(['udp', 'tcp', 'tls', 'ws', 'wss']);
    }
  });

  it('Linphone given only the provisioning URL and its credentials fetches its settings and registers', async () => {
    // liblinphone 5.1 fetches config-uri before it reads any auth_info, so the credentials for the
    // digest challenge come from the URL's userinfo; the SIP account then uses the same ones
    const configText = [
      '[sip]', 'sip_port=-1', 'sip_tcp_port=-1', 'sip_tls_port=0',
      '[misc]', `config-uri=http://carol:${USERS.carol}@127.0.0.1:${app.httpPort}/provisioning/carol`,
      '[auth_info_0]', 'username=carol', `passwd=${USERS.carol}`, 'realm=parley.test', 'domain=parley.test',
      '',
    ].join('\n');
    const before = (await health(app)).registrations;
    const carol = startLinphone({ user: 'carol', password: USERS.carol, domain: app.domain, proxyPort: app.sipPort, configText });
    try {
      // no server name was given: the REGISTER goes where the provisioning said, over TCP, and succeeds
      const registered = await eventually(() => carol.sip().find((m) => m.dir === 'in' && /^SIP\/2\.0 200 OK/.test(m.text) && /CSeq: \d+ REGISTER/i.test(m.text)), 20_000);
      expect(registered.text).toMatch(/Via: SIP\/2\.0\/TCP/i);
      await eventually(async () => (await health(app)).registrations === before + 1);
      // liblinphone logs each setting it took from the provisioning document
      expect(carol.log()).toContain(`Set proxy_0|reg_proxy = <sip:127.0.0.1:${app.sipPort};transport=tcp>`);
    } finally {
      await carol.stop();
    }
  });
});
