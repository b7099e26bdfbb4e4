import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { sippDevice, sippOk, received, header } from '../support/sipp.js';
import { launchChromium, jssipBundle, loopbackPage, trustCertificateFlag } from '../support/browser.js';

// JsSIP and SIPp do MD5 only, and JsSIP reads the last challenge while SIPp reads the first.
const CONFIG = { auth: { algorithms: ['MD5'] } };
const USERS = { alice: 'alice-pw', bob: 'bob-pw', wendy: 'wendy-pw' };

let app: RunningAppliance;
let browser: Browser;
let page: Page;
let site: { url: string; close(): void };

declare global {
  interface Window {
    JsSIP: any; // eslint-disable-line @typescript-eslint/no-explicit-any
    /** MESSAGEs the page received over wss, with their top Via */
    wssInbox: { from: string; body: string; via: string }[];
    ua: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  }
}

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: USERS });
  // The appliance's self-signed pair (dataDir/tls) serves both its WSS port and the test page;
  // Chromium trusts exactly that certificate, by its public key.
  const cert = readFileSync(path.join(app.dataDir, 'tls/self-signed.crt'));
  const key = readFileSync(path.join(app.dataDir, 'tls/self-signed.key'));
  browser = await launchChromium([trustCertificateFlag(cert)]);
  page = await browser.newPage();
  site = await loopbackPage({ cert, key });
  await page.goto(site.url);
  await page.addScriptTag({ content: jssipBundle() });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  site?.close();
  await app?.cleanup();
});

describe('SIP over secure WebSocket (RFC 7118 §5) with JsSIP on an https page', () => {
  it('loads the page over https, trusting only the appliance certificate', async () => {
    expect(await page.evaluate(() => [location.protocol, window.isSecureContext])).toEqual(['https:', true]);
  });

  it('registers over wss with digest auth', async () => {
    const registered = await page.evaluate(
      ({ wssPort, domain }) =>
        new Promise<string>((resolve) => {
          window.wssInbox = [];
          const socket = new window.JsSIP.WebSocketInterface(`wss://127.0.0.1:${wssPort}`);
          const ua = new window.JsSIP.UA({ sockets: [socket], uri: `sip:wendy@${domain}`, password: 'wendy-pw', register: true, register_expires: 300 });
          window.ua = ua;
          ua.on('registered', () => resolve('registered'));
          ua.on('registrationFailed', (e: { cause: string }) => resolve(`failed: ${e.cause}`));
          ua.on('newMessage', (e: { originator: string; request: { from: { uri: { toString(): string } }; body: string; getHeader(n: string): string } }) => {
            if (e.originator === 'remote') window.wssInbox.push({ from: e.request.from.uri.toString(), body: e.request.body, via: e.request.getHeader('Via') });
          });
          ua.start();
        }),
      { wssPort: app.wssPort, domain: app.domain },
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
      (domain) =>
        new Promise<string>((resolve) => {
          window.ua.sendMessage(`sip:bob@${domain}`, 'hi over wss', {
            eventHandlers: {
              succeeded: (e: { response: { status_code: number } }) => resolve(`ok ${e.response.status_code}`),
              failed: (e: { cause: string }) => resolve(`failed ${e.cause}`),
            },
          });
        }),
      app.domain,
    );
    expect(outcome).toBe('ok 200');
    const got = await device.done;
    expect(got.code).toBe(0);
    const msg = received(got.messages)[0];
    expect(msg).toContain('hi over wss');
    expect(header(msg, 'P-Asserted-Identity')).toBe('<sip:wendy@parley.test>');
    // the browser's own Via, under ours, names the secure WebSocket transport
    expect(msg).toMatch(/^Via: SIP\/2\.0\/WSS /m);
  });

  it('delivers a MESSAGE from a UDP client (SIPp) to the browser over its WSS flow', async () => {
    const r = await sippOk({
      scenario: 'message-uac.xml', remotePort: app.sipPort, service: 'alice',
      auth: { user: 'alice', password: 'alice-pw' }, vars: { domain: app.domain, to: 'wendy', body: 'hello secure browser' },
    });
    expect(received(r.messages).pop()).toMatch(/^SIP\/2\.0 200 OK/);
    const inbox = await page.evaluate(() => window.wssInbox);
    expect(inbox.map((m) => ({ from: m.from, body: m.body.trim() }))).toEqual([{ from: 'sip:alice@parley.test', body: 'hello secure browser' }]);
    // our Via on the relayed request: RFC 7118 §5 transport WSS, at our WSS port
    expect(inbox[0].via).toMatch(new RegExp(`^SIP/2\\.0/WSS 127\\.0\\.0\\.1:${app.wssPort};`));
  });
});
