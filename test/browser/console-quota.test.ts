import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { addConsoleAccount, apiUrl, login, type AdminSession } from '../support/admin-client.js';
import { launchChromium } from '../support/browser.js';
import { openConsole, type ConsoleTab } from '../support/console-page.js';
import { sendMessage } from '../support/sip-user.js';

// The console's storage quota page (H3, issue 11) in Debian's Chromium against the real appliance:
// usage made on the wire (messages deferred for offline users), read and changed on the page,
// checked in the API. Small quotas, so a few messages are "near".
const CONFIG = { quota: { defaultBytes: 1000, warnAt: [50, 80] } };

let app: RunningAppliance;
let browser: Browser;
let tab: ConsoleTab;
let api: AdminSession;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' } });
  await addConsoleAccount(app, 'root', 'root-password-1');
  await addConsoleAccount(app, 'helpdesk', 'helpdesk-password-1', 'support');
  api = await login(app, 'root', 'root-password-1');
  browser = await launchChromium();
  tab = await openConsole(browser, app);
  // bob and carol have no device: what alice sends them waits in deferred storage, on their quota
  expect(await sendMessage(app, { name: 'alice', password: 'alice-pw' }, 'bob', 'for bob '.padEnd(600, '.'))).toMatch(/^SIP\/2\.0 202/);
  expect(await sendMessage(app, { name: 'alice', password: 'alice-pw' }, 'carol', 'for carol '.padEnd(300, '.'))).toMatch(/^SIP\/2\.0 202/);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await app?.cleanup();
});

afterEach(() => {
  expect(tab.takeErrors()).toEqual({ logged: [], expectedButMissing: [] });
});

/** The user names in the table's rows, top to bottom. */
async function usersShown(t: ConsoleTab): Promise<string[]> {
  return t.page.locator('.el-table__body').getByRole('link').allTextContents();
}

describe('the storage quota page', () => {
  it('shows usage per user largest first, who is near, sorts by bytes, and the admin sets and resets a quota', async () => {
    await tab.login('root', 'root-password-1');
    await tab.page.getByRole('menuitem', { name: 'Storage quotas' }).click();
    await tab.page.getByRole('heading', { name: 'Storage quotas' }).waitFor();
    await tab.page.getByTestId('quota-default').getByText('Default quota 1000 B').waitFor();
    expect(await tab.page.getByTestId('quota-default').textContent()).toContain('warned at 50%, 80%');
    await eventually(async () => (await usersShown(tab)).length === 3, 20_000);
    expect(await usersShown(tab)).toEqual(['bob', 'carol', 'alice']);
    expect(await tab.page.getByTestId('state-bob').textContent()).toBe('Near');
    expect(await tab.page.getByTestId('state-carol').textContent()).toBe('OK');
    const bobRow = tab.page.getByRole('row').filter({ has: tab.page.getByRole('link', { name: 'bob' }) });
    expect(await bobRow.getByRole('cell').nth(1).textContent()).toBe('600 B');
    await tab.shoot('quota');
    // by bytes, smallest first
    await tab.page.locator('.el-table__header th', { hasText: /^Used$/ }).locator('.sort-caret.ascending').click();
    await eventually(async () => (await usersShown(tab))[0] === 'alice', 20_000);
    expect(await usersShown(tab)).toEqual(['alice', 'carol', 'bob']);
    // carol's own quota: 0 MiB, so she is over
    await tab.page.getByRole('button', { name: 'Edit the quota of carol' }).click();
    const dialog = tab.page.getByRole('dialog', { name: 'Quota of carol' });
    await dialog.getByRole('spinbutton', { name: 'Quota in MiB' }).fill('0');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await tab.page.getByText('Quota of carol set to 0 B.').waitFor();
    await eventually(async () => (await tab.page.getByTestId('state-carol').textContent()) === 'Over', 20_000);
    expect(await (await api.request('GET', '/quotas/carol')).json()).toMatchObject({ quotaBytes: 0, override: true, state: 'over' });
    await tab.page.locator('.el-radio-button', { hasText: 'Near or over' }).click();
    await eventually(async () => (await usersShown(tab)).length === 2, 20_000);
    expect((await usersShown(tab)).sort()).toEqual(['bob', 'carol']);
    await tab.shoot('quota-near-or-over');
    // back to the default
    await tab.page.getByRole('button', { name: 'Edit the quota of carol' }).click();
    await tab.page.getByRole('dialog', { name: 'Quota of carol' }).getByRole('button', { name: 'Use the default' }).click();
    await tab.page.getByText('carol uses the default quota again.').waitFor();
    expect(await (await api.request('GET', '/quotas/carol')).json()).toMatchObject({ quotaBytes: 1000, override: false });
    const audit = (await (await api.request('GET', '/audit?action=quota.set')).json()) as { items: { actor: string; target: string; after: unknown }[] };
    expect(audit.items.map((i) => [i.actor, i.target, i.after])).toEqual([
      ['root', 'carol', { bytes: null }],
      ['root', 'carol', { bytes: 0 }],
    ]);
  });
});

describe('the quota page for support', () => {
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

  it('reads usage without the edit controls, and the API refuses support a change', async () => {
    await support.login('helpdesk', 'helpdesk-password-1');
    await support.page.getByRole('menuitem', { name: 'Storage quotas' }).click();
    await eventually(async () => (await usersShown(support)).length === 3, 20_000);
    expect(await support.page.getByRole('button', { name: 'Edit the quota of bob' }).count()).toBe(0);
    const res = await support.page.request.put(apiUrl(app, '/quotas/bob'), { data: { bytes: 1 } });
    expect(res.status()).toBe(403);
  });
});
