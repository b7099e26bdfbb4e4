import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { parse } from 'csv-parse/sync';
import jsqr from 'jsqr';
import { ROOT, startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { addConsoleAccount, apiUrl, login, type AdminSession } from '../support/admin-client.js';
import { launchChromium } from '../support/browser.js';
import { openConsole, type ConsoleTab } from '../support/console-page.js';
import { sipp, received } from '../support/sipp.js';
import { sendMessage } from '../support/sip-user.js';
import { xcapRequest } from '../support/xcap-client.js';
import { authorize } from '../support/digest-client.js';

// The admin console in Debian's Chromium against the real appliance serving /console, each step
// checked where it shows: on the page, on the wire (SIPp, a raw MESSAGE, XCAP) and in the API.
// SIPp answers only the first challenge and only with MD5, so MD5 is offered first here.
const CONFIG = { auth: { algorithms: ['MD5', 'SHA-256'] } };

let app: RunningAppliance;
let browser: Browser;
let tab: ConsoleTab;
let api: AdminSession;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: { alice: 'alice-pw', bob: 'bob-pw', dora: 'dora-pw' } });
  await addConsoleAccount(app, 'root', 'root-password-1');
  await addConsoleAccount(app, 'helpdesk', 'helpdesk-password-1', 'support');
  api = await login(app, 'root', 'root-password-1');
  browser = await launchChromium();
  tab = await openConsole(browser, app);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.cleanup();
});

// a page that logged an error fails the test that opened it
afterEach(() => {
  // an expected error that never came would mean errors are not seen at all
  expect(tab.takeErrors()).toEqual({ logged: [], expectedButMissing: [] });
});

/** SIPp registers `user` (contact on a port nobody listens on); the status line of its last answer. */
async function sippRegister(user: string, password: string, contactPort: number): Promise<string> {
  const r = await sipp({
    scenario: 'register.xml', remotePort: app.sipPort, service: user,
    auth: { user, password }, vars: { domain: app.domain, expires: '300', contact: `127.0.0.1:${contactPort}` },
  }).done;
  return received(r.messages).pop()!.split('\r\n')[0];
}

const statusLine = (response: string): string => response.split('\r\n')[0];

// jsqr is CommonJS: Node's default import is its module.exports, whose `default` is the decoder
const jsQR = jsqr.default;

describe('the admin console in a browser', () => {
  it('serves the login page at /console with a CSP of self only, and signs the admin in', async () => {
    const res = await fetch(tab.url());
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    await tab.page.goto(tab.url('users'));
    // no session yet: the console asks for one, and keeps where the admin was going
    await tab.page.getByRole('heading', { name: 'Sign in to the Parley console' }).waitFor();
    expect(tab.page.url()).toBe(tab.url('login?next=/users'));
    await tab.shoot('login');
    // the form from the keyboard alone: the name field has the focus, Tab moves on, Enter signs in
    await tab.page.keyboard.type('root');
    await tab.page.keyboard.press('Tab');
    await tab.page.keyboard.type('root-password-1');
    await tab.page.keyboard.press('Enter');
    await tab.page.getByRole('heading', { name: 'Users', exact: true }).waitFor();
    expect(tab.page.url()).toBe(tab.url('users'));
    await expect(tab.page.getByTestId('account').textContent()).resolves.toContain('root (admin)');
    await tab.page.getByRole('link', { name: 'alice' }).waitFor();
    await tab.shoot('users');
  });

  it('finds a user by name', async () => {
    await tab.page.getByLabel('Search users').fill('dor');
    await tab.page.getByRole('link', { name: 'dora' }).waitFor();
    await eventually(async () => (await tab.page.getByRole('link', { name: 'alice' }).count()) === 0, 5000);
    await tab.page.getByLabel('Search users').fill('');
  });

  it('creates a user whose generated password then registers with SIPp', async () => {
    await tab.page.getByRole('button', { name: 'New user' }).click();
    const dialog = tab.page.getByRole('dialog');
    await dialog.getByLabel('Name', { exact: true }).fill('Carol');
    await dialog.getByLabel('Display name').fill('Carol Console');
    await tab.shoot('users-create');
    await dialog.getByRole('button', { name: 'Create' }).click();
    const password = (await dialog.getByTestId('generated-password').textContent())!.trim();
    expect(password.length).toBeGreaterThanOrEqual(16);
    await tab.shoot('users-created');
    await dialog.getByRole('button', { name: 'Done' }).click();
    await tab.page.getByRole('link', { name: 'carol' }).waitFor();
    expect(await sippRegister('carol', password, 5931)).toBe('SIP/2.0 200 OK');
  });

  it("disables the user on their page, and the registration drops at once (REGISTER then 403)", async () => {
    await tab.page.getByRole('link', { name: 'carol' }).click();
    await tab.page.getByRole('heading', { name: 'User carol' }).waitFor();
    expect(await tab.page.getByTestId('devices').textContent()).toBe('1');
    await tab.shoot('user');
    await tab.page.getByTestId('enabled-switch').click();
    await tab.page.getByText('Saved').first().waitFor();
    expect(await tab.page.getByTestId('devices').textContent()).toBe('0');
    const carol = (await (await api.request('GET', '/users/carol')).json()) as { disabled: boolean; devices: number };
    expect(carol).toMatchObject({ disabled: true, devices: 0 });
    expect(await sippRegister('carol', 'whatever-it-was', 5931)).toMatch(/^SIP\/2\.0 (401|403)/);
  });

  it('resets a password: the generated one is shown once and registers with SIPp, the old one no longer', async () => {
    await tab.page.goto(tab.url('users/bob'));
    await tab.page.getByRole('heading', { name: 'User bob' }).waitFor();
    await tab.page.getByRole('button', { name: 'Reset password' }).click();
    await tab.page.getByRole('dialog').getByRole('button', { name: 'Reset password' }).click();
    const password = (await tab.page.getByTestId('generated-password').textContent())!.trim();
    expect(password).not.toBe('bob-pw');
    await tab.shoot('user-password-reset');
    expect(await sippRegister('bob', 'bob-pw', 5932)).toMatch(/^SIP\/2\.0 (401|403)/);
    expect(await sippRegister('bob', password, 5932)).toBe('SIP/2.0 200 OK');
  });

  it('imports a CSV with a conflict: the dry run writes nothing, skip imports the rest, the rejected rows download as a file', async () => {
    await tab.page.getByRole('menuitem', { name: 'Import users' }).click();
    await tab.page.getByRole('heading', { name: 'Import users' }).waitFor();
    const csv = 'name,password,displayName\nerin,erin-pw,Erin E\nalice,other-pw,\n"bad name",xxxx,\nfrank,frank-pw,Frank\n';
    await tab.page.getByLabel('CSV file').setInputFiles({ name: 'users.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await tab.page.getByRole('button', { name: 'Dry run' }).click();
    const result = tab.page.getByTestId('import-result');
    await result.getByText('Dry run: 2 to create, 1 conflicts, 1 invalid. Nothing was written.').waitFor();
    expect((await api.request('GET', '/users/erin')).status).toBe(404);
    await tab.shoot('import-dry-run');
    await tab.page.getByRole('radio', { name: 'Skip that row' }).check({ force: true });
    await tab.page.getByRole('button', { name: 'Import', exact: true }).click();
    await result.getByText('Imported: 2 created').waitFor();
    expect((await api.request('GET', '/users/erin')).status).toBe(200);
    expect((await api.request('GET', '/users/frank')).status).toBe(200);
    const [download] = await Promise.all([tab.page.waitForEvent('download'), tab.page.getByTestId('rejected-download').click()]);
    expect(download.suggestedFilename()).toBe('rejected-rows.csv');
    const rows = parse(readFileSync((await download.path())!, 'utf8')) as string[][];
    expect(rows).toEqual([
      ['line', 'name', 'password', 'displayName', 'reason'],
      ['3', 'alice', 'other-pw', '', "user 'alice' already exists"],
      ['4', 'bad name', 'xxxx', '', expect.stringMatching(/^invalid user name 'bad name'/)],
    ]);
    await tab.shoot('import-applied');
  });

  it("creates a group on alice's page that alice then reads over XCAP", async () => {
    await tab.page.goto(tab.url('users/alice'));
    await tab.page.getByRole('heading', { name: 'User alice' }).waitFor();
    await tab.page.getByRole('button', { name: 'New group' }).click();
    const dialog = tab.page.getByRole('dialog');
    await dialog.getByLabel('Group name').fill('team');
    await dialog.getByLabel('Display name').fill('The Team');
    await dialog.getByRole('radio', { name: 'Public' }).check({ force: true });
    await dialog.getByLabel('Participant limit').fill('10');
    await dialog.getByLabel('Members (SIP URIs, one per line)').fill(`sip:bob@${app.domain}\nsip:dora@${app.domain}`);
    await tab.shoot('user-group-edit');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await tab.page.getByRole('cell', { name: 'The Team' }).waitFor();
    await tab.shoot('user-groups');
    const xcap = await xcapRequest(app, 'GET', `org.openmobilealliance.groups/users/sip:alice@${app.domain}/index`);
    expect(xcap.status).toBe(200);
    const xml = await xcap.text();
    expect(xml).toContain(`<list-service uri="sip:team@${app.domain}">`);
    expect(xml).toContain('<display-name>The Team</display-name>');
    expect(xml).toContain(`<entry uri="sip:dora@${app.domain}"/>`);
    expect(xml).toContain('<max-participant-count>10</max-participant-count>');
  });

  it("shows alice's provisioning URL as a QR code that decodes to that URL in both themes, copies it, and the URL serves her settings", async () => {
    await tab.page.goto(tab.url('users/alice'));
    await tab.page.getByRole('heading', { name: 'Client provisioning' }).waitFor();
    const url = `http://127.0.0.1:${app.httpPort}/provisioning/alice`;
    expect(await tab.page.getByTestId('provisioning-url').textContent()).toBe(url);
    const qr = tab.page.getByRole('img', { name: 'QR code of the provisioning URL' });
    // what a phone's camera would see: the code as drawn on the screen, light and dark theme
    for (const dark of [false, true]) {
      await tab.page.evaluate((on) => document.documentElement.classList.toggle('dark', on), dark);
      const png = await qr.screenshot({ animations: 'disabled' });
      // the screenshot's pixels, decoded by the browser's own PNG decoder (no CSP on an in-memory blob)
      const image = await tab.page.evaluate(async (b64) => {
        const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: 'image/png' }));
        const ctx = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d')!;
        ctx.drawImage(bitmap, 0, 0);
        return { width: bitmap.width, height: bitmap.height, data: Array.from(ctx.getImageData(0, 0, bitmap.width, bitmap.height).data) };
      }, png.toString('base64'));
      expect(jsQR(Uint8ClampedArray.from(image.data), image.width, image.height)?.data, dark ? 'dark theme' : 'light theme').toBe(url);
    }
    await tab.page.evaluate(() => document.documentElement.classList.remove('dark'));
    await tab.shoot('user-provisioning');
    // the copy button puts the URL on the clipboard (loopback is a secure context: the Clipboard API)
    await tab.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: `http://127.0.0.1:${app.httpPort}` });
    await tab.page.getByRole('button', { name: 'Copy URL' }).click();
    await tab.page.getByText('URL copied').waitFor();
    expect(await tab.page.evaluate(() => navigator.clipboard.readText())).toBe(url);
    // and it is alice's provisioning: behind digest with her credentials, her account in it
    const first = await fetch(url, { headers: { Accept: 'application/json' } });
    expect(first.status).toBe(401);
    const challenge = first.headers.get('www-authenticate')!.split(/,\s*(?=Digest )/)[0];
    const res = await fetch(url, { headers: { Accept: 'application/json', Authorization: authorize(challenge, { method: 'GET', uri: '/provisioning/alice', username: 'alice', password: 'alice-pw' }) } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ aor: `sip:alice@${app.domain}`, xcapRoot: `http://127.0.0.1:${app.httpPort}/xcap-root` });
  });

  it('offers to reload a group that changed over XCAP while it was open, and shows that change', async () => {
    await tab.page.getByRole('row').filter({ hasText: 'The Team' }).getByRole('button', { name: 'Edit' }).click();
    const dialog = tab.page.getByRole('dialog', { name: 'Group team' });
    await dialog.getByLabel('Display name').waitFor();
    // meanwhile alice's client renames the group over XCAP
    const put = await xcapRequest(app, 'PUT', `org.openmobilealliance.groups/users/sip:alice@${app.domain}/index/~~/group/list-service%5b@uri=%22sip:team@${app.domain}%22%5d/display-name`, {
      body: '<display-name>Renamed over XCAP</display-name>', headers: { 'Content-Type': 'application/xcap-el+xml' },
    });
    expect(put.status).toBe(200);
    await dialog.getByLabel('Display name').fill('Renamed in the console');
    tab.expectError(/status of 412 .*\/api\/v1\/users\/alice\/groups\/team/);
    await dialog.getByRole('button', { name: 'Save' }).click();
    const conflict = tab.page.getByRole('dialog', { name: 'Changed elsewhere' });
    await conflict.waitFor();
    await tab.shoot('user-group-conflict');
    await conflict.getByRole('button', { name: 'Reload' }).click();
    await tab.page.getByRole('cell', { name: 'Renamed over XCAP' }).waitFor();
    // nothing of the stale save was applied
    const xml = await (await xcapRequest(app, 'GET', `org.openmobilealliance.groups/users/sip:alice@${app.domain}/index`)).text();
    expect(xml).not.toContain('Renamed in the console');
  });

  it('blocks a sender for alice, and the next MESSAGE from that sender is refused on the wire', async () => {
    expect(statusLine(await sendMessage(app, { name: 'dora', password: 'dora-pw' }, 'alice', 'before the block'))).toMatch(/^SIP\/2\.0 202/);
    await tab.page.getByRole('tab', { name: 'Blocked senders' }).click();
    await tab.page.getByRole('textbox', { name: 'Sender' }).fill(`sip:dora@${app.domain}`);
    await tab.page.getByRole('button', { name: 'Block', exact: true }).click();
    await tab.page.getByRole('cell', { name: `sip:dora@${app.domain}` }).waitFor();
    await tab.shoot('user-blocked');
    expect(statusLine(await sendMessage(app, { name: 'dora', password: 'dora-pw' }, 'alice', 'after the block'))).toBe('SIP/2.0 403 Forbidden');
  });

  it("edits alice's service profile: IM off and a size limit hold on the wire, and back to the defaults (Y1, Y3)", async () => {
    // alice sends (bob's password was reset above, and dora is on alice's block list)
    const alice = { name: 'alice', password: 'alice-pw' };
    await tab.page.getByRole('tab', { name: 'Service profile' }).click();
    await tab.page.getByTestId('profile-form').waitFor();
    await tab.page.getByRole('textbox', { name: 'Largest message (bytes)' }).fill('10');
    await tab.page.getByTestId('profile-save').click();
    await eventually(async () => ((await (await api.request('GET', '/users/alice/profile')).json()) as { maxMessageBytes: number }).maxMessageBytes === 10, 5000);
    await tab.shoot('user-profile');
    expect(statusLine(await sendMessage(app, alice, 'dora', 'more than ten bytes'))).toBe('SIP/2.0 413 Message too large for your account (at most 10 bytes)');
    await tab.page.getByTestId('profile-im').click();
    await tab.page.getByRole('option', { name: 'Off', exact: true }).click();
    await tab.page.getByTestId('profile-save').click();
    await eventually(async () => ((await (await api.request('GET', '/users/alice/profile')).json()) as { im: boolean }).im === false, 5000);
    expect(statusLine(await sendMessage(app, alice, 'dora', 'hi'))).toBe('SIP/2.0 403 Instant messaging is not allowed for your account');
    // back to the defaults: the option naming the default, and an empty size
    await tab.page.getByTestId('profile-im').click();
    await tab.page.getByRole('option', { name: 'Default (On)' }).click();
    await tab.page.getByRole('textbox', { name: 'Largest message (bytes)' }).fill('');
    await tab.page.getByTestId('profile-save').click();
    await eventually(async () => {
      const p = (await (await api.request('GET', '/users/alice/profile')).json()) as { overrides: Record<string, unknown> };
      return Object.values(p.overrides).every((v) => v === null);
    }, 5000);
  });

  it("shows alice's stored messages (count, never bodies) and purges them after a confirmation", async () => {
    // the message dora sent before the block waits for alice, who has no device
    await tab.page.getByRole('menuitem', { name: 'Stored messages' }).click();
    const row = tab.page.getByRole('row').filter({ has: tab.page.getByRole('link', { name: 'alice' }) });
    await row.waitFor();
    expect(await row.getByRole('cell').nth(1).textContent()).toBe('1');
    expect(await tab.page.content()).not.toContain('before the block');
    await tab.shoot('stored');
    await row.getByRole('button', { name: 'Purge the stored messages of alice' }).click();
    await tab.page.getByRole('dialog').getByRole('button', { name: 'Purge' }).click();
    await tab.page.getByText('1 messages of alice purged.').waitFor();
    await eventually(async () => (await row.count()) === 0, 5000);
    const list = (await (await api.request('GET', '/deferred')).json()) as { items: { user: string }[] };
    expect(list.items.map((i) => i.user)).not.toContain('alice');
  });

  it('shows live status: registrations, stored messages, XCAP operations, uptime, memory and the messages chart', async () => {
    await tab.page.getByRole('menuitem', { name: 'Live status' }).click();
    await tab.page.getByTestId('figure-uptime').waitFor();
    expect(await tab.page.getByTestId('figure-xcap').textContent()).toMatch(/\d+ reads, \d+ writes/);
    expect(await tab.page.getByTestId('figure-memory').textContent()).toMatch(/MiB/);
    await tab.page.getByRole('img', { name: 'Messages per minute, last hour' }).locator('canvas').waitFor();
    await tab.shoot('status');
    // the real switch too: ECharts redraws in its dark theme
    await tab.page.getByTestId('theme-switch').click();
    expect(await tab.page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(true);
    await tab.page.getByTestId('theme-switch').click();
  });

  it('lists every mutation and failed login in the audit log, filters it, and downloads it as CSV', async () => {
    // a failed console login, from outside the browser
    expect((await fetch(apiUrl(app, '/session'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'root', password: 'wrong' }) })).status).toBe(401);
    await tab.page.getByRole('menuitem', { name: 'Audit log' }).click();
    const table = tab.page.getByTestId('audit-table');
    await table.getByRole('cell', { name: 'user.create' }).first().waitFor();
    for (const action of ['user.disable', 'user.import', 'group.create', 'blocked.update', 'deferred.purge']) await table.getByRole('cell', { name: action, exact: true }).first().waitFor();
    await tab.shoot('audit');
    await tab.page.getByLabel('Action').fill('user.create');
    await tab.page.getByRole('button', { name: 'Filter' }).click();
    await eventually(async () => (await table.getByRole('cell', { name: 'deferred.purge' }).count()) === 0, 5000);
    const [download] = await Promise.all([tab.page.waitForEvent('download'), tab.page.getByTestId('audit-csv').click()]);
    const rows = parse(readFileSync((await download.path())!, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.action === 'user.create')).toBe(true);
    expect(rows.map((r) => r.target)).toContain('carol');
    await tab.page.getByLabel('Action').fill('session.login_failed');
    await tab.page.getByRole('button', { name: 'Filter' }).click();
    const failed = table.getByRole('row').filter({ has: tab.page.getByRole('cell', { name: 'session.login_failed' }) });
    await failed.first().waitFor();
    expect(await failed.first().getByRole('cell').nth(2).textContent()).toBe('127.0.0.1');
  });

  it("deletes a user after a confirmation, and says what went with them", async () => {
    await tab.page.goto(tab.url('users/frank'));
    await tab.page.getByRole('heading', { name: 'User frank' }).waitFor();
    await tab.page.getByRole('button', { name: 'Delete user' }).click();
    await tab.page.getByRole('dialog').getByRole('button', { name: 'Delete user' }).click();
    await tab.page.getByText('frank deleted, with 0 documents and 0 stored messages.').waitFor();
    await tab.page.getByRole('heading', { name: 'Users', exact: true }).waitFor();
    expect((await api.request('GET', '/users/frank')).status).toBe(404);
  });

  it('shows a page it does not know as such', async () => {
    await tab.page.goto(tab.url('no/such/page'));
    await tab.page.getByText('No such page').waitFor();
    await tab.shoot('not-found');
  });
});

describe('the end of a session', () => {
  it('logs out, and every page then asks to sign in again', async () => {
    await tab.page.goto(tab.url('users'));
    await tab.page.getByRole('button', { name: 'Log out' }).click();
    await tab.page.getByRole('heading', { name: 'Sign in to the Parley console' }).waitFor();
    await tab.page.goto(tab.url('stored'));
    await tab.page.getByRole('heading', { name: 'Sign in to the Parley console' }).waitFor();
    expect(tab.page.url()).toBe(tab.url('login?next=/stored'));
  });

  it('sends the admin to the sign-in page when the session ends elsewhere (disabled account), and back after it', async () => {
    await tab.login('root', 'root-password-1');
    await tab.page.getByRole('menuitem', { name: 'Stored messages' }).click();
    await tab.page.getByRole('heading', { name: 'Stored messages' }).waitFor();
    // the session is ended outside the console: the next call gets 401
    await app.cli('admin', 'disable', 'root');
    tab.expectError(/status of 401 .*\/api\/v1\/deferred/);
    await tab.page.getByRole('button', { name: 'Reload' }).click();
    await tab.page.getByRole('heading', { name: 'Sign in to the Parley console' }).waitFor();
    expect(tab.page.url()).toBe(tab.url('login?next=/stored'));
    await app.cli('admin', 'enable', 'root');
    await tab.page.getByLabel('Account name').fill('root');
    await tab.page.getByLabel('Password', { exact: true }).fill('root-password-1');
    await tab.page.getByRole('button', { name: 'Sign in' }).click();
    await tab.page.getByRole('heading', { name: 'Stored messages' }).waitFor();
  });
});

describe('a support account in the console', () => {
  let support: ConsoleTab;
  beforeAll(async () => {
    support = await openConsole(browser, app);
  });
  afterAll(async () => {
    await support?.close();
  });
  afterEach(() => {
    expect(support.takeErrors()).toEqual({ logged: [], expectedButMissing: [] });
  });

  it('reads users without the admin controls, and is refused the admin pages', async () => {
    await support.login('helpdesk', 'helpdesk-password-1');
    expect(await support.page.getByRole('button', { name: 'New user' }).count()).toBe(0);
    expect(await support.page.getByRole('menuitem', { name: 'Audit log' }).count()).toBe(0);
    expect(await support.page.getByRole('menuitem', { name: 'Import users' }).count()).toBe(0);
    await support.page.goto(support.url('audit'));
    await support.page.getByTestId('forbidden').waitFor();
    await support.shoot('forbidden');
    await support.page.goto(support.url('import'));
    await support.page.getByTestId('forbidden').waitFor();
    // and the API refuses it too, whatever the page shows
    const res = await support.page.request.get(apiUrl(app, '/audit'));
    expect(res.status()).toBe(403);
    await support.page.goto(support.url('users/alice'));
    await support.page.getByRole('heading', { name: 'User alice' }).waitFor();
    expect(await support.page.getByRole('switch', { name: 'User enabled' }).count()).toBe(0);
    expect(await support.page.getByRole('button', { name: 'Reset password' }).count()).toBe(0);
    // the service profile shows, without a way to change it
    await support.page.getByRole('tab', { name: 'Service profile' }).click();
    await support.page.getByTestId('profile-form').waitFor();
    expect(await support.page.getByTestId('profile-save').count()).toBe(0);
  });
});

describe("the desktop shell's first-run screen", () => {
  let shellTab: ConsoleTab;
  beforeAll(async () => {
    shellTab = await openConsole(browser, app);
  });
  afterAll(async () => {
    await shellTab?.close();
  });

  it('asks for the appliance address, tells why one is refused, and hands a good one to the shell', async () => {
    // the preload's window.parley, played by the test: the answers are the shell's URL check
    await shellTab.page.addInitScript(() => {
      const w = window as unknown as { parley: unknown; handedOver: string[] };
      w.handedOver = [];
      w.parley = {
        getApplianceUrl: async () => null,
        setApplianceUrl: async (url: string) => {
          w.handedOver.push(url);
          return /^ftp:/.test(url) ? { ok: false, reason: 'only http and https, not ftp' } : { ok: true };
        },
      };
    });
    // the shell as electron-builder packages it: built here, strings from the console's locale file
    execFileSync(process.execPath, [path.join(ROOT, 'console/main/build-shell.mjs')]);
    await shellTab.page.goto(pathToFileURL(path.join(ROOT, 'console/dist-shell/first-run/index.html')).href);
    await shellTab.page.getByRole('heading', { name: 'Connect to your Parley appliance' }).waitFor();
    // the address field has the focus: typed into straight away, Enter submits
    await shellTab.page.keyboard.type('ftp://parley.example.test');
    await shellTab.page.keyboard.press('Enter');
    await shellTab.page.getByRole('alert').getByText('That address cannot be used: only http and https, not ftp.').waitFor();
    await shellTab.shoot('desktop-first-run');
    await shellTab.page.getByLabel('Appliance address').fill('http://parley.example.test:8080');
    await shellTab.page.getByRole('button', { name: 'Connect' }).click();
    await eventually(() => shellTab.page.evaluate(() => (window as unknown as { handedOver: string[] }).handedOver.length === 2));
    expect(await shellTab.page.evaluate(() => (window as unknown as { handedOver: string[] }).handedOver)).toEqual(['ftp://parley.example.test', 'http://parley.example.test:8080']);
    expect(shellTab.takeErrors()).toEqual({ logged: [], expectedButMissing: [] });
  });
});
