import type Koa from 'koa';
import type { Authenticator } from '../core/authenticator.js';
import { parseCredentials } from '../sip/auth/digest.js';
import type { XcapState } from './xcap-context.js';
import { XcapError } from './xcap-error.js';

/**
 * The aggregation proxy's one authenticated entry point (X3): HTTP digest with
 * the user's SIP credentials. An authenticated request goes on with
 * `ctx.state.user`; any other is answered here (401 challenge, 403).
 */
export function xcapAuth(auth: Authenticator): Koa.Middleware<XcapState> {
  return async (ctx, next) => {
    const user = authenticate(ctx, auth);
    if (user === null) return;
    ctx.state.user = user;
    await next();
  };
}

/**
 * HTTP digest with the user's SIP credentials (X3); the same nonces and hashes as
 * the SIP core. The only place the XDMS talks to the Authenticator: returns the
 * user name, or null after answering the request itself.
 */
function authenticate(ctx: Koa.Context, auth: Authenticator): string | null {
  const header = ctx.get('authorization');
  const values = header ? [header] : [];
  // RFC 7616 §3.4.6: the digest must be for this request-target
  const cred = header ? parseCredentials(header) : null;
  if (cred !== null && cred.params.get('uri') !== undefined && cred.params.get('uri') !== ctx.url) {
    throw new XcapError(400, null, 'The digest uri does not match the request');
  }
  const outcome = auth.check(values, ctx.method);
  if ('user' in outcome) return outcome.user.username;
  if ('status' in outcome) {
    ctx.status = outcome.status === 404 ? 403 : outcome.status;
    ctx.body = outcome.reason;
    return null;
  }
  ctx.status = 401;
  ctx.set('WWW-Authenticate', auth.challenges(outcome.stale));
  ctx.body = 'Unauthorized';
  return null;
}
