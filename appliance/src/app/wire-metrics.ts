import type { DataSource } from 'typeorm';
import { MetricsRegistry } from '../ops/metrics-registry.js';
import { coreMetrics } from '../ops/appliance-metrics.js';
import { featureMetrics } from '../ops/feature-metrics.js';
import { writesOf } from '../store/write-queue.js';
import type { Core } from './wire-core.js';
import type { Storage } from './wire-storage.js';
import type { Events } from './wire-events.js';
import type { Sessions } from './wire-sessions.js';

/** /metrics: the core's series (fed by hooks of the stack, pager, deferred store and write queue) and the features'. */
export function wireMetrics(ds: DataSource, core: Core, storage: Storage, events: Events, sessions: Sessions) {
  const { domain, stack, location } = core;
  const { usage, store, delivery, pager } = storage;
  const { subscriptions } = events;
  const { msrp, sessionHandler, focus } = sessions;
  const metrics = new MetricsRegistry();
  const coreSeries = coreMetrics(metrics, {
    registrationsByTransport: () => location.stats().byTransport,
    deferredDepth: () => store.recipients.reduce((n, u) => n + store.pendingFor(u), 0),
  });
  stack.onFinalResponse = coreSeries.finalResponse;
  pager.onOutcome = (o) => coreSeries.message(o);
  delivery.onDelivered = (m) => {
    coreSeries.message('delivered');
    usage.record({ kind: 'deferred', user: domain.aor(m.recipient), peer: m.senderAor, outcome: 'delivered', bytes: m.body.length });
  };
  store.onExpired = (n) => coreSeries.message('expired', n);
  writesOf(ds).onCommit = coreSeries.storeCommit;
  const features = featureMetrics(metrics, {
    subscriptions: () => subscriptions.countsByState(),
    oneToOneSessions: () => sessionHandler?.size ?? 0,
    msrpSessionsByTransport: () => msrp?.sessionsByTransport() ?? {},
    rooms: () => ({ rooms: focus?.roomCount ?? 0, participants: focus?.size ?? 0 }),
  });
  if (sessionHandler !== null) sessionHandler.onMessageSwitched = () => features.msrpMessage('one_to_one');
  if (focus !== null) focus.onMessageRelayed = () => features.msrpMessage('room');
  return { metrics, core: coreSeries };
}
