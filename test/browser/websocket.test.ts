import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { sippDevice, sippOk, received, header } from '../support/sipp.js';
import { launchChromium, jssipBundle, loopbackPage } from '../support/browser.js';

// JsSIP and SIPp both do MD5 only, and JsSIP reads the last challenge while SIPp reads the
// first, so this site offers MD5 alone (a setting sites with such clients use).
const CONFIG = { auth: { algorithms: ['MD5'] } };
const USERS = { alice: 'alice-pw', bob: 'bob-pw', wendy: 'wendy-pw' };

let app: RunningAppliance;
let browser: Browser;
let page: Page;
let site: { url: string; close(): void };

declare global {
  interface Window {
    JsSIP: any; // eslint-disable-line @typescript-eslint/no-explicit-any
    inbox: { from: string; body: string; date: string | null }[];
    ua: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  }
}

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: USERS });
  browser = await launchChromium();
  page = await browser.newPage();
  site = await loopbackPage();
  await page.goto(site.url);
  await page.addScriptTag({ content: jssipBundle() });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  site?.close();
  await app?.cleanup();
});

describe('SIP over WebSocket (RFC 7118) with JsSIP in Chromium', () => {
  it('registers over WS with digest auth', async () => {
    const registered = await page.evaluate(
      ({ wsPort, domain }) =>
        new Promise<string>((resolve) => {
          window.inbox = [];
          const socket = new window.JsSIP.WebSocketInterface(`ws://127.0.0.1:${wsPort}`);
          const ua = new window.JsSIP.UA({ sockets: [socket], uri: `sip:wendy@${domain}`, password: 'wendy-pw', register: true, register_expires: 300 });
          window.ua = ua;
          ua.on('registered', () => resolve('registered'));
          ua.on('registrationFailed', (e: { cause: string }) => resolve(`failed: ${e.cause}`));
          ua.on('newMessage', (e: { originator: string; request: { from: { uri: { toString(): string } }; body: string; getHeader(n: string): string | undefined } }) => {
            if (e.originator === 'remote') {
              window.inbox.push({ from: e.request.from.uri.toString(), body: e.request.body, date: e.request.getHeader('Date') ?? null });
            }
          });
          ua.start();
        }),
      { wsPort: app.wsPort, domain: app.domain },
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
          window.ua.sendMessage(`sip:bob@${domain}`, 'hi from the browser', {
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
    expect(msg).toContain('hi from the browser');
    expect(header(msg, 'P-Asserted-Identity')).toBe('<sip:wendy@parley.test>');
  });

  it('delivers a MESSAGE from a UDP client (SIPp) to the browser over its WS flow', async () => {
    const r = await sippOk({
      scenario: 'message-uac.xml', remotePort: app.sipPort, service: 'alice',
      auth: { user: 'alice', password: 'alice-pw' }, vars: { domain: app.domain, to: 'wendy', body: 'hello browser' },
    });
    expect(received(r.messages).pop()).toMatch(/^SIP\/2\.0 200 OK/);
    const inbox = (await page.evaluate(() => window.inbox)).map((m) => ({ ...m, body: m.body.trim() }));
    expect(inbox).toEqual([{ from: 'sip:alice@parley.test', body: 'hello browser', date: null }]);
  });
});
