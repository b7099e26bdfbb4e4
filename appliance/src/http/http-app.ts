import http from 'node:http';
import type net from 'node:net';
import Koa from 'koa';
import type { Logger } from '../log.js';
import { errorMiddleware } from './error-middleware.js';

/**
 * Binds the HTTP port before the services behind it exist, so that the port is known
 * (with "auto", the one the system picked) to the modules that publish URLs (the XCAP root).
 * Requests get 503 with Retry-After until `serveHttp` mounts the app.
 */
export async function bindHttp(bind: string, port: number): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer();
  // until the app is mounted (the store, SIP and XDMS are still starting), a request gets a clear
  // "not yet" instead of hanging on a socket nobody answers (RFC 9110 §15.6.4 503, Retry-After)
  server.on('request', starting);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as net.AddressInfo).port };
}

/**
 * Builds the appliance's HTTP app on a bound server: the error middleware, then
 * the routes in order (`/health`, the admin API under /api/v1, the XCAP aggregation proxy),
 * then 404. Failures go to the structured log, never to the console.
 */
export function serveHttp(server: http.Server, log: Logger, routes: Koa.Middleware[]): Koa {
  const app = new Koa();
  // with a listener, koa no longer prints errors with console.error (Koa#onerror)
  app.on('error', (err: unknown, ctx?: Koa.Context) => {
    // the client went away while its response was being written (a browser that stops loading,
    // a client that closes as soon as it has Content-Length's bytes): nothing failed here
    if (ctx?.headerSent && isClientGone(err)) {
      log.debug({ code: (err as NodeJS.ErrnoException).code, method: ctx.method, url: ctx.url }, 'HTTP client closed the connection before the response was finished');
      return;
    }
    log.error({ err, method: ctx?.method, url: ctx?.url }, 'HTTP request failed');
  });
  app.use(errorMiddleware());
  for (const r of routes) app.use(r);
  app.use((ctx) => ctx.throw(404, 'Not Found'));
  server.off('request', starting);
  server.on('request', app.callback());
  return app;
}

const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE']);

function isClientGone(err: unknown): boolean {
  return err instanceof Error && CLIENT_GONE.has((err as NodeJS.ErrnoException).code ?? '');
}

function starting(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(503, { 'Retry-After': '1', 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
  res.end('Parley is starting; try again in a moment\n');
}
