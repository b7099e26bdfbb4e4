import type { MetricsRegistry } from './metrics-registry.js';

/** Where the presence, session and room series come from: sizes the services keep, read at each scrape. */
export interface FeatureMetricsSource {
  /** live subscriptions per package (`presence`, `presence.winfo`, `rls`, `xcap-diff`) and state */
  subscriptions(): Record<string, { pending: number; active: number }>;
  /** live one-to-one chat sessions (S1) */
  oneToOneSessions(): number;
  /** MSRP sessions (legs) terminated here, by transport: tcp, tls, ws, wss */
  msrpSessionsByTransport(): Record<string, number>;
  /** chat rooms with anyone in them, and everyone in them */
  rooms(): { rooms: number; participants: number };
}

/** The counters the session switch and the room focus feed through their `on…` hooks (wired in main.ts). */
export interface FeatureMetrics {
  /** one complete MSRP message taken from a leg and switched: between two users, or to a room */
  msrpMessage(kind: 'one_to_one' | 'room'): void;
}

/**
 * The series of presence, session-mode IM and chat rooms (README: Metrics lists them). The
 * services know nothing of prom-client: gauges read their sizes at each scrape, and the one
 * counter is fed by their hooks.
 */
export function featureMetrics(metrics: MetricsRegistry, src: FeatureMetricsSource): FeatureMetrics {
  metrics.gauge({
    name: 'subscriptions',
    help: 'Live event subscriptions (RFC 6665) by package and state',
    labelNames: ['package', 'state'],
    collect: () =>
      Object.entries(src.subscriptions()).flatMap(([pkg, n]): [Record<'package' | 'state', string>, number][] => [
        [{ package: pkg, state: 'active' }, n.active],
        [{ package: pkg, state: 'pending' }, n.pending],
      ]),
  });
  metrics.gauge({ name: 'one_to_one_sessions', help: 'Live one-to-one MSRP chat sessions', collect: () => src.oneToOneSessions() });
  metrics.gauge({
    name: 'msrp_sessions',
    help: 'MSRP sessions (legs) terminated by this node, by transport',
    labelNames: ['transport'],
    collect: () => Object.entries(src.msrpSessionsByTransport()).map(([transport, n]) => [{ transport }, n]),
  });
  metrics.gauge({ name: 'rooms', help: 'Chat rooms with anyone in them', collect: () => src.rooms().rooms });
  metrics.gauge({ name: 'room_participants', help: 'Participants in every chat room', collect: () => src.rooms().participants });
  const switched = metrics.counter({ name: 'msrp_messages', help: 'Complete MSRP messages switched, between two users or to a room', labelNames: ['kind'] });
  // seeded, so that rate() sees the first increase (as the core's message outcomes)
  for (const kind of ['one_to_one', 'room']) switched.inc({ kind }, 0);
  return { msrpMessage: (kind) => switched.inc({ kind }) };
}
