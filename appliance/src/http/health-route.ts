import type Koa from 'koa';
import type { OverloadState } from '../sip/overload-guard.js';

const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

/** What /health reports, read at each request. */
export interface HealthSource {
  ports(): Record<string, number>;
  registrations(): number;
  storedMessages(): number;
  transactions(): { server: number; client: number };
  subscriptions(): number;
  /** live subscriptions per event package */
  subscriptionsByEvent?(): Record<string, number>;
  /** the XDMS's parsed-document cache: entries, estimated bytes, budget */
  parsedCache(): { entries: number; bytes: number; maxBytes: number };
  /** overload control: the share of new work admitted lately, the rate it is admitted at (null: all), the receive queue delay, the event loop's lag, requests refused, challenges owed an answer against the most the native socket lets be (null: not bounded) */
  overload(): OverloadState | null;
  /** session-mode IM: live one-to-one sessions, MSRP sessions and connections (null when msrp.port is 0) */
  sessions?(): { oneToOne: number; msrpSessions: number; msrpConnections: number } | null;
}

/**
 * `GET /health`: open, JSON, cheap (Synapse's /health, STYLE.md: Operations).
 * Anything else goes on to the next route.
 */
export function healthRoute(version: string, src: HealthSource): Koa.Middleware {
  const started = Date.now();
  return async (ctx, next) => {
    if (ctx.path !== '/health' || ctx.method !== 'GET') return next();
    // for benchmarks only: a process started with --expose-gc collects before it reports memory
    const gc = (globalThis as { gc?: () => void }).gc;
    if (ctx.query.gc === '1' && typeof gc === 'function') gc();
    ctx.body = {
      status: 'ok',
      version,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      ports: src.ports(),
      registrations: src.registrations(),
      storedMessages: src.storedMessages(),
      transactions: src.transactions(),
      subscriptions: src.subscriptions(),
      subscriptionsByEvent: src.subscriptionsByEvent?.(),
      xdms: { parsedCache: src.parsedCache() },
      overload: src.overload(),
      sessions: src.sessions?.() ?? null,
      memory: { rssMiB: mib(process.memoryUsage.rss()), heapUsedMiB: mib(process.memoryUsage().heapUsed) },
    };
  };
}
