import type { DataSource } from 'typeorm';
import type { Config } from './config/config.js';
import type { Logger } from './log.js';
import { openStore } from './store/data-source.js';
import { StoreChangeWatcher } from './store/store-changes.js';
import { Router } from './core/router.js';
import { bindHttp } from './http/http-app.js';
import { serveMetrics } from './ops/metrics-server.js';
import { tlsClientOptions } from './app/network.js';
import { XCAP_ROOT } from './app/paths.js';
import type { Appliance } from './app/appliance-types.js';
import { wireCore } from './app/wire-core.js';
import { wireStorage } from './app/wire-storage.js';
import { wireIm } from './app/wire-im.js';
import { wireEvents } from './app/wire-events.js';
import { wireSessions } from './app/wire-sessions.js';
import { wireMetrics } from './app/wire-metrics.js';
import { wireHttp } from './app/wire-http.js';

export type { Appliance, AppliancePorts } from './app/appliance-types.js';
export { XCAP_ROOT, HISTORY_API } from './app/paths.js';

/** How often each node reads the store's change counters (a CLI change is seen within this). */
const STORE_WATCH_MS = 500;

/**
 * Starts the appliance: store, then the SIP core and IM functions, then HTTP
 * (ARCHITECTURE.md: config -> store -> sip core -> functions -> http). The wiring of each part is
 * in `app/wire-*.ts`; this is the order they start in and the order they stop in.
 */
export async function startAppliance(config: Config, log: Logger): Promise<Appliance> {
  // a CA file that cannot be used stops start-up before the store is touched
  const tlsClient = tlsClientOptions(config, log);
  const ds: DataSource = await openStore(config.dataDir);
  // the caches below follow other nodes' and processes' writes through one poll of store_changes
  const changes = new StoreChangeWatcher(ds, { intervalMs: STORE_WATCH_MS }, log);
  await changes.open();
  const core = await wireCore(config, log, ds, changes, tlsClient);
  const { stack, location, domain, advertisedHost, credentials } = core;
  const storage = await wireStorage(config, log, ds, changes, core);
  const im = wireIm(config, log, core, storage);
  const http = config.http.port === 0 ? null : await bindHttp(config.http.bind ?? config.sip.bind, config.http.port === 'auto' ? 0 : config.http.port);
  // the HTTP port as clients reach it: XCAP root and provisioning URLs
  const httpBaseUrl = `http://${advertisedHost}:${http?.port ?? 80}`;
  const xcapRootUrl = `${httpBaseUrl}${XCAP_ROOT}`;
  const router = new Router(stack, domain, log).serveRegister(core.registrar.handle).serve('MESSAGE', im.messages.handle).serveAtOnce('MESSAGE', im.messages.challengeAtOnce);
  const events = wireEvents(config, log, ds, core, storage, im, router, xcapRootUrl);
  const sessions = wireSessions(config, log, ds, core, storage, im, events, router);
  const { subscriptions } = events;
  const { msrp, sessionHandler } = sessions;
  router.onFlowClosed = (flowId) => location.flowClosed(flowId).catch((err: unknown) => log.warn({ err }, 'flow cleanup failed'));
  stack.setUser(router);
  // an idle connection stays open while it carries a registration, a subscription or a session
  stack.setFlowInUse((flowId) => location.usesFlow(flowId) || subscriptions.usesFlow(flowId) || (sessionHandler?.usesFlow(flowId) ?? false));
  const { metrics, core: coreSeries } = wireMetrics(ds, core, storage, events, sessions);

  const ports: Appliance['ports'] = { ...(await stack.start()) };
  if (msrp !== null) {
    Object.assign(ports, await msrp.listen());
    msrp.webSocketPorts = { ws: ports.WS, wss: ports.WSS };
  }
  const metricsHttp = config.metrics.port === 0 ? null : await serveMetrics(metrics, config.metrics.bind, config.metrics.port === 'auto' ? 0 : config.metrics.port, log);
  if (metricsHttp !== null) ports.METRICS = metricsHttp.port;
  storage.delivery.start();
  changes.start();
  const restored = await subscriptions.restore();
  if (restored > 0) log.info({ restored }, 'subscriptions restored from the store');
  const web = wireHttp(config, log, ds, http, ports, { core, storage, im, events, sessions, coreSeries, httpBaseUrl, xcapRootUrl });
  log.info({ domain: config.domain, advertisedHost, ports, udpSocket: stack.udpEngine, dataDir: config.dataDir, tls: credentials?.source }, 'parley started');

  return {
    ports,
    metrics,
    async stop() {
      sessionHandler?.close();
      sessions.replay?.close();
      sessions.focus?.close();
      msrp?.close();
      metricsHttp?.server.close();
      storage.delivery.stop();
      changes.stop();
      im.aggregator.stop();
      web.sessions.stop();
      web.exports?.close();
      subscriptions.stop();
      events.publications.stop();
      location.stop();
      stack.close();
      http?.server.close();
      await web.validator.close();
      // what the last moments recorded is committed before the store closes (SIGTERM)
      await storage.usage.close();
      await ds.destroy();
    },
  };
}
