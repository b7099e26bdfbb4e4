import type Koa from 'koa';
import { usageOf } from './app-usages.js';
import type { XcapState } from './xcap-context.js';
import { XcapError } from './xcap-error.js';
import { parseXcapPath } from './xcap-uri.js';

/**
 * Reads which XCAP resource the request names (RFC 4825 §6): the document and
 * node selectors of the raw request-target (decoded once, here, and nowhere
 * else), and the application usage of its AUID. A malformed target is a 400, one
 * that names no resource a 404 (xcap-uri.ts).
 */
export function xcapResource(root: string): Koa.Middleware<XcapState> {
  return async (ctx, next) => {
    const raw = ctx.url.slice(root.length);
    const q = raw.indexOf('?');
    const uri = parseXcapPath(q >= 0 ? raw.slice(0, q) : raw, q >= 0 ? raw.slice(q + 1) : '');
    const usage = usageOf(uri.auid);
    if (usage === undefined) throw new XcapError(404, null, `Unknown application usage '${uri.auid}'`);
    ctx.state.uri = uri;
    ctx.state.usage = usage;
    await next();
  };
}
