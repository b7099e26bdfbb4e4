import { describe, expect, it } from 'vitest';
import { installNavigationGuard, mayNavigate, type GuardedContents } from './navigation-guard.js';

type Listener = (event: { preventDefault(): void }, url: string) => void;

/** A fake WebContents that records the guard's listeners and plays events into them. */
function fakeContents() {
  const listeners = new Map<string, Listener>();
  let openHandler: ((d: { url: string }) => { action: string }) | null = null;
  const contents = {
    on: (event: string, l: Listener) => listeners.set(event, l),
    setWindowOpenHandler: (h: (d: { url: string }) => { action: string }) => (openHandler = h),
  } as unknown as GuardedContents;
  /** fires an event; true when the guard cancelled it */
  const fire = (event: string, url = ''): boolean => {
    let prevented = false;
    listeners.get(event)!({ preventDefault: () => (prevented = true) }, url);
    return prevented;
  };
  return { contents, fire, open: (url: string) => openHandler!({ url }) };
}

describe('the navigation guard', () => {
  const origin = 'http://parley.example.test:8080';

  it('lets the window move within the appliance and cancels anything else', () => {
    const f = fakeContents();
    installNavigationGuard(f.contents, { origin: () => origin, openExternal: () => undefined });
    expect(f.fire('will-navigate', `${origin}/console/users`)).toBe(false);
    expect(f.fire('will-navigate', 'https://evil.test/console/')).toBe(true);
    expect(f.fire('will-navigate', 'http://parley.example.test:9090/')).toBe(true);
    expect(f.fire('will-navigate', 'file:///etc/passwd')).toBe(true);
    expect(f.fire('will-redirect', 'https://evil.test/')).toBe(true);
    expect(f.fire('will-redirect', `${origin}/console/login`)).toBe(false);
  });

  it('cancels every navigation while no appliance is known (the first-run screen)', () => {
    const f = fakeContents();
    installNavigationGuard(f.contents, { origin: () => null, openExternal: () => undefined });
    expect(f.fire('will-navigate', `${origin}/console/`)).toBe(true);
    expect(mayNavigate(`${origin}/console/`, null)).toBe(false);
  });

  it('follows the appliance when the admin changes it', () => {
    let current: string | null = origin;
    const f = fakeContents();
    installNavigationGuard(f.contents, { origin: () => current, openExternal: () => undefined });
    current = 'https://other.example.test';
    expect(f.fire('will-navigate', `${origin}/console/`)).toBe(true);
    expect(f.fire('will-navigate', 'https://other.example.test/console/')).toBe(false);
  });

  it('never opens a window in the app; http(s) links go to the system browser, other schemes nowhere', () => {
    const opened: string[] = [];
    const f = fakeContents();
    installNavigationGuard(f.contents, { origin: () => origin, openExternal: (u) => opened.push(u) });
    expect(f.open('https://www.rfc-editor.org/rfc/rfc4825')).toEqual({ action: 'deny' });
    expect(f.open(`${origin}/console/users`)).toEqual({ action: 'deny' });
    expect(f.open('file:///etc/passwd')).toEqual({ action: 'deny' });
    expect(f.open('javascript:alert(1)')).toEqual({ action: 'deny' });
    expect(opened).toEqual(['https://www.rfc-editor.org/rfc/rfc4825', `${origin}/console/users`]);
  });

  it('refuses webviews', () => {
    const f = fakeContents();
    installNavigationGuard(f.contents, { origin: () => origin, openExternal: () => undefined });
    expect(f.fire('will-attach-webview')).toBe(true);
  });
});
