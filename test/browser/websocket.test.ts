import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { sippDevice, sippOk, received, header } from '../support/sipp.js';
import { launchChromium, jssipBundle, loopbackPage, trustCertificateFlag } from '../support/browser.js';

// The default configuration: JsSIP answers only the last challenge, in MD5, and is offered MD5 alone.
const USERS = { alice: 'alice-pw', bob: 'bob-pw', wendy: 'wendy-pw' };

declare global {
  interface Window {
    JsSIP: any; // eslint-disable-line @typescript-eslint/no-explicit-any
    /** MESSAGEs the page received, with their Date and top Via */
    inbox: { from: string; body: string; date: string | null; via: string }[];
    ua: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  }
}

interface Variant {
  name: string;
  /** the WebSocket scheme, and the transport in Via (RFC 7118 §5) */
  scheme: 'ws' | 'wss';
  /** the page is served over https with the appliance's certificate, which Chromium trusts by its key */
  https: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'SIP over WebSocket (RFC 7118) with JsSIP in Chromium', scheme: 'ws', https: false },
  { name: 'SIP over secure WebSocket (RFC 7118 §5) with JsSIP on an https page', scheme: 'wss', https: true },
];

describe.each(VARIANTS)('$name', ({ scheme, https }) => {
  let app: RunningAppliance;
  let browser: Browser;
  let page: Page;
  let site: { url: string; close(): void };
  const wsPort = () => (scheme === 'ws' ? app.wsPort : app.wssPort);

  beforeAll(async () => {
    app = await startAppliance({ users: USERS });
    if (https) {
      // the appliance's self-signed pair (dataDir/tls) serves both its WSS port and the test page
      const cert = readFileSync(path.join(app.dataDir, 'tls/self-signed.crt'));
      const key = readFileSync(path.join(app.dataDir, 'tls/self-signed.key'));
      browser = await launchChromium([trustCertificateFlag(cert)]);
      site = await loopbackPage({ cert, key });
    } else {
      browser = await launchChromium();
      site = await loopbackPage();
    }
    page = await browser.newPage();
    await page.goto(site.url);
    await page.addScriptTag({ content: jssipBundle() });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    site?.close();
    await app?.cleanup();
  });

  if (https) {
    it('loads the page over https, trusting only the appliance certificate', async () => {
      expect(await page.evaluate(() => [location.protocol, window.isSecureContext])).toEqual(['https:', true]);
    });
  }

  it(`registers over ${scheme} with digest auth`, async () => {
    const registered = await page.evaluate(
      ({ url, domain }) =>
        new Promise<string>((resolve) => {
          window.inbox = [];
          const socket = new window.JsSIP.WebSocketInterface(url);
          const ua = new window.JsSIP.UA({ sockets: [socket], uri: `sip:wendy@${domain}`, password: 'wendy-pw', register: true, register_expires: 300 });
          window.ua = ua;
          ua.on('registered', () => resolve('registered'));
          ua.on('registrationFailed', (e: { cause: string }) => resolve(`failed: ${e.cause}`));
          ua.on('newMessage', (e: { originator: string; request: { from: { uri: { toString(): string } }; body: string; getHeader(n: string): string | undefined } }) => {
            if (e.originator !== 'remote') return;
            window.inbox.push({ from: e.request.from.uri.toString(), body: e.request.body, date: e.request.getHeader('Date') ?? null, via: e.request.getHeader('Via') ?? '' });
          });
          ua.start();
        }),
      { url: `${scheme}://127.0.0.1:${wsPort()}`, domain: app.domain },
    );
    expect(registered).toBe('registered');
  });

  it('sends a MESSAGE from the browser to a UDP device (SIPp)', async () => {
    const { port: devicePort, run: device } = await sippDevice({ scenario: 'message-uas.xml', remotePort: app.sipPort, timeoutSec: 20 });
    await sippOk({
      scenario: 'register.xml', remotePort: app.sipPort, service: 'bob',
      auth: { user: 'bob', password: 'bob-pw' }, vars: { domain: app.domain, expires: '300', contact: `127.0.0.1:${devicePort}` },
    });
    const outcome = await page.evaluate(
      ({ domain, text }) =>
        new Promise<string>((resolve) => {
          window.ua.sendMessage(`sip:bob@${domain}`, text, {
            eventHandlers: {
              succeeded: (e: { response: { status_code: number } }) => resolve(`ok ${e.response.status_code}`),
              failed: (e: { cause: string }) => resolve(`failed ${e.cause}`),
            },
          });
        }),
      { domain: app.domain, text: `hi over ${scheme}` },
    );
    expect(outcome).toBe('ok 200');
    const got = await device.done;
    expect(got.code).toBe(0);
    const msg = received(got.messages)[0];
    expect(msg).toContain(`hi over ${scheme}`);
    expect(header(msg, 'P-Asserted-Identity')).toBe('<sip:wendy@parley.test>');
    // the browser's own Via, under ours, names its transport
    expect(msg).toMatch(new RegExp(`^Via: SIP/2\\.0/${scheme.toUpperCase()} `, 'm'));
  });

  it(`delivers a MESSAGE from a UDP client (SIPp) to the browser over its ${scheme} flow`, async () => {
    const r = await sippOk({
      scenario: 'message-uac.xml', remotePort: app.sipPort, service: 'alice',
      auth: { user: 'alice', password: 'alice-pw' }, vars: { domain: app.domain, to: 'wendy', body: `hello ${scheme} browser` },
    });
    expect(received(r.messages).pop()).toMatch(/^SIP\/2\.0 200 OK/);
    const inbox = await page.evaluate(() => window.inbox);
    expect(inbox.map((m) => ({ from: m.from, body: m.body.trim(), date: m.date }))).toEqual([{ from: 'sip:alice@parley.test', body: `hello ${scheme} browser`, date: null }]);
    // our Via on the relayed request names the transport, at the port it came in on
    expect(inbox[0].via).toMatch(new RegExp(`^SIP/2\\.0/${scheme.toUpperCase()} 127\\.0\\.0\\.1:${wsPort()};`));
  });
});
