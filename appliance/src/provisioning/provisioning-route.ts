import type Koa from 'koa';
import type { Authenticator } from '../core/authenticator.js';
import type { UserDirectory } from '../core/user-directory.js';
import { xcapAuth } from '../xdms/xcap-auth.js';
import type { XcapState } from '../xdms/xcap-context.js';
import { clientSettings, linphoneXml, type ServerAddresses } from './client-settings.js';

export const PROVISIONING_PATH = '/provisioning/';

/**
 * The URL a user's clients are given (the console's QR code): `<base>/provisioning/<user>`,
 * `base` being the HTTP port as clients reach it (e.g. `http://192.0.2.10:8080`).
 */
export function provisioningUrl(base: string, user: string): string {
  return `${base}${PROVISIONING_PATH}${encodeURIComponent(user)}`;
}

/**
 * `GET /provisioning/<user>` (A6): the user's client settings behind HTTP digest with their own
 * SIP credentials (the same check as XCAP), as Linphone's remote provisioning XML, or as JSON
 * when asked (`Accept: application/json` or `?format=json`). Another user's settings are 403.
 */
export function provisioningRoute(auth: Authenticator, users: UserDirectory, server: () => ServerAddresses): Koa.Middleware {
  const authenticate = xcapAuth(auth);
  return async (ctx, next) => {
    if (!ctx.path.startsWith(PROVISIONING_PATH)) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      ctx.throw(405, 'Method Not Allowed');
    }
    const wanted = decodeURIComponent(ctx.path.slice(PROVISIONING_PATH.length)).toLowerCase();
    await authenticate(ctx as Koa.ParameterizedContext<XcapState>, async () => {
      const who = (ctx.state as XcapState).user;
      if (who !== wanted) ctx.throw(403, `these credentials are ${who}'s: fetch /provisioning/${who}`);
      const row = users.get(who);
      if (row === undefined) return ctx.throw(404, 'no such user');
      const settings = clientSettings(server(), { username: row.username, displayName: row.displayName });
      ctx.set('Cache-Control', 'no-store');
      if (ctx.query.format === 'json' || (ctx.query.format !== 'xml' && ctx.accepts('application/xml', 'application/json') === 'application/json')) {
        ctx.body = settings;
      } else {
        ctx.type = 'application/xml';
        ctx.body = linphoneXml(settings);
      }
    });
  };
}
