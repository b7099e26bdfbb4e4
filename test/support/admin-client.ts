import type { RunningAppliance } from './appliance.js';

/** A logged-in console session against the appliance's admin API (cookie + CSRF token). */
export interface AdminSession {
  cookie: string;
  csrfToken: string;
  /** a request under /api/v1 with the session cookie and, unless `csrf: false`, the CSRF token */
  request(method: string, path: string, opts?: { json?: unknown; body?: string; contentType?: string; headers?: Record<string, string>; csrf?: boolean }): Promise<Response>;
}

export const apiUrl = (app: RunningAppliance, path: string): string => `http://127.0.0.1:${app.httpPort}/api/v1${path}`;

/** Creates a console account with `parley admin add --password-stdin` (the password on standard input, as a script would). */
export async function addConsoleAccount(app: RunningAppliance, name: string, password: string, role: 'admin' | 'support' = 'admin'): Promise<string> {
  return app.cliWithInput(`${password}\n`, 'admin', 'add', name, '--role', role, '--password-stdin');
}

/** POST /session, then a client that carries the cookie and the CSRF token. */
export async function login(app: RunningAppliance, name: string, password: string): Promise<AdminSession> {
  const res = await fetch(apiUrl(app, '/session'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name, password }) });
  if (res.status !== 200) throw new Error(`login as ${name}: ${res.status} ${await res.text()}`);
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('parley_session='))!;
  const { csrfToken } = (await res.json()) as { csrfToken: string };
  return {
    cookie,
    csrfToken,
    request(method, path, o = {}) {
      const headers: Record<string, string> = { Cookie: cookie, ...(o.csrf === false ? {} : { 'X-CSRF-Token': csrfToken }), ...o.headers };
      let body: string | undefined = o.body;
      if (o.json !== undefined) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(o.json);
      } else if (o.contentType) headers['Content-Type'] = o.contentType;
      return fetch(apiUrl(app, path), { method, headers, body });
    },
  };
}
