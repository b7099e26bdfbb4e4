import http from 'node:http';
import type net from 'node:net';
import Koa from 'koa';

const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

export interface HealthSource {
  ports(): Record<string, number>;
  registrations(): number;
  storedMessages(): number;
  transactions(): { server: number; client: number };
  subscriptions(): number;
}

/**
 * Binds the HTTP port before the services behind it exist, so that the port is known
 * (with "auto", the one the system picked) to the modules that publish URLs (the XCAP root).
 * Requests are refused until `serveHttp` mounts the app.
 */
export async function bindHttp(bind: string, port: number): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer();
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
 * The appliance's HTTP side: `/health`, then the mounted services (the XCAP
 * aggregation proxy; the admin API later), then 404.
 */
export function serveHttp(server: http.Server, version: string, src: HealthSource, services: Koa.Middleware[] = []): void {
  const app = new Koa();
  const started = Date.now();
  app.use(async (ctx, next) => {
    if (ctx.path === '/health' && ctx.method === 'GET') {
      ctx.body = {
        status: 'ok',
        version,
        uptimeSeconds: Math.round((Date.now() - started) / 1000),
        ports: src.ports(),
        registrations: src.registrations(),
        storedMessages: src.storedMessages(),
        transactions: src.transactions(),
        subscriptions: src.subscriptions(),
        memory: { rssMiB: mib(process.memoryUsage.rss()), heapUsedMiB: mib(process.memoryUsage().heapUsed) },
      };
      return;
    }
    await next();
  });
  for (const s of services) app.use(s);
  app.use((ctx) => ctx.throw(404, 'Not Found'));
  server.on('request', app.callback());
}
