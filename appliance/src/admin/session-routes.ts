import { SESSION_COOKIE, type Session } from '@parley/shared';
import type { LoginThrottle } from '../core/login-throttle.js';
import type { ApiRequest, Handlers } from './admin-api.js';
import { ApiError } from './api-error.js';
import type { AuditLog } from './audit-log.js';
import type { ConsoleAccounts } from './console-accounts.js';
import type { ActiveSession, SessionStore } from './session-store.js';

const view = (s: ActiveSession): Session => ({ account: s.account, csrfToken: s.csrfToken, expiresAt: new Date(s.expiresAt).toISOString() });

/**
 * Login, the current session, logout. Failed logins are throttled per account, per source and
 * per pair with the same counters as SIP digest (core/login-throttle.ts), and each is audited:
 * a throttled attempt is refused (429 + Retry-After) before its password is checked.
 */
export function sessionRoutes(accounts: ConsoleAccounts, sessions: SessionStore, throttle: LoginThrottle, audit: AuditLog): Pick<Handlers, 'login' | 'session' | 'logout'> {
  return {
    async login(req) {
      const { name, password } = req.body;
      const wait = throttle.retryAfter(name, req.source);
      if (wait > 0) {
        await audit.record({ actor: name, source: req.source, action: 'session.login_throttled', target: name });
        throw new ApiError(429, 'throttled', `too many failed logins: try again in ${wait} s`, undefined, { 'Retry-After': String(wait) });
      }
      const account = await accounts.verify(name, password);
      if (account === null) {
        throttle.failed(name, req.source);
        await audit.record({ actor: name, source: req.source, action: 'session.login_failed', target: name });
        // one answer for an unknown name, a wrong password and a disabled account (no enumeration)
        throw new ApiError(401, 'invalid_credentials', 'wrong name or password');
      }
      throttle.succeeded(name, req.source);
      const { token, session } = await sessions.create(account);
      setCookie(req, token, session.expiresAt);
      await audit.record({ actor: account.name, source: req.source, action: 'session.login', target: account.name });
      return view(session);
    },
    async session(req) {
      return view(req.session!);
    },
    async logout(req) {
      await sessions.end(req.session!.id);
      setCookie(req, '', 0);
      await req.audit('session.logout', req.session!.account.name);
    },
  };
}

/** HttpOnly (no script reads it), SameSite=Strict (no cross-site request carries it), Secure over TLS. */
function setCookie(req: ApiRequest, token: string, expiresAt: number): void {
  req.ctx.cookies.set(SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    secure: req.ctx.secure,
    overwrite: true,
    expires: new Date(expiresAt),
  });
}
