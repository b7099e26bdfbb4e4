import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startAppliance, health, eventually, type RunningAppliance } from '../support/appliance.js';
import { sippDevice, received, header } from '../support/sipp.js';
import { launchChromium, sipjsBundle, loopbackPage } from '../support/browser.js';
import { registerContact, sendMessage } from '../support/sip-user.js';
import { interopConfig, applianceTrace } from '../support/interop.js';

// SIP.js 0.21 in Debian's Chromium, over WebSocket (RFC 7118), against the appliance's
// DEFAULT configuration (I1, C4). SIP.js does MD5 only and reads the last challenge of a
// 401/407. To check another digest set-up locally:
//   INTEROP_AUTH_ALGORITHMS=MD5 npx vitest run test/interop/sipjs.test.ts --maxWorkers=1
const USERS = { wendy: 'wendy-pw', bob: 'bob-pw', erin: 'erin-pw' };

let app: RunningAppliance;
let browser: Browser;
let page: Page;
let site: { url: string; close(): void };

declare global {
  interface Window {
    SIP: any; // eslint-disable-line @typescript-eslint/no-explicit-any
    sipInbox: { from: string; body: string }[];
    sipUa: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  }
}

beforeAll(async () => {
  app = await startAppliance({ config: interopConfig(), users: USERS });
  browser = await launchChromium();
  page = await browser.newPage();
  site = await loopbackPage();
  await page.goto(site.url);
  await page.addScriptTag({ content: sipjsBundle() });
}, 60_000);

afterAll(async () => {
  await page?.evaluate(() => window.sipUa?.stop()).catch(() => undefined);
  await browser?.close();
  site?.close();
  await app?.cleanup();
});

describe('SIP.js 0.21 in Chromium over WebSocket (I1, C4)', () => {
  it('registers over WS through the digest challenge', async () => {
    const outcome = await page.evaluate(
      ({ wsPort, domain }) =>
        new Promise<string>((resolve) => {
          const { SIP } = window;
          window.sipInbox = [];
          const ua = new SIP.UserAgent({
            uri: SIP.UserAgent.makeURI(`sip:wendy@${domain}`),
            authorizationUsername: 'wendy',
            authorizationPassword: 'wendy-pw',
            transportOptions: { server: `ws://127.0.0.1:${wsPort}` },
            logLevel: 'error',
            delegate: {
              onMessage: (message: { request: { from: { uri: { toString(): string } }; body: string }; accept(): Promise<void> }) => {
                window.sipInbox.push({ from: message.request.from.uri.toString(), body: message.request.body });
                void message.accept();
              },
            },
          });
          window.sipUa = ua;
          ua.start().then(() => {
            const registerer = new SIP.Registerer(ua, { expires: 300 });
            registerer.register({
              requestDelegate: {
                onAccept: (r: { message: { statusCode: number } }) => resolve(`registered ${r.message.statusCode}`),
                onReject: (r: { message: { statusCode: number } }) => resolve(`rejected ${r.message.statusCode}`),
              },
            });
          }, (e: Error) => resolve(`transport failed: ${e.message}`));
        }),
      { wsPort: app.wsPort, domain: app.domain },
    );
    const ws = applianceTrace(app).filter((m) => m.peer.startsWith('WS'));
    expect(outcome, ws.map((m) => m.text).join('\n')).toBe('registered 200');
    expect(ws.find((m) => m.text.startsWith('REGISTER '))!.text).toMatch(/\r\nUser-Agent: SIP\.js\/0\.21/);
    await eventually(async () => (await health(app)).registrations === 1);
  });

  it('sends a MESSAGE from the browser to a UDP device (SIPp)', async () => {
    const { port, run: device } = await sippDevice({ scenario: 'message-uas.xml', remotePort: app.sipPort, timeoutSec: 20 });
    try {
      expect(await registerContact(app, { name: 'bob', password: USERS.bob }, `127.0.0.1:${port}`)).toMatch(/^SIP\/2\.0 200 /);
      const outcome = await page.evaluate(
        (domain) =>
          new Promise<string>((resolve) => {
            const { SIP } = window;
            const messager = new SIP.Messager(window.sipUa, SIP.UserAgent.makeURI(`sip:bob@${domain}`), 'hello bob from SIP.js');
            messager.message({
              requestDelegate: {
                onAccept: (r: { message: { statusCode: number } }) => resolve(`accepted ${r.message.statusCode}`),
                onReject: (r: { message: { statusCode: number } }) => resolve(`rejected ${r.message.statusCode}`),
              },
            });
          }),
        app.domain,
      );
      expect(outcome).toBe('accepted 200');
      const got = await device.done;
      expect(got.code).toBe(0);
      const forwarded = received(got.messages)[0];
      expect(forwarded).toContain('hello bob from SIP.js');
      expect(header(forwarded, 'P-Asserted-Identity')).toBe('<sip:wendy@parley.test>');
    } finally {
      device.kill();
    }
  });

  it('delivers a MESSAGE from a UDP client to the browser over its WS flow', async () => {
    const final = await sendMessage(app, { name: 'erin', password: USERS.erin }, 'wendy', 'hello browser');
    // the 200 is SIP.js's own answer, relayed (a stored message would get 202)
    expect(final).toMatch(/^SIP\/2\.0 200 OK/);
    const inbox = await page.evaluate(() => window.sipInbox);
    expect(inbox).toEqual([{ from: 'sip:erin@parley.test', body: 'hello browser' }]);
  });
});
