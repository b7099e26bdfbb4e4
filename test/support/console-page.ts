import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, ConsoleMessage, Page } from 'playwright-core';
import { ROOT, type RunningAppliance } from './appliance.js';

/** Where the browser tests leave a screenshot of every console page, light and dark (git-ignored; CI keeps it). */
export const SCREENSHOTS = path.join(ROOT, 'test-output', 'screenshots');

/** A console tab, with everything its page logged as an error. */
export interface ConsoleTab {
  page: Page;
  context: BrowserContext;
  /** console errors and uncaught exceptions, as "text (where)" */
  errors: string[];
  /** an error the current step causes on purpose (e.g. the 412 of a stale save), matched once */
  expectError(pattern: RegExp): void;
  /** the errors taken from `errors` and the expected ones that never came, for the test's end */
  takeErrors(): { logged: string[]; expectedButMissing: string[] };
  /** the console's URL for a page path, e.g. `users/alice` */
  url(pathBelowConsole?: string): string;
  /** a screenshot of the page as it stands, in the light and the dark theme */
  shoot(name: string): Promise<void>;
  /** signs in through the login form and waits for the users page */
  login(name: string, password: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The one console error a page may log without failing its test: the session probe when
 * nobody is logged in yet, which the API answers 401 by contract (the console then shows the
 * login form). Chromium logs every 4xx of a fetch as "Failed to load resource".
 */
function expected(msg: ConsoleMessage, app: RunningAppliance): boolean {
  return msg.text().includes('status of 401') && msg.location().url === `http://127.0.0.1:${app.httpPort}/api/v1/session`;
}

export async function openConsole(browser: Browser, app: RunningAppliance): Promise<ConsoleTab> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light', acceptDownloads: true });
  // a step that cannot happen fails within the test's own time, naming what it waited for
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const errors: string[] = [];
  const planned: RegExp[] = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || expected(msg, app)) return;
    const line = `${msg.text()} (${msg.location().url})`;
    const i = planned.findIndex((p) => p.test(line));
    if (i >= 0) planned.splice(i, 1);
    else errors.push(line);
  });
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
  const base = `http://127.0.0.1:${app.httpPort}/console/`;
  const tab: ConsoleTab = {
    page,
    context,
    errors,
    expectError: (pattern) => planned.push(pattern),
    takeErrors: () => ({ logged: errors.splice(0), expectedButMissing: planned.splice(0).map(String) }),
    url: (p = '') => base + p,
    async shoot(name) {
      // the theme is a class on <html> (Element Plus's dark variables); set it as the switch does
      for (const theme of ['light', 'dark'] as const) {
        await page.evaluate((dark) => document.documentElement.classList.toggle('dark', dark), theme === 'dark');
        // transitions finished, so the picture is the theme itself and not a blend of the two
        await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${theme}.png`), fullPage: true, animations: 'disabled' });
      }
      await page.evaluate(() => document.documentElement.classList.remove('dark'));
    },
    async login(name, password) {
      await page.goto(base);
      await page.getByLabel('Account name').fill(name);
      await page.getByLabel('Password', { exact: true }).fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Users', exact: true }).waitFor();
    },
    close: () => context.close(),
  };
  return tab;
}
