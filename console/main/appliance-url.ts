/** The console's path on the appliance (appliance/src/http/console-route.ts). */
export const CONSOLE_PATH = '/console/';

export type ApplianceUrlCheck = { ok: true; origin: string; consoleUrl: string } | { ok: false; reason: string };

/**
 * Checks what an admin typed as the appliance's address on the first-run screen: an http or
 * https URL of a host, without user name, password, query or fragment (the shell keeps only the
 * origin, and opens its /console/). A bare `host:port` is taken as http, like a browser's bar.
 *
 * @example parseApplianceUrl('parley.example.test:8080') // { ok: true, origin: 'http://parley.example.test:8080', consoleUrl: 'http://parley.example.test:8080/console/' }
 */
export function parseApplianceUrl(input: unknown): ApplianceUrlCheck {
  if (typeof input !== 'string') return { ok: false, reason: 'not text' };
  const text = input.trim();
  if (text === '') return { ok: false, reason: 'empty' };
  if (text.length > 2048) return { ok: false, reason: 'too long' };
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return { ok: false, reason: 'not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: `only http and https, not ${url.protocol.slice(0, -1)}` };
  if (url.hostname === '') return { ok: false, reason: 'no host' };
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'no user name or password in the URL' };
  if (url.search !== '' || url.hash !== '') return { ok: false, reason: 'no query or fragment' };
  // the appliance's own address, or its console: anything else under it is not what the shell opens
  if (url.pathname !== '/' && url.pathname !== '/console' && url.pathname !== CONSOLE_PATH) return { ok: false, reason: 'give the appliance address (the console is at /console)' };
  return { ok: true, origin: url.origin, consoleUrl: url.origin + CONSOLE_PATH };
}

/** Whether a URL is on the given origin (scheme, host and port alike). */
export function sameOrigin(url: string, origin: string): boolean {
  try {
    return new URL(url).origin === origin;
  } catch {
    return false;
  }
}
