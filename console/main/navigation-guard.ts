import { sameOrigin } from './appliance-url.js';

/** The part of Electron's WebContents the guard uses (a fake in tests). */
export interface GuardedContents {
  on(event: 'will-navigate' | 'will-redirect', listener: (event: { preventDefault(): void }, url: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: { preventDefault(): void }) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' } | { action: 'allow' }): void;
}

export interface NavigationPolicy {
  /** the appliance's origin, or null while the first-run screen shows (then nothing may be navigated to) */
  origin(): string | null;
  /** hands a link the console opens in a new window to the system browser (http and https only) */
  openExternal(url: string): void;
}

/**
 * Whether the window may go to `url`: only pages of the appliance it was pointed at. The shell
 * itself loads the first-run screen and the console with loadURL, which is not a navigation
 * the page asks for, so it never passes through here.
 */
export function mayNavigate(url: string, origin: string | null): boolean {
  return origin !== null && sameOrigin(url, origin);
}

/**
 * Locks a window to the appliance's origin (Electron security checklist: "limit navigation",
 * "limit the creation of new windows", "do not use webviews"): navigations and redirects
 * elsewhere are cancelled, new windows are never opened in the app (an http(s) link goes to the
 * system browser), and webviews are refused.
 */
export function installNavigationGuard(contents: GuardedContents, policy: NavigationPolicy): void {
  const guard = (event: { preventDefault(): void }, url: string): void => {
    if (!mayNavigate(url, policy.origin())) event.preventDefault();
  };
  contents.on('will-navigate', guard);
  contents.on('will-redirect', guard);
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (/^https?:\/\//i.test(url)) policy.openExternal(url);
    return { action: 'deny' };
  });
}
