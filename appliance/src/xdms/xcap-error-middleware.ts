import type Koa from 'koa';
import { SelectorError } from './node-selector.js';
import { XcapError } from './xcap-error.js';

/**
 * Turns the XDMS's failures into responses, in one place: an XcapError becomes
 * its status with its RFC 4825 §11 body (application/xcap-error+xml for the 409
 * conditions, a short text otherwise) and its headers; a node selector that
 * cannot be evaluated (a prefix no xmlns() binds, §6.4) is a 400. Anything else
 * is not an XCAP answer and goes on to the HTTP app's error middleware (a 500).
 */
export function xcapErrorMiddleware(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (caught) {
      const err = caught instanceof SelectorError ? new XcapError(400, null, `Bad node selector: ${caught.message}`) : caught;
      if (!(err instanceof XcapError)) throw err;
      ctx.status = err.status;
      if (err.detail.headers) ctx.set(err.detail.headers);
      ctx.type = err.condition === null ? 'text/plain' : 'application/xcap-error+xml';
      ctx.body = err.body();
    }
  };
}
