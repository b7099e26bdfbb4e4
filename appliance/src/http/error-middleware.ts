import { STATUS_CODES } from 'node:http';
import type Koa from 'koa';

interface HttpLikeError {
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  message?: unknown;
  headers?: Record<string, string>;
}

/** The status an error asks for (koa's ctx.throw sets `status`), or 500 for anything else. */
function statusOf(err: HttpLikeError): number {
  const s = typeof err.status === 'number' ? err.status : typeof err.statusCode === 'number' ? err.statusCode : 500;
  return s >= 400 && s <= 599 ? s : 500;
}

/**
 * The one place that decides what an HTTP client sees when a request fails
 * (STYLE.md: Errors). A 4xx carries the text it was thrown with; a 5xx carries
 * only its status text ("Internal Server Error"), never details of our code, and
 * is handed to the app's 'error' event, which logs it (http-app.ts).
 */
export function errorMiddleware(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (caught) {
      const err = (caught ?? {}) as HttpLikeError;
      const status = statusOf(err);
      if (status >= 500) ctx.app.emit('error', caught, ctx);
      if (ctx.headerSent || !ctx.writable) return;
      // what the failed handler had set is not for this response (koa's ctx.onerror does the same)
      for (const name of ctx.res.getHeaderNames()) ctx.res.removeHeader(name);
      if (err.headers) ctx.set(err.headers);
      ctx.status = status;
      ctx.type = 'text/plain';
      ctx.body = status < 500 && err.expose !== false && typeof err.message === 'string' && err.message !== '' ? err.message : (STATUS_CODES[status] ?? 'Error');
    }
  };
}
