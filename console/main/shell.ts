import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { app, BrowserWindow, ipcMain, session, shell, type IpcMainInvokeEvent } from 'electron';
import { CHANNELS, isAllowedChannel } from './channels.js';
import { parseApplianceUrl, sameOrigin } from './appliance-url.js';
import { installNavigationGuard } from './navigation-guard.js';
import { loadShellConfig, saveShellConfig } from './shell-config.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** the first-run screen, packaged with the shell (built into dist-shell/first-run/) */
export const FIRST_RUN_PAGE = pathToFileURL(path.join(here, 'first-run', 'index.html')).href;
const PRELOAD = path.join(here, 'preload.cjs');

/**
 * The desktop console: one sandboxed window on the appliance's /console/, or on the first-run
 * screen until the admin has given the appliance's address. Everything the page may ask of the
 * shell goes through the allow-listed channels; everything else is the appliance's web console.
 */
export function startShell(argv: readonly string[] = process.argv, env: NodeJS.ProcessEnv = process.env): void {
  // every renderer sandboxed, whatever a window asks for (Electron security checklist)
  app.enableSandbox();
  const configFile = () => path.join(app.getPath('userData'), 'parley-console.json');
  let origin: string | null = null;
  let win: BrowserWindow | null = null;

  const show = (): void => {
    if (!win) return;
    void (origin === null ? win.loadURL(FIRST_RUN_PAGE) : win.loadURL(`${origin}/console/`));
  };

  /** Only the first-run page and the appliance's own pages may use the channels. */
  const senderAllowed = (event: IpcMainInvokeEvent): boolean => {
    const url = event.senderFrame?.url ?? '';
    return url === FIRST_RUN_PAGE || (origin !== null && sameOrigin(url, origin));
  };

  const handlers: Record<string, (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown> = {
    [CHANNELS.getApplianceUrl]: () => origin,
    [CHANNELS.setApplianceUrl]: (_e, url) => {
      const check = parseApplianceUrl(url);
      if (!check.ok) return { ok: false, reason: check.reason };
      origin = check.origin;
      saveShellConfig(configFile(), { applianceUrl: origin });
      show();
      return { ok: true };
    },
    [CHANNELS.forgetApplianceUrl]: () => {
      origin = null;
      saveShellConfig(configFile(), { applianceUrl: null });
      show();
    },
    [CHANNELS.shellVersion]: () => app.getVersion(),
  };
  for (const [channel, handler] of Object.entries(handlers)) {
    if (!isAllowedChannel(channel)) throw new Error(`channel ${channel} is not in the allow-list`);
    ipcMain.handle(channel, (event, ...args) => {
      if (!senderAllowed(event)) throw new Error('not allowed from this page');
      return handler(event, ...args);
    });
  }

  void app.whenReady().then(() => {
    origin = loadShellConfig({ file: configFile(), argv, env }).applianceUrl;
    // the console needs no camera, microphone, notifications or the like
    session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
    win = new BrowserWindow({
      width: 1280,
      height: 860,
      title: 'Parley console',
      webPreferences: { sandbox: true, contextIsolation: true, nodeIntegration: false, webviewTag: false, preload: PRELOAD },
    });
    installNavigationGuard(win.webContents, {
      origin: () => origin,
      openExternal: (url) => void shell.openExternal(url),
    });
    show();
  });
  app.on('window-all-closed', () => app.quit());
}
