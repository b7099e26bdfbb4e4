import http from 'node:http';
import type net from 'node:net';
import type { Logger } from '../log.js';
import type { MetricsRegistry } from './metrics-registry.js';

/**
 * `GET /metrics` on its own listener, bound to loopback unless configured otherwise
 * (STYLE.md: Operations; Prosody's mod_http_openmetrics does the same): the series tell who
 * is online and how busy the server is, which is not for the public HTTP port.
 */
export async function serveMetrics(metrics: MetricsRegistry, bind: string, port: number, log: Logger): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found: the metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('Method Not Allowed\n');
      return;
    }
    metrics.text().then(
      (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => {
        log.error({ err }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as net.AddressInfo).port };
}
