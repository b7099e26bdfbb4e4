import type Koa from 'koa';
import type { Authenticator } from '../core/authenticator.js';
import { normalizeAddress } from '../sip/transport/stream.js';
import type { XcapState } from './xcap-context.js';

/**
 * The aggregation proxy's one authenticated entry point (X3): HTTP digest with
 * the user's SIP credentials. An authenticated request goes on with
 * `ctx.state.user`; any other is answered here (401 challenge, 400, 403, 429).
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
 * HTTP digest with the user's SIP credentials (X3, RFC 7616): the same users, nonces, replay
 * protection and login throttling as the SIP core. An unknown user and a wrong password both
 * get a new challenge (RFC 9110 §11.6.2); a throttled client gets 429 with Retry-After (RFC 6585 §4).
 */
function authenticate(ctx: Koa.Context, auth: Authenticator): string | null {
  const header = ctx.get('authorization');
  const userAgent = ctx.get('user-agent') || undefined;
  const outcome = auth.check({
    headers: header ? [header] : [],
    method: ctx.method,
    // RFC 7616 §3.4.6: the digest is for this request-target
    uriMatches: (digestUri) => digestUri === ctx.url,
    source: { address: normalizeAddress(ctx.req.socket.remoteAddress ?? ''), port: ctx.req.socket.remotePort ?? 0, transport: 'HTTP' },
    userAgent,
  });
  switch (outcome.kind) {
    case 'ok':
      return outcome.user.username;
    case 'refused':
      ctx.status = outcome.status;
      ctx.body = outcome.reason;
      return null;
    case 'throttled':
      ctx.status = 429;
      ctx.set('Retry-After', String(outcome.retryAfter));
      ctx.body = 'Too many failed authentication attempts';
      return null;
    case 'challenge':
      ctx.status = 401;
      ctx.set('WWW-Authenticate', auth.challenges(outcome.stale, userAgent));
      ctx.body = 'Unauthorized';
      return null;
  }
}
