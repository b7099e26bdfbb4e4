import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { makeFakeElectron } from './fake-electron.js';
import { CHANNELS } from './channels.js';

let fake: ReturnType<typeof makeFakeElectron>;
let userData: string;

/** each namespace of the mocked module forwards to the current fake (vi.mock's factory runs once) */
const current = (key: keyof ReturnType<typeof makeFakeElectron>['electron']) => new Proxy({}, { get: (_t, k) => (fake.electron[key] as Record<string | symbol, unknown>)[k] });
vi.mock('electron', () => ({
  app: current('app'),
  ipcMain: current('ipcMain'),
  session: current('session'),
  shell: current('shell'),
  contextBridge: current('contextBridge'),
  ipcRenderer: current('ipcRenderer'),
  BrowserWindow: function BrowserWindow(options: never) {
    return new fake.electron.BrowserWindow(options);
  },
}));

/** A fresh shell process: the module loaded anew against the current fake. */
async function start(argv: string[] = [], env: Record<string, string> = {}) {
  vi.resetModules();
  const mod = await import('./shell.js');
  mod.startShell(argv, env);
  await fake.ready();
  return { firstRun: mod.FIRST_RUN_PAGE, win: fake.windows[0] };
}

beforeEach(() => {
  userData = mkdtempSync(path.join(os.tmpdir(), 'parley-shell-'));
  fake = makeFakeElectron(userData);
});
afterEach(() => rmSync(userData, { recursive: true, force: true }));

describe('the Electron shell', () => {
  it('sandboxes every renderer before any window exists, with context isolation, no Node and the preload', async () => {
    const { win } = await start();
    expect(fake.calls.indexOf('enableSandbox')).toBeLessThan(fake.calls.indexOf('new BrowserWindow'));
    expect(win.options.webPreferences).toMatchObject({ sandbox: true, contextIsolation: true, nodeIntegration: false, webviewTag: false });
    expect(String(win.options.webPreferences.preload)).toMatch(/preload\.cjs$/);
    // the navigation guard is on the window's contents
    expect(win.webContents.on.mock.calls.map((c) => c[0])).toEqual(['will-navigate', 'will-redirect', 'will-attach-webview']);
    expect(win.webContents.setWindowOpenHandler).toHaveBeenCalledOnce();
    // no permission is ever granted to a page
    const deny = fake.electron.session.defaultSession.setPermissionRequestHandler.mock.calls[0][0] as (w: unknown, p: string, cb: (ok: boolean) => void) => void;
    const answer = vi.fn();
    deny(null, 'media', answer);
    expect(answer).toHaveBeenCalledWith(false);
  });

  it('answers exactly the allow-listed channels', async () => {
    await start();
    expect([...fake.handlers.keys()].sort()).toEqual(Object.values(CHANNELS).sort());
  });

  it('shows the first-run screen, remembers a good address and opens its console; a bad one is refused with the reason', async () => {
    const { firstRun, win } = await start();
    expect(win.loaded).toEqual([firstRun]);
    expect(await fake.invoke(CHANNELS.getApplianceUrl, firstRun)).toBeNull();
    expect(await fake.invoke(CHANNELS.setApplianceUrl, firstRun, 'file:///etc/passwd')).toEqual({ ok: false, reason: 'only http and https, not file' });
    expect(win.loaded).toEqual([firstRun]);
    expect(await fake.invoke(CHANNELS.setApplianceUrl, firstRun, 'parley.example.test:8080')).toEqual({ ok: true });
    expect(win.loaded.at(-1)).toBe('http://parley.example.test:8080/console/');
    const file = path.join(userData, 'parley-console.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ applianceUrl: 'http://parley.example.test:8080' });
    expect(statSync(file).mode & 0o077).toBe(0);
  });

  it('opens the remembered appliance at the next start, and the first-run screen again once it is forgotten', async () => {
    const first = await start();
    await fake.invoke(CHANNELS.setApplianceUrl, first.firstRun, 'https://parley.example.test');
    fake = makeFakeElectron(userData);
    const second = await start();
    expect(second.win.loaded).toEqual(['https://parley.example.test/console/']);
    expect(await fake.invoke(CHANNELS.getApplianceUrl, 'https://parley.example.test/console/users')).toBe('https://parley.example.test');
    await fake.invoke(CHANNELS.forgetApplianceUrl, 'https://parley.example.test/console/users');
    expect(second.win.loaded.at(-1)).toBe(second.firstRun);
  });

  it('takes --appliance-url or PARLEY_APPLIANCE_URL over the file, and ignores a bad one', async () => {
    expect((await start(['--appliance-url=http://flag.example.test:8080'])).win.loaded).toEqual(['http://flag.example.test:8080/console/']);
    fake = makeFakeElectron(userData);
    expect((await start([], { PARLEY_APPLIANCE_URL: 'https://env.example.test' })).win.loaded).toEqual(['https://env.example.test/console/']);
    fake = makeFakeElectron(userData);
    const bad = await start(['--appliance-url=javascript:alert(1)']);
    expect(bad.win.loaded).toEqual([bad.firstRun]);
  });

  it('refuses channel calls from pages other than the first-run screen and the appliance', async () => {
    const { firstRun } = await start();
    await fake.invoke(CHANNELS.setApplianceUrl, firstRun, 'http://parley.example.test:8080');
    expect(() => fake.invoke(CHANNELS.setApplianceUrl, 'https://evil.test/', 'https://evil.test')).toThrow('not allowed from this page');
    expect(() => fake.invoke(CHANNELS.getApplianceUrl, 'file:///tmp/other.html')).toThrow('not allowed from this page');
    expect(await fake.invoke(CHANNELS.shellVersion, 'http://parley.example.test:8080/console/')).toBe('0.1.0');
  });
});

describe('the preload', () => {
  it('exposes one function per allow-listed channel as window.parley, and each invokes only its channel', async () => {
    vi.resetModules();
    await import('./preload.js');
    const api = fake.exposed.get('parley')!;
    expect(Object.keys(api).sort()).toEqual(Object.keys(CHANNELS).sort());
    await api.getApplianceUrl();
    await api.setApplianceUrl('http://parley.example.test:8080');
    await api.forgetApplianceUrl();
    await api.shellVersion();
    expect(fake.invoked).toEqual([[CHANNELS.getApplianceUrl], [CHANNELS.setApplianceUrl, 'http://parley.example.test:8080'], [CHANNELS.forgetApplianceUrl], [CHANNELS.shellVersion]]);
  });
});
