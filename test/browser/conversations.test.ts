import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { parse } from 'csv-parse/sync';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { addConsoleAccount, login, type AdminSession } from '../support/admin-client.js';
import { launchChromium } from '../support/browser.js';
import { openConsole, type ConsoleTab } from '../support/console-page.js';
import { TRAFFIC, TRAFFIC_USERS, csvCellOf, oneSession, sendTraffic } from '../support/conversation-traffic.js';

// The console's stored-conversation pages (issue 11, A2/A3) in Debian's Chromium, as a support
// engineer uses them: search, read, export in every format, and a user's session history. Each
// downloaded file is parsed and checked against the stored messages as the admin API returns them.
let app: RunningAppliance;
let browser: Browser;
let tab: ConsoleTab;
let api: AdminSession;

interface StoredMessage { id: number; sender: string; recipients: string[]; contentType: string; text: string | null; storedAt: string }

beforeAll(async () => {
  app = await startAppliance({ users: TRAFFIC_USERS, config: { history: { storeAll: true } } });
  await addConsoleAccount(app, 'root', 'root-password-1');
  await addConsoleAccount(app, 'helpdesk', 'helpdesk-password-1', 'support');
  api = await login(app, 'root', 'root-password-1');
  for (const status of await sendTraffic(app)) expect(status).toMatch(/^SIP\/2\.0 20[02]/);
  expect((await oneSession(app)).invite).toMatch(/^SIP\/2\.0 200 OK/);
  browser = await launchChromium();
  tab = await openConsole(browser, app);
  await tab.login('helpdesk', 'helpdesk-password-1');
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await app?.cleanup();
});

afterEach(() => {
  expect(tab.takeErrors()).toEqual({ logged: [], expectedButMissing: [] });
});

/** The stored messages of a conversation, as the admin API reads them. */
async function stored(id: string): Promise<StoredMessage[]> {
  const res = await api.request('GET', `/conversations/${id}/messages`);
  return ((await res.json()) as { items: StoredMessage[] }).items;
}

let reading = '';

describe('stored conversations in the console (support)', () => {
  it('searches by participant and keyword, and lists the matches newest first with their counts', async () => {
    await tab.page.getByRole('menuitem', { name: 'Conversations' }).click();
    await tab.page.getByRole('heading', { name: 'Stored conversations' }).waitFor();
    await tab.page.getByLabel('Participant').fill('bob');
    await tab.page.getByLabel('Keyword').fill('zurich');
    await tab.page.getByRole('button', { name: 'Search' }).click();
    await tab.page.getByTestId('conversation-total').getByText('2 conversations match.').waitFor();
    const rows = tab.page.getByTestId('conversation-results').locator('tbody tr');
    expect(await rows.count()).toBe(2);
    const names = await rows.locator('a').allTextContents();
    expect(names.sort()).toEqual(['Chat with alice@parley.test', 'Chat with bob@parley.test']);
    await tab.shoot('conversations-search');
    // a keyword with FTS5 syntax in it is only words: no error, no match
    await tab.page.getByLabel('Keyword').fill('NEAR("zurich');
    await tab.page.getByRole('button', { name: 'Search' }).click();
    await tab.page.getByTestId('conversation-total').getByText('0 conversations match.').waitFor();
    await tab.page.getByLabel('Keyword').fill('zurich');
    await tab.page.getByRole('button', { name: 'Search' }).click();
    await tab.page.getByTestId('conversation-total').getByText('2 conversations match.').waitFor();
  });

  it('reads a conversation: every message with its sender and time, as stored', async () => {
    await tab.page.getByRole('link', { name: 'Chat with bob@parley.test' }).click();
    await tab.page.getByRole('heading', { name: 'Chat with bob@parley.test' }).waitFor();
    reading = tab.page.url().split('/').pop()!;
    const messages = await stored(reading);
    const items = tab.page.getByTestId('transcript').locator('li');
    await eventually(async () => (await items.count()) === 2);
    for (const [i, m] of messages.entries()) {
      const item = items.nth(i);
      expect(await item.locator('.sender').textContent()).toBe(m.sender);
      expect(await item.locator('time').getAttribute('datetime')).toBe(m.storedAt);
      expect(await item.locator('.text').textContent()).toBe(m.text);
    }
    expect(messages.map((m) => m.text)).toEqual([TRAFFIC[0].body, TRAFFIC[1].body]);
    await tab.shoot('conversation-reader');
  });

  it('exports JSON, CSV and HTML with progress, and each downloaded file holds the stored messages', async () => {
    const messages = await stored(reading);
    const files: Record<string, { name: string; text: string }> = {};
    for (const format of ['json', 'csv', 'html'] as const) {
      await tab.page.getByTestId(`export-${format}`).click();
      const link = tab.page.getByTestId(`download-${format}`);
      await link.waitFor();
      await tab.page.getByTestId(`export-job-${format}`).getByText('2 of 2 messages').waitFor();
      const [download] = await Promise.all([tab.page.waitForEvent('download'), link.click()]);
      files[format] = { name: download.suggestedFilename(), text: readFileSync((await download.path())!, 'utf8') };
      expect(files[format].name).toMatch(new RegExp(`^conversation-${reading}-\\d{8}-\\d{6}\\.${format}$`));
    }
    await tab.shoot('conversation-exports');

    const doc = JSON.parse(files.json.text) as { messages: { id: number; sender: string; contentType: string; storedAt: string; bodyEncoding: string; body: string }[] };
    expect(doc.messages.map((m) => ({ id: m.id, sender: m.sender, contentType: m.contentType, storedAt: m.storedAt, text: Buffer.from(m.body, m.bodyEncoding === 'base64' ? 'base64' : 'utf8').toString() }))).toEqual(
      messages.map((m) => ({ id: m.id, sender: m.sender, contentType: m.contentType, storedAt: m.storedAt, text: m.text })),
    );

    expect(files.csv.text.charCodeAt(0)).toBe(0xfeff);
    const rows = parse(files.csv.text, { bom: true, columns: true }) as Record<string, string>[];
    // text cells a spreadsheet would read as formulas ("-Yes, noon …") come behind a single quote
    expect(rows.map((r) => ({ id: Number(r.id), sender: r.sender, contentType: r.contentType, storedAt: r.storedAt, text: r.text }))).toEqual(
      messages.map((m) => ({ id: m.id, sender: m.sender, contentType: m.contentType, storedAt: m.storedAt, text: csvCellOf(m.text!) })),
    );
    expect(rows[1].text).toBe("'-Yes, noon is fine");

    // the transcript, read by the browser itself: the texts as stored, markup shown and not run
    const transcript = await browser.newPage();
    try {
      await transcript.setContent(files.html.text);
      const shown = await transcript.locator('li').evaluateAll((lis) => lis.map((li) => ({ text: li.querySelector('.text')?.textContent, at: li.querySelector('time')?.getAttribute('datetime') })));
      // an HTML parser reads CRLF as LF (HTML §13.2.3.5); the JSON export keeps the bytes
      expect(shown).toEqual(messages.map((m) => ({ text: m.text!.replace(/\r\n/g, '\n'), at: m.storedAt })));
      expect(await transcript.locator('script').count()).toBe(0);
    } finally {
      await transcript.close();
    }

    // every export and every download is on the audit log, in the support engineer's name
    const audit = (await (await api.request('GET', '/audit?action=conversation.')).json()) as { items: { actor: string; action: string; target: string }[] };
    const exports = audit.items.filter((a) => a.target === reading && a.action.startsWith('conversation.export')).map((a) => `${a.actor} ${a.action}`).sort();
    expect(exports).toEqual([...Array<string>(3).fill('helpdesk conversation.export'), ...Array<string>(3).fill('helpdesk conversation.export.download')]);
  });

  it("shows a user's session history to support", async () => {
    await tab.page.goto(tab.url('users/erin'));
    await tab.page.getByRole('heading', { name: 'User erin' }).waitFor();
    await tab.page.getByRole('tab', { name: 'Session history' }).click();
    const row = tab.page.getByTestId('user-sessions').locator('tbody tr').first();
    await row.getByText('sip:dave@parley.test').waitFor();
    await expect(row.textContent()).resolves.toContain('bye-caller');
    await tab.shoot('user-sessions');
  });
});
