import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { addConsoleAccount, login } from '../support/admin-client.js';
import { launchChromium } from '../support/browser.js';
import { openConsole, type ConsoleTab } from '../support/console-page.js';
import { sendMessage } from '../support/sip-user.js';

// The console's usage export (C5) in Chromium: both formats downloaded and checked against the
// records as `parley usage export` gives them, and each download in the audit log.
let app: RunningAppliance;
let browser: Browser;
let tab: ConsoleTab;
const USERS = { alice: 'alice-pw', bob: 'bob-pw' };

beforeAll(async () => {
  app = await startAppliance({ users: USERS, config: { usage: { flushMs: 100 } } });
  await addConsoleAccount(app, 'root', 'root-password-1');
  await addConsoleAccount(app, 'helpdesk', 'helpdesk-password-1', 'support');
  browser = await launchChromium();
  tab = await openConsole(browser, app);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.cleanup();
});

afterEach(() => {
  expect(tab.takeErrors()).toEqual({ logged: [], expectedButMissing: [] });
});

const day = (offset: number): string => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

describe('usage records in the console', () => {
  it('downloads the usage records as CSV and as JSON Lines, the same as the CLI gives, and audit-logs each download', async () => {
    // two messages for users with no device: each a pager record (stored, 202) and a deferred one
    expect(await sendMessage(app, { name: 'alice', password: USERS.alice }, 'bob', 'hi bob')).toMatch(/^SIP\/2\.0 202/);
    expect(await sendMessage(app, { name: 'bob', password: USERS.bob }, 'alice', 'hi alice, a "quoted", comma')).toMatch(/^SIP\/2\.0 202/);
    // the console's default range is the last 30 UTC days, today included: the CLI's is the same
    const range = ['--from', day(-29), '--to', day(1)];
    const cliJson = await eventually(async () => {
      const out = await app.cli('usage', 'export', ...range, '--format', 'json');
      return out.trimEnd().split('\n').length === 4 && out;
    });
    const cliCsv = await app.cli('usage', 'export', ...range, '--format', 'csv');

    await tab.login('root', 'root-password-1');
    await tab.page.getByRole('menuitem', { name: 'Usage records' }).click();
    await tab.page.getByRole('heading', { name: 'Usage records' }).waitFor();
    await tab.shoot('usage');
    const [csv] = await Promise.all([tab.page.waitForEvent('download'), tab.page.getByTestId('usage-csv').click()]);
    expect(csv.suggestedFilename()).toBe(`parley-usage-${day(-29)}_${day(1)}.csv`);
    const csvText = readFileSync((await csv.path())!, 'utf8');
    expect(csvText).toBe(cliCsv);
    expect(csvText.split('\r\n')[0]).toBe('id,at,kind,user,peer,service,outcome,status,reason,bytes,messages,duration_ms');
    const [json] = await Promise.all([tab.page.waitForEvent('download'), tab.page.getByTestId('usage-json').click()]);
    expect(json.suggestedFilename()).toBe(`parley-usage-${day(-29)}_${day(1)}.jsonl`);
    const jsonText = readFileSync((await json.path())!, 'utf8');
    expect(jsonText).toBe(cliJson);
    const records = jsonText.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => [r.kind, r.user, r.peer, r.outcome, r.status])).toEqual(
      expect.arrayContaining([
        ['pager', 'sip:alice@parley.test', 'sip:bob@parley.test', 'stored', 202],
        ['deferred', 'sip:bob@parley.test', 'sip:alice@parley.test', 'stored', null],
        ['pager', 'sip:bob@parley.test', 'sip:alice@parley.test', 'stored', 202],
        ['deferred', 'sip:alice@parley.test', 'sip:bob@parley.test', 'stored', null],
      ]),
    );

    // one user's records only: the user field narrows the links
    await tab.page.getByLabel('User').fill('alice');
    const [mine] = await Promise.all([tab.page.waitForEvent('download'), tab.page.getByTestId('usage-json').click()]);
    expect(readFileSync((await mine.path())!, 'utf8')).toBe(await app.cli('usage', 'export', ...range, '--format', 'json', '--user', 'alice'));

    // each download is in the audit log, with the range and format
    const admin = await login(app, 'root', 'root-password-1');
    const audit = (await (await admin.request('GET', '/audit?action=usage.export')).json()) as { items: { actor: string; target: string | null; after: Record<string, unknown> }[] };
    expect(audit.items.map((i) => [i.actor, i.target, i.after.format])).toEqual([
      ['root', 'sip:alice@parley.test', 'json'],
      ['root', null, 'json'],
      ['root', null, 'csv'],
    ]);
    expect(audit.items[2].after).toEqual({ from: `${day(-29)}T00:00:00.000Z`, to: `${day(1)}T00:00:00.000Z`, format: 'csv', user: null });
  }, 120_000); // four CLI runs and a browser on a shared machine

  it('lets a support account export too, and names the field at fault', async () => {
    const support = await login(app, 'helpdesk', 'helpdesk-password-1');
    const ok = await support.request('GET', `/usage/export?from=${day(-1)}&to=${day(1)}&format=json`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^application\/jsonl/);
    expect(ok.headers.get('content-disposition')).toMatch(/attachment; filename="parley-usage-.*\.jsonl"/);
    expect((await ok.text()).trimEnd().split('\n')).toHaveLength(4);
    const bad = await support.request('GET', `/usage/export?from=2026-02-30&to=${day(1)}`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { code: 'invalid_value', message: 'from "2026-02-30": no such date', field: 'from' } });
    const unknown = await support.request('GET', `/usage/export?from=${day(-1)}&to=${day(1)}&format=xml`);
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { field: string } }).error.field).toBe('format');
  });
});
