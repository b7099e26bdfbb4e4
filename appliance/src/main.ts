import os from 'node:os';
import net from 'node:net';
import tls from 'node:tls';
import type { DataSource } from 'typeorm';
import { type Config, ConfigError } from './config/config.js';
import type { Logger } from './log.js';
import { openStore } from './store/data-source.js';
import { warnIfReadableByOthers } from './store/data-folder.js';
import { UserDirectory } from './core/user-directory.js';
import { LocalDomain } from './core/local-domain.js';
import { Authenticator } from './core/authenticator.js';
import { LocationService } from './core/location-service.js';
import { Registrar } from './core/registrar.js';
import { Router } from './core/router.js';
import { LoginThrottle } from './core/login-throttle.js';
import { MessageRequestHandler } from './im/pager/message-request-handler.js';
import { OriginatingPolicy } from './im/participating/originating-policy.js';
import { SipStack } from './sip/stack.js';
import { loadTlsCredentials } from './sip/transport/tls-credentials.js';
import { loadTrustAnchors, type TlsClientOptions } from './sip/transport/tls-client.js';
import type { ListeningPorts } from './sip/transport/transport-layer.js';
import { MessageCipher } from './im/deferred/message-cipher.js';
import { DeferredStore } from './im/deferred/deferred-store.js';
import { DeferredDelivery } from './im/deferred/deferred-delivery.js';
import { MessageHandler } from './im/pager/message-handler.js';
import { bindHttp, serveHttp } from './http/http-app.js';
import { healthRoute } from './http/health-route.js';
import { xcapServer } from './xdms/xcap-server.js';
import { DocumentStore } from './xdms/document-store.js';
import { SchemaValidator } from './xdms/schema-validator.js';
import { TerminatingPolicy } from './im/participating/terminating-policy.js';
import { ListResolver } from './xdms/list-resolver.js';
import { AttributeIndex } from './xdms/attribute-index.js';
import { APP_USAGES } from './xdms/app-usages.js';
import { XcapDiffNotifier } from './xdms/xcap-diff.js';
import { ParsedDocumentCache } from './xdms/parsed-cache.js';
import { VERSION } from './version.js';
import { KeyedMutex } from './util/keyed-mutex.js';
import { UserManagement } from './core/user-management.js';
import { adminApi } from './admin/admin-api.js';
import { AuditLog } from './admin/audit-log.js';
import { ConsoleAccounts } from './admin/console-accounts.js';
import { SessionStore } from './admin/session-store.js';
import { sessionRoutes } from './admin/session-routes.js';
import { usersRoutes } from './admin/users-routes.js';
import { xdmsRoutes } from './admin/xdms-routes.js';
import { monitorRoutes } from './admin/monitor-routes.js';
import { openApiDocument } from './admin/openapi.js';
import { MetricsRegistry } from './ops/metrics-registry.js';
import { serveMetrics } from './ops/metrics-server.js';
import { coreMetrics } from './ops/appliance-metrics.js';
import { writesOf } from './store/write-queue.js';
import { provisioningRoute } from './provisioning/provisioning-route.js';

export interface Appliance {
  ports: ListeningPorts & { HTTP?: number; METRICS?: number };
  /** where features add their series to /metrics (README: Metrics) */
  metrics: MetricsRegistry;
  stop(): Promise<void>;
}

/** Where XCAP documents live on the HTTP port (README: XDMS). */
export const XCAP_ROOT = '/xcap-root';

const UNSPECIFIED = new Set(['0.0.0.0', '::', '']);

/** The host we write in Via and Contact: configured, the bind address, or this machine's first address. */
function advertisedHostOf(config: Config): string {
  if (config.sip.advertisedHost) return config.sip.advertisedHost;
  if (!UNSPECIFIED.has(config.sip.bind)) return net.isIPv6(config.sip.bind) ? `[${config.sip.bind}]` : config.sip.bind;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** Every address of this machine, so that requests to sip:user@<our IP> are ours too. */
function localAddresses(): string[] {
  const out = ['localhost'];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) out.push(a.family === 'IPv6' ? `[${a.address}]` : a.address);
  }
  return out;
}

/**
 * How the TLS connections we open are checked: the trust anchors are read once, here (README:
 * sip.tls.ca, sip.tls.verifyPeer). A CA file that cannot be used stops start-up.
 */
function tlsClientOptions(config: Config, log: Logger): TlsClientOptions {
  const { ca, verifyPeer } = config.sip.tls;
  if (!verifyPeer) {
    log.warn('outbound TLS is not verified (sip.tls.verifyPeer: false): any certificate is accepted from devices the server connects to');
    return { verifyPeer: false };
  }
  let anchors;
  try {
    anchors = loadTrustAnchors(ca);
  } catch (err) {
    throw new ConfigError(`sip.tls.ca: ${(err as Error).message}`);
  }
  log.info({ systemStore: anchors.system, extraCas: anchors.extra, caFile: ca }, 'outbound TLS: peer certificates verified');
  return { verifyPeer: true, secureContext: tls.createSecureContext({ ca: anchors.pems }) };
}

/**
 * Starts the appliance: store, then the SIP core and IM functions, then HTTP
 * (ARCHITECTURE.md: config -> store -> sip core -> functions -> http).
 */
export async function startAppliance(config: Config, log: Logger): Promise<Appliance> {
  const tlsClient = tlsClientOptions(config, log);
  const ds: DataSource = await openStore(config.dataDir);
  const users = new UserDirectory(ds, config.domain, log);
  await users.load();
  const advertisedHost = advertisedHostOf(config);
  const domain = new LocalDomain(config.domain, [advertisedHost, ...localAddresses()]);
  const { cert, key } = config.sip.tls;
  const identity = cert !== undefined && key !== undefined ? { cert, key } : undefined;
  const usesTls = config.sip.tlsPort !== 0 || config.sip.wssPort !== 0;
  // a configured key lives outside the data folder, the operator's to manage: warned about, not refused
  if (usesTls && identity) warnIfReadableByOthers(identity.key, log);
  const credentials = usesTls ? await loadTlsCredentials(config.dataDir, config.domain, identity) : undefined;

  const stack = new SipStack(
    {
      transport: {
        bind: config.sip.bind,
        port: config.sip.port,
        tlsPort: config.sip.tlsPort,
        wsPort: config.sip.wsPort,
        wssPort: config.sip.wssPort,
        tls: credentials ? { cert: credentials.cert, key: credentials.key } : undefined,
        tlsClient,
        limits: { maxMessageBytes: config.sip.maxMessageBytes, maxBodyBytes: config.sip.maxBodyBytes },
        connections: config.sip.connections,
      },
      timers: config.sip.timers,
      advertisedHost,
      trace: config.log.traceSip,
      forceRport: config.sip.forceRport,
      userAgent: config.sip.userAgent ?? `Parley/${VERSION}`,
      overload: config.sip.overload.maxQueueDelay > 0 ? { ...config.sip.overload, staleAfter: config.sip.timers.T1 } : null,
    },
    log,
  );
  const location = new LocationService(ds, log);
  await location.load();
  const auth = new Authenticator(
    users,
    {
      realm: config.domain,
      algorithms: config.auth.algorithms,
      offerAllTo: config.auth.offerAllTo.map((p) => new RegExp(p)),
      nonceLifetime: config.auth.nonceLifetime,
      maxTrackedNonces: config.auth.maxTrackedNonces,
    },
    new LoginThrottle(config.auth.throttle),
    log,
  );
  const registrar = new Registrar(stack, domain, auth, location, config.registrar);
  const cipher = MessageCipher.loadOrCreate(config.dataDir);
  const store = new DeferredStore(ds, cipher, config.deferred, log);
  await store.load();
  const deliveryTimeoutMs = Math.min(16 * config.sip.timers.T1, 20_000);
  const delivery = new DeferredDelivery(
    stack,
    store,
    location,
    domain,
    { retryMinSec: config.deferred.retryMin, retryMaxSec: config.deferred.retryMax, timeoutMs: deliveryTimeoutMs },
    log,
  );
  users.onServiceRevoked = (names) => {
    for (const n of names) location.removeAor(domain.aor(n)).catch((err: unknown) => log.warn({ err }, 'binding removal failed'));
  };
  location.onRegistered = (aor) => {
    const user = domain.userOf(aor);
    if (user !== null) delivery.onRegistered(user);
  };
  const pager = new MessageHandler(stack, domain, location, store, delivery, { deliveryTimeoutMs, storeFullRetryAfter: config.deferred.retryAfterWhenFull });
  const documents = new DocumentStore(ds, log);
  const parsed = new ParsedDocumentCache(config.xdms.parsedCacheBytes, documents);
  const policy = new TerminatingPolicy(documents, domain);
  const messages = new MessageRequestHandler(auth, users, new OriginatingPolicy(domain), policy, pager);
  // the IM server's view of URI lists and groups in the shared XDMS (X5); used by the exploder and group chat
  const uniqueIndexes = APP_USAGES.filter((u) => u.uniqueAcross).map(
    (u) => new AttributeIndex(documents, u.auid, u.namespace, u.uniqueAcross!.element, u.uniqueAcross!.attribute),
  );
  const lists = new ListResolver(documents, domain, XCAP_ROOT, uniqueIndexes.find((i) => i.auid === 'org.openmobilealliance.groups')!);
  const http = config.http.port === 0 ? null : await bindHttp(config.http.bind ?? config.sip.bind, config.http.port === 'auto' ? 0 : config.http.port);
  const xcapRootUrl = `http://${advertisedHost}:${http?.port ?? 80}${XCAP_ROOT}`;
  const xcapDiff = new XcapDiffNotifier(stack, documents, domain, auth, { xcapRootUrl, xcapRootPath: XCAP_ROOT, ...config.subscriptions }, log);
  const router = new Router(stack, domain, log).serveRegister(registrar.handle).serve('MESSAGE', messages.handle).serveEvent('xcap-diff', xcapDiff.handle);
  router.onFlowClosed = (flowId) => location.flowClosed(flowId).catch((err: unknown) => log.warn({ err }, 'flow cleanup failed'));
  stack.setUser(router);
  // an idle connection stays open while it carries a registration or an xcap-diff subscription
  stack.setFlowInUse((flowId) => location.usesFlow(flowId) || xcapDiff.usesFlow(flowId));

  const metrics = new MetricsRegistry();
  const core = coreMetrics(metrics, {
    registrationsByTransport: () => location.stats().byTransport,
    deferredDepth: () => store.recipients.reduce((n, u) => n + store.pendingFor(u), 0),
  });
  stack.onFinalResponse = core.finalResponse;
  pager.onOutcome = (o) => core.message(o);
  delivery.onDelivered = () => core.message('delivered');
  store.onExpired = (n) => core.message('expired', n);
  writesOf(ds).onCommit = core.storeCommit;

  const ports: Appliance['ports'] = { ...(await stack.start()) };
  const metricsHttp = config.metrics.port === 0 ? null : await serveMetrics(metrics, config.metrics.bind, config.metrics.port === 'auto' ? 0 : config.metrics.port, log);
  if (metricsHttp !== null) ports.METRICS = metricsHttp.port;
  delivery.start();
  const validator = new SchemaValidator({ size: 1, timeoutMs: config.xdms.validationTimeout, log });
  const sessions = new SessionStore(ds, { lifetime: config.admin.sessionLifetime, idleTimeout: config.admin.idleTimeout });
  sessions.start();
  if (http !== null) {
    ports.HTTP = http.port;
    const health = healthRoute(VERSION, {
      ports: () => ({ ...ports }) as Record<string, number>,
      registrations: () => location.size,
      storedMessages: () => store.recipients.reduce((n, u) => n + store.pendingFor(u), 0),
      transactions: () => stack.transactionCounts,
      subscriptions: () => xcapDiff.size,
      parsedCache: () => parsed.stats(),
      overload: () => stack.overloadState,
    });
    const retryAfterSeconds = Math.max(1, Math.ceil(config.xdms.validationTimeout / 1000));
    // one edit mutex per document for XCAP and the admin API, which edit the same documents
    const edits = new KeyedMutex();
    const xcapOps = { reads: 0, writes: 0 };
    const xcap = xcapServer(
      { root: XCAP_ROOT, maxBodyBytes: config.xdms.maxBodyBytes, editCacheBytes: config.xdms.editCacheBytes, retryAfterSeconds },
      { auth, store: documents, domain, validator, resolver: lists, indexes: uniqueIndexes, parsed, edits, onOperation: (k) => void (k === 'read' ? xcapOps.reads++ : xcapOps.writes++) },
    );
    const audit = new AuditLog(ds);
    const manage = new UserManagement(users, { deleteDocumentsOf: (aor) => documents.deleteOwner(aor), purgeStoredFor: (u) => store.purgeRecipient(u) }, domain);
    const openapi = openApiDocument(VERSION);
    const api = adminApi(
      {
        ...sessionRoutes(new ConsoleAccounts(ds), sessions, new LoginThrottle(config.admin.throttle), audit),
        openapi: async () => openapi as Record<string, unknown>,
        ...usersRoutes(ds, manage, location, domain),
        ...xdmsRoutes({
          store: documents,
          writes: { store: documents, validator, indexes: new Map(uniqueIndexes.map((i) => [i.auid, i])), resolver: lists, retryAfterSeconds },
          edits,
          domain,
          users,
        }),
        ...monitorRoutes(
          store,
          {
            uptimeSeconds: () => Math.round(process.uptime()),
            registrations: () => location.stats(),
            messagesPerMinute: () => pager.rate.lastHour(),
            storedMessages: () => store.recipients.reduce((n, u) => n + store.pendingFor(u), 0),
            xcapOperations: () => ({ ...xcapOps }),
          },
          audit,
        ),
      },
      { sessions, audit },
    );
    const provisioning = provisioningRoute(auth, users, () => ({
      domain: config.domain,
      host: advertisedHost,
      ports: { sip: ports.UDP ?? 0, tls: ports.TLS ?? 0, ws: ports.WS ?? 0, wss: ports.WSS ?? 0 },
      xcapRoot: xcapRootUrl,
      transport: config.provisioning.transport,
      hasIssuedCertificate: identity !== undefined,
    }));
    serveHttp(http.server, log, [health, api, provisioning, core.xcapOperations(XCAP_ROOT), xcap]);
  }
  log.info({ domain: config.domain, advertisedHost, ports, dataDir: config.dataDir, tls: credentials?.source }, 'parley started');

  return {
    ports,
    metrics,
    async stop() {
      metricsHttp?.server.close();
      delivery.stop();
      sessions.stop();
      xcapDiff.stop();
      location.stop();
      users.stop();
      stack.close();
      http?.server.close();
      await validator.close();
      await ds.destroy();
    },
  };
}
