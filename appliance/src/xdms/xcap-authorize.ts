import type Koa from 'koa';
import type { LocalDomain } from '../core/local-domain.js';
import { isSipUri, parseUri } from '../sip/message/uri.js';
import { SyntaxFault } from '../sip/message/scanner.js';
import type { XcapState } from './xcap-context.js';
import { XcapError } from './xcap-error.js';

/**
 * Authorisation (X3): users reach only their own tree (RFC 4825 §5.7, the
 * default policy), and global documents are read-only. Sets `ctx.state.key`,
 * the document the request may touch.
 */
export function xcapAuthorize(domain: LocalDomain): Koa.Middleware<XcapState> {
  return async (ctx, next) => {
    const { uri, user } = ctx.state;
    if (uri.scope === 'global') {
      if (ctx.method !== 'GET') throw new XcapError(403, null, 'Global documents are read-only');
      ctx.state.key = { auid: uri.auid, owner: '', path: uri.document };
    } else {
      const owner = ownerOf(uri.xui!, domain);
      if (owner !== domain.aor(user)) throw new XcapError(403, null, 'Forbidden: not your document tree');
      ctx.state.key = { auid: uri.auid, owner, path: uri.document };
    }
    await next();
  };
}

/** The XUI as an AOR: "sip:alice@domain" (RFC 4825 §4), or a bare user name taken as ours. */
function ownerOf(xui: string, domain: LocalDomain): string {
  if (!xui.includes(':')) return domain.aor(xui);
  try {
    const u = parseUri(xui, 'XUI');
    if (isSipUri(u) && u.user !== null && domain.isLocal(u.host)) return domain.aor(u.user);
  } catch (err) {
    if (!(err instanceof SyntaxFault)) throw err;
  }
  return xui;
}
