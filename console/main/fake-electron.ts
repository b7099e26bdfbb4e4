import { vi } from 'vitest';

/**
 * A stand-in for the `electron` module (its binary cannot be downloaded here): records what the
 * shell asks of it, and lets a test play the events Electron would send.
 */
export interface FakeWindow {
  options: { webPreferences: Record<string, unknown> };
  loaded: string[];
  webContents: { on: ReturnType<typeof vi.fn>; setWindowOpenHandler: ReturnType<typeof vi.fn> };
  loadURL(url: string): Promise<void>;
}

export function makeFakeElectron(userData: string) {
  const calls: string[] = [];
  const handlers = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();
  const windows: FakeWindow[] = [];
  let ready: () => void = () => undefined;
  const whenReady = new Promise<void>((r) => (ready = r));
  const exposed = new Map<string, Record<string, (...a: unknown[]) => unknown>>();
  const invoked: unknown[][] = [];

  class BrowserWindow implements FakeWindow {
    loaded: string[] = [];
    webContents = { on: vi.fn(), setWindowOpenHandler: vi.fn() };
    constructor(readonly options: { webPreferences: Record<string, unknown> }) {
      calls.push('new BrowserWindow');
      windows.push(this);
    }
    async loadURL(url: string): Promise<void> {
      this.loaded.push(url);
    }
  }

  const electron = {
    app: {
      enableSandbox: vi.fn(() => calls.push('enableSandbox')),
      getPath: vi.fn(() => userData),
      getVersion: vi.fn(() => '0.1.0'),
      whenReady: vi.fn(() => whenReady),
      on: vi.fn(),
      quit: vi.fn(),
    },
    BrowserWindow,
    ipcMain: { handle: vi.fn((channel: string, h: (event: unknown, ...args: unknown[]) => unknown) => handlers.set(channel, h)) },
    session: { defaultSession: { setPermissionRequestHandler: vi.fn() } },
    shell: { openExternal: vi.fn(async () => undefined) },
    contextBridge: { exposeInMainWorld: vi.fn((key: string, api: Record<string, (...a: unknown[]) => unknown>) => exposed.set(key, api)) },
    ipcRenderer: { invoke: vi.fn(async (...a: unknown[]) => invoked.push(a)) },
  };
  return {
    electron,
    calls,
    handlers,
    windows,
    exposed,
    invoked,
    /** Electron's 'ready': the shell makes its window */
    async ready(): Promise<void> {
      ready();
      await whenReady;
      await new Promise((r) => setImmediate(r));
    },
    /** an IPC call as a page at `frameUrl` would make it */
    invoke(channel: string, frameUrl: string, ...args: unknown[]): unknown {
      const h = handlers.get(channel);
      if (!h) throw new Error(`no handler for ${channel}`);
      return h({ senderFrame: { url: frameUrl } }, ...args);
    },
  };
}
