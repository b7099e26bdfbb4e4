import http from 'node:http';
import Koa from 'koa';

const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

export interface HealthSource {
  registrations(): number;
  storedMessages(): number;
  transactions(): { server: number; client: number };
  subscriptions(): number;
}

/**
 * The appliance's HTTP side: `/health`, then the mounted services (the XCAP
 * aggregation proxy; the admin API later), then 404.
 */
export async function startHttp(bind: string, port: number, version: string, src: HealthSource, services: Koa.Middleware[] = []): Promise<http.Server> {
  const app = new Koa();
  const started = Date.now();
  app.use(async (ctx, next) => {
    if (ctx.path === '/health' && ctx.method === 'GET') {
      ctx.body = {
        status: 'ok',
        version,
        uptimeSeconds: Math.round((Date.now() - started) / 1000),
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
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => resolve());
  });
  return server;
}
