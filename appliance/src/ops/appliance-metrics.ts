import type Koa from 'koa';
import type { MetricsRegistry } from './metrics-registry.js';

/** Where the core's series come from: sizes read at each scrape. */
export interface CoreMetricsSource {
  /** live registered devices per transport (UDP, TCP, TLS, WS, WSS) */
  registrationsByTransport(): Record<string, number>;
  /** stored messages waiting for their recipients */
  deferredDepth(): number;
}

/** The counters the core's modules feed through their `on…` hooks (wired in main.ts). */
export interface CoreMetrics {
  finalResponse(method: string, status: number, count?: number): void;
  message(outcome: 'delivered' | 'stored' | 'expired' | 'refused', n?: number): void;
  storeCommit(seconds: number): void;
  /** a koa middleware counting XCAP operations under `root` by method and final status */
  xcapOperations(root: string): Koa.Middleware;
}

/**
 * The series of the SIP core, the pager/deferred IM functions, XCAP and the store
 * (README: Metrics lists them). Presence, MSRP and rooms add theirs through the same registry.
 */
export function coreMetrics(metrics: MetricsRegistry, src: CoreMetricsSource): CoreMetrics {
  metrics.gauge({
    name: 'registrations',
    help: 'Registered devices (contacts) by transport',
    labelNames: ['transport'],
    collect: () => Object.entries(src.registrationsByTransport()).map(([transport, n]) => [{ transport }, n]),
  });
  metrics.gauge({ name: 'deferred_queue_depth', help: 'Stored messages waiting for their recipients to come online', collect: () => src.deferredDepth() });
  // counted in plain numbers, handed to prom-client at each scrape (every SIP transaction, every MESSAGE)
  const answered = new Map<string, number[]>(); // method → answers not yet collected, by status class (1 to 6)
  metrics.counter({
    name: 'sip_transactions',
    help: 'Server transactions answered, by method and final status class',
    labelNames: ['method', 'class'],
    collect: (c) => {
      for (const [method, byClass] of answered) {
        byClass.forEach((n, cls) => {
          if (n > 0) c.inc({ method, class: `${cls}xx` }, n);
        });
        byClass.fill(0);
      }
    },
  });
  const OUTCOMES = ['delivered', 'stored', 'expired', 'refused'] as const;
  const outcomes: Record<(typeof OUTCOMES)[number], number> = { delivered: 0, stored: 0, expired: 0, refused: 0 };
  const messages = metrics.counter({
    name: 'messages',
    help: 'MESSAGE requests and stored messages by outcome',
    labelNames: ['outcome'],
    collect: (c) => {
      for (const outcome of OUTCOMES) {
        if (outcomes[outcome] > 0) c.inc({ outcome }, outcomes[outcome]);
        outcomes[outcome] = 0;
      }
    },
  });
  // seed the outcomes so that every series exists (rate() over a series that appears late misses its first increase)
  for (const outcome of OUTCOMES) messages.inc({ outcome }, 0);
  const xcap = metrics.counter({ name: 'xcap_operations', help: 'XCAP requests by method and status', labelNames: ['method', 'status'] });
  const writes = metrics.histogram({
    name: 'store_write_seconds',
    help: 'Time to commit one batch of writes to the store',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  return {
    finalResponse: (method, status, count = 1) => {
      let byClass = answered.get(method);
      if (byClass === undefined) answered.set(method, (byClass = [0, 0, 0, 0, 0, 0, 0]));
      byClass[Math.floor(status / 100)] += count;
    },
    message: (outcome, n = 1) => {
      outcomes[outcome] += n;
    },
    storeCommit: (seconds) => writes.observe(seconds),
    xcapOperations: (root) => async (ctx, next) => {
      if (!ctx.path.startsWith(root)) return next();
      let status = 500;
      try {
        await next();
        status = ctx.status;
      } catch (err) {
        // counted as the error middleware will answer it
        const s = (err as { status?: unknown }).status;
        status = typeof s === 'number' && s >= 400 && s < 600 ? s : 500;
        throw err;
      } finally {
        xcap.inc({ method: ctx.method, status: String(status) });
      }
    },
  };
}
