import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import tls from 'node:tls';
import type { DataSource } from 'typeorm';
import { type Config, ConfigError } from './config/config.js';
import type { Logger } from './log.js';
import { openStore } from './store/data-source.js';
import { StoreChangeWatcher } from './store/store-changes.js';
import { warnIfReadableByOthers } from './store/data-folder.js';
import { UserDirectory } from './core/user-directory.js';
import { ServiceProfiles } from './core/service-profiles.js';
import { profileRoutes } from './admin/profile-routes.js';
import { ProfilePolicy } from './im/participating/profile-policy.js';
import { LocalDomain } from './core/local-domain.js';
import { Authenticator } from './core/authenticator.js';
import { LocationService } from './core/location-service.js';
import { Registrar } from './core/registrar.js';
import { Router } from './core/router.js';
import { LoginThrottle } from './core/login-throttle.js';
import { MessageExploder } from './im/controlling/message-exploder.js';
import { RoomFocus } from './im/controlling/room-focus.js';
import { roomDeferred } from './im/controlling/room-deferred.js';
import { ConferencePackage } from './im/controlling/conference-package.js';
import { SipError } from './sip/errors.js';
import { MessageRequestHandler } from './im/pager/message-request-handler.js';
import { OriginatingPolicy } from './im/participating/originating-policy.js';
import { SipStack } from './sip/stack.js';
import { loadTlsCredentials } from './sip/transport/tls-credentials.js';
import { loadTrustAnchors, type TlsClientOptions } from './sip/transport/tls-client.js';
import type { ListeningPorts } from './sip/transport/transport-layer.js';
import { MessageCipher } from './im/deferred/message-cipher.js';
import { ConversationStore } from './history/conversation-store.js';
import { HISTORY_AUID, HistoryView } from './history/history-view.js';
import { generatedView, type XcapView } from './xdms/xcap-view.js';
import { historyApi } from './history/history-api.js';
import { REPLAY_PREFIX, ReplayHandler } from './history/replay-handler.js';
import { PagerCapture } from './history/pager-capture.js';
import { UsageRecorder } from './usage/usage-recorder.js';
import { StoragePolicy } from './history/storage-policy.js';
import { SessionCapture } from './history/session-capture.js';
import { RoomCapture } from './history/room-capture.js';
import { DeferredStore } from './im/deferred/deferred-store.js';
import { DeferredDelivery } from './im/deferred/deferred-delivery.js';
import { MessageHandler } from './im/pager/message-handler.js';
import { ImdnAggregator } from './im/imdn/imdn-aggregator.js';
import { ImdnNotifier } from './im/imdn/imdn-notifier.js';
import { imdnRequestOf } from './im/imdn/imdn-request.js';
import type { SipRequest } from './sip/message/message.js';
import type { SenderIdentity } from './im/participating/originating-policy.js';
import { Reachability } from './im/pager/reachability.js';
import { bindHttp, serveHttp } from './http/http-app.js';
import { healthRoute } from './http/health-route.js';
import { consoleRoute } from './http/console-route.js';
import { xcapServer } from './xdms/xcap-server.js';
import { DocumentStore } from './xdms/document-store.js';
import { SchemaValidator } from './xdms/schema-validator.js';
import { TerminatingPolicy } from './im/participating/terminating-policy.js';
import { ListResolver } from './xdms/list-resolver.js';
import { AttributeIndex } from './xdms/attribute-index.js';
import { APP_USAGES } from './xdms/app-usages.js';
import { XcapDiffPackage } from './xdms/xcap-diff.js';
import { SubscriptionService } from './events/subscription-service.js';
import { SubscriptionStore } from './events/subscription-store.js';
import { Publications } from './presence/publications.js';
import { PublishHandler } from './presence/publish-handler.js';
import { PresenceComposer } from './presence/presence-composer.js';
import { PresenceAuthorizer } from './presence/presence-authorizer.js';
import { PresencePackage } from './presence/presence-package.js';
import { WatcherFeed } from './presence/watcher-feed.js';
import { WinfoPackage } from './presence/winfo-package.js';
import { RlsPackage } from './rls/rls-package.js';
import { ListLookup } from './rls/list-lookup.js';
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
import { usageRoutes } from './admin/usage-routes.js';
import { conversationRoutes } from './admin/conversation-routes.js';
import { ConversationSearch } from './history/conversation-search.js';
import { EXPORT_DEFAULTS, ExportJobs } from './history/export-jobs.js';
import { openApiDocument } from './admin/openapi.js';
import { MsrpEndpoint, type MsrpPorts } from './msrp/msrp-endpoint.js';
import { SessionRequestHandler } from './im/session/session-request-handler.js';
import { SessionHistory } from './im/session/session-history.js';
import { StorageQuota } from './quota/storage-quota.js';
import { QuotaNotices } from './quota/quota-notices.js';
import { quotaDocument } from './quota/quota-document.js';
import { quotaRoutes } from './admin/quota-routes.js';

import { MetricsRegistry } from './ops/metrics-registry.js';
import { serveMetrics } from './ops/metrics-server.js';
import { coreMetrics } from './ops/appliance-metrics.js';
import { featureMetrics } from './ops/feature-metrics.js';
import { writesOf } from './store/write-queue.js';
import { provisioningRoute, provisioningUrl } from './provisioning/provisioning-route.js';

export interface Appliance {
  ports: ListeningPorts & { HTTP?: number; METRICS?: number } & Partial<MsrpPorts>;
  /** where features add their series to /metrics (README: Metrics) */
  metrics: MetricsRegistry;
  stop(): Promise<void>;
}

/** Where XCAP documents live on the HTTP port (README: XDMS). */
export const XCAP_ROOT = '/xcap-root';
/** path of the HTTP retrieval API of stored conversations and session history (history-api.ts) */
export const HISTORY_API = '/history';

/** How often each node reads the store's change counters (a CLI change is seen within this). */
const STORE_WATCH_MS = 500;

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
  // the caches below follow other nodes' and processes' writes through one poll of store_changes
  const changes = new StoreChangeWatcher(ds, { intervalMs: STORE_WATCH_MS }, log);
  await changes.open();
  const users = new UserDirectory(ds, config.domain, log);
  await users.load();
  users.follow(changes);
  // service profiles (Y1, Y3): the configured defaults and each user's overrides, in memory
  const profiles = new ServiceProfiles(ds, config.profile, log);
  await profiles.load();
  profiles.follow(changes);
  const profilePolicy = new ProfilePolicy(profiles);
  const advertisedHost = advertisedHostOf(config);
  const domain = new LocalDomain(config.domain, [advertisedHost, ...localAddresses()]);
  const { cert, key } = config.sip.tls;
  const identity = cert !== undefined && key !== undefined ? { cert, key } : undefined;
  const usesTls = config.sip.tlsPort !== 0 || config.sip.wssPort !== 0 || config.msrp.tlsPort !== 0;
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
  // usage (charging) records, C5: sources hand them over after answering; committed in batches
  const usage = new UsageRecorder(ds, config.usage, log);
  const store = new DeferredStore(ds, cipher, config.deferred, log);
  // the deferred store knows recipients by user name; records name AORs
  store.usage = { record: (e) => usage.record({ ...e, user: domain.aor(e.user) }) };
  // H3: the storage ledger and quotas, read before anything is stored or deleted (expiry at load too)
  const quota = new StorageQuota(ds, { defaultBytes: config.quota.defaultBytes, warnAt: config.quota.warnAt, serviceAor: domain.aor(config.quota.serviceUser), domain });
  await quota.load();
  quota.follow(changes);
  store.account = quota.deferred;
  await store.load();
  // Y1: nothing is stored for a user whose profile allows no storage (the sender gets 480)
  store.gate = (recipient) => profiles.of(recipient).storage;
  const deliveryTimeoutMs = Math.min(16 * config.sip.timers.T1, 20_000);
  const delivery = new DeferredDelivery(
    stack,
    store,
    location,
    domain,
    { retryMinSec: config.deferred.retryMin, retryMaxSec: config.deferred.retryMax, timeoutMs: deliveryTimeoutMs, sweepIntervalMs: config.deferred.sweepInterval * 1000 },
    log,
  );
  users.onServiceRevoked = (names) => {
    for (const n of names) location.removeAor(domain.aor(n)).catch((err: unknown) => log.warn({ err }, 'binding removal failed'));
  };
  location.onRegistered = (aor) => {
    const user = domain.userOf(aor);
    if (user !== null) delivery.onRegistered(user);
  };
  const pager = new MessageHandler(stack, domain, location, store, delivery, { deliveryTimeoutMs, storeFullRetryAfter: config.deferred.retryAfterWhenFull }, new Reachability((flowId) => stack.hasFlow(flowId)));
  // the IM conversation storage database (seed 5.4.7, H1): conversations users asked to keep
  const conversations = new ConversationStore(ds, cipher, { keywordIndex: config.history.keywordIndex });
  await conversations.load();
  conversations.follow(changes);
  conversations.account = quota.conversations;
  conversations.gate = (owner) => {
    const user = domain.userOf(owner);
    return user !== null && !profiles.of(user).storage ? 'Storage is not allowed for this user' : null;
  };
  pager.usage = usage;
  conversations.usage = usage;
  const notices = new QuotaNotices(stack, pager, domain, config.quota.serviceUser, log);
  quota.onWarning = (w) => void notices.send(w);
  const documents = new DocumentStore(ds, log);
  // who has everything stored: the site (history.storeAll) or the user's im-preferences (Y3)
  const storagePolicy = new StoragePolicy(documents, { storeAll: config.history.storeAll }, log);
  await storagePolicy.load();
  storagePolicy.follow(changes);
  pager.capture = new PagerCapture(conversations, storagePolicy, log);
  const parsed = new ParsedDocumentCache(config.xdms.parsedCacheBytes, documents);
  const policy = new TerminatingPolicy(documents, domain);
  // the IM server's view of URI lists and groups in the shared XDMS (X5); used by the exploder and group chat
  const uniqueIndexes = APP_USAGES.filter((u) => u.uniqueAcross).map(
    (u) => new AttributeIndex(documents, u.auid, u.namespace, u.uniqueAcross!.element, u.uniqueAcross!.attribute),
  );
  const lists = new ListResolver(documents, domain, XCAP_ROOT, uniqueIndexes.find((i) => i.auid === 'org.openmobilealliance.groups')!);
  // the controlling function's message exploder (P3): the conference factory and group URIs
  // IMDN (P5, RFC 5438): the exploder's aggregation, and the notifications we send as an intermediary
  const deliverImdn = (req: SipRequest, from: SenderIdentity, toUser: string) => pager.deliver(req, from, toUser);
  const aggregator = new ImdnAggregator(stack, deliverImdn, { windowMs: config.imdn.aggregationWindow * 1000, stateTtlMs: config.imdn.stateTtl * 1000 }, log);
  const notifier = new ImdnNotifier(stack, domain, deliverImdn, log, (service, recipient, doc) => aggregator.accept(service, recipient, doc));
  pager.onDeferred = (req, sender, recipient) => {
    const asked = imdnRequestOf(req.headers.get('content-type') ?? '', req.body);
    if (asked !== null) notifier.stored(asked, domain.aor(recipient), sender.aor);
  };
  store.onExpiredMessage = (m) => {
    const asked = imdnRequestOf(m.contentType, m.body);
    if (asked !== null) notifier.expired(asked, domain.aor(m.recipient), m.senderAor);
  };
  const exploder = new MessageExploder(stack, domain, users, lists, policy, pager, config.conference, log, aggregator);
  exploder.capture = pager.capture;
  const messages = new MessageRequestHandler(auth, users, domain, new OriginatingPolicy(domain), policy, pager, lists, exploder);
  exploder.profiles = profilePolicy;
  messages.profiles = profilePolicy;
  const http = config.http.port === 0 ? null : await bindHttp(config.http.bind ?? config.sip.bind, config.http.port === 'auto' ? 0 : config.http.port);
  // the HTTP port as clients reach it: XCAP root and provisioning URLs
  const httpBaseUrl = `http://${advertisedHost}:${http?.port ?? 80}`;
  const xcapRootUrl = `${httpBaseUrl}${XCAP_ROOT}`;
  // one subscription framework (RFC 6665) for every event package
  const subscriptions = new SubscriptionService(stack, auth, domain, new SubscriptionStore(ds), config.subscriptions, log);
  // the im-history usage: each user's document is a view of their stored conversations (H1)
  const replayUri = (publicId: string): string => domain.aor(`${REPLAY_PREFIX}${publicId}`);
  const historyView = new HistoryView(conversations, { replayUri, watched: (owner) => subscriptions.watchersOf('xcap-diff', owner).length > 0 }, log);
  const xcapDiff = new XcapDiffPackage(subscriptions, documents, domain, { xcapRootUrl, xcapRootPath: XCAP_ROOT, generated: (owner) => historyView.documentsOf(owner) });
  historyView.onDocumentChanged = (change) => xcapDiff.generatedChanged(change);
  const router = new Router(stack, domain, log).serveRegister(registrar.handle).serve('MESSAGE', messages.handle);
  router.serveEvent(xcapDiff.event, subscriptions.register(xcapDiff));
  // the presence server (R1-R4): PUBLISH, presence and watcher-info subscriptions
  const publications = new Publications(config.presence.maxPublicationsPerUser);
  const composer = new PresenceComposer(publications, documents, location, log);
  location.onBindingsChanged = (aor) => composer.registrationChanged(aor);
  const authorizer = new PresenceAuthorizer(documents);
  // who watches whom (SIP watchers and the RLS's back-end ones), for watcher information
  const watchers = new WatcherFeed(log);
  const presence = new PresencePackage(subscriptions, composer, authorizer, users, domain, watchers, log);
  const winfo = new WinfoPackage(subscriptions, presence, watchers);
  // the resource list server (R3): presence SUBSCRIBEs to list URIs
  const rlsServices = uniqueIndexes.find((i) => i.auid === 'rls-services')!;
  const rls = new RlsPackage(subscriptions, new ListLookup(documents, rlsServices, lists, domain), composer, authorizer, documents, users, domain, watchers, log);
  subscriptions.register(rls);
  router.serve('PUBLISH', new PublishHandler(stack, auth, domain, publications, config.presence).handle);
  router.serveEvent(presence.event, subscriptions.register(presence));
  router.serveEvent(winfo.event, subscriptions.register(winfo));
  // session-mode IM (S1, P4): our MSRP endpoint and the INVITE/BYE handlers; msrp.port 0 turns it off
  const msrp =
    config.msrp.port === 0
      ? null
      : new MsrpEndpoint(
          {
            host: advertisedHost,
            bind: config.sip.bind,
            port: config.msrp.port === 'auto' ? 0 : config.msrp.port,
            tlsPort: config.msrp.tlsPort === 0 ? null : config.msrp.tlsPort === 'auto' ? 0 : config.msrp.tlsPort,
            tls: credentials ? { cert: credentials.cert, key: credentials.key } : undefined,
            maxChunkBytes: config.msrp.maxChunkBytes,
            maxHeaderBytes: 16 * 1024,
            transactionTimeoutMs: config.msrp.transactionTimeout,
            maxMessageBytes: config.msrp.maxMessageBytes,
            chunkBytes: config.msrp.chunkBytes,
          },
          (err, where) => log.debug({ err, where }, 'MSRP connection problem'),
        );
  const sessionHistory = new SessionHistory(ds);
  sessionHistory.usage = usage;
  const sessionHandler =
    msrp === null
      ? null
      : new SessionRequestHandler(
          { stack, domain, auth, users, originating: new OriginatingPolicy(domain), terminating: policy, location, endpoint: msrp, store, delivery, history: sessionHistory, log, profiles: profilePolicy, capture: new SessionCapture(conversations, storagePolicy, log) },
          { media: config.sessions.media, ringTimeoutMs: config.sessions.ringTimeout * 1000, maxMessageBytes: config.msrp.maxMessageBytes, bindTimeoutMs: 10_000 },
        );
  // the conference focus (S3): INVITEs to group URIs and BYEs in room dialogs; the rest is one-to-one
  const focus =
    msrp === null
      ? null
      : new RoomFocus(
          {
            stack,
            domain,
            auth,
            originating: new OriginatingPolicy(domain),
            terminating: policy,
            lists,
            endpoint: msrp,
            location,
            log,
            absent: roomDeferred({ domain, location, store, delivery }),
            history: sessionHistory,
            capture: new RoomCapture(conversations, storagePolicy, log),
          },
          { ...config.conference, ringTimeoutMs: config.sessions.ringTimeout * 1000, maxMessageBytes: config.msrp.maxMessageBytes },
        );
  // replay of stored conversations over MSRP (H1): INVITEs to sip:history-<id>@domain
  const replay =
    msrp === null
      ? null
      : new ReplayHandler(
          { stack, auth, originating: new OriginatingPolicy(domain), endpoint: msrp, store: conversations, log },
          { maxMessageBytes: config.msrp.maxMessageBytes, bindTimeoutMs: 10_000, pageSize: 100 },
        );
  if (focus !== null) focus.profiles = profilePolicy;
  if (sessionHandler !== null && focus !== null && replay !== null) {
    // the conference event package (RFC 4575, S5): participant lists of the rooms this node owns
    const conference = new ConferencePackage(subscriptions, focus, domain);
    router.serveEvent(conference.event, subscriptions.register(conference));
    // C5: one usage record per room membership, when it ends
    const toConference = focus.onRoomChange;
    focus.onRoomChange = (room, change) => {
      toConference(room, change);
      if (change.kind !== 'left') return;
      const joined = change.p.joinedAt ?? change.departure.at;
      const how = change.departure.reason === undefined ? change.departure.method : `${change.departure.method}: ${change.departure.reason}`;
      usage.record({ kind: 'room', at: joined, user: change.p.aor, peer: room.uri, outcome: 'left', reason: how, messages: change.p.sent ?? 0, durationMs: change.departure.at - joined });
    };
    router
      .serve('INVITE', async (req, tx) => (replay.claims(req) ? replay.handleInvite(req, tx) : (await focus.claims(req)) ? focus.handleInvite(req, tx) : sessionHandler.handleInvite(req, tx)))
      .serve('BYE', async (req, tx) => (replay.claims(req) ? replay.handleBye(req, tx) : (await focus.claims(req)) ? focus.handleBye(req, tx) : sessionHandler.handleBye(req, tx)))
      // UPDATE (RFC 3311): session refreshes and re-offers inside session and room dialogs
      .serve('UPDATE', async (req, tx) => {
        if (req.toTag === undefined) throw new SipError(481, 'Call/Transaction Does Not Exist');
        return (await focus.claims(req)) ? focus.handleInDialog(req, tx) : sessionHandler.handleInDialog(req, tx);
      })
      // REFER (RFC 3515) is only for rooms: invite more (RFC 4579 §5.5)
      .serve('REFER', async (req, tx) => {
        if (!(await focus.claims(req))) throw new SipError(req.toTag === undefined ? 404 : 481, req.toTag === undefined ? 'Not Found' : 'Call/Transaction Does Not Exist');
        return focus.handleRefer(req, tx);
      });
  }
  // RFC 7977: MSRP over the SIP WebSocket ports, sub-protocol "msrp"
  if (msrp !== null) stack.serveWebSocketSubprotocol('msrp', config.msrp.maxChunkBytes + 16 * 1024, (ws, remote, secure) => msrp.adoptWebSocket(ws, remote, secure));
  router.onFlowClosed = (flowId) => location.flowClosed(flowId).catch((err: unknown) => log.warn({ err }, 'flow cleanup failed'));
  stack.setUser(router);
  // an idle connection stays open while it carries a registration, a subscription or a session
  stack.setFlowInUse((flowId) => location.usesFlow(flowId) || subscriptions.usesFlow(flowId) || (sessionHandler?.usesFlow(flowId) ?? false));

  const metrics = new MetricsRegistry();
  const core = coreMetrics(metrics, {
    registrationsByTransport: () => location.stats().byTransport,
    deferredDepth: () => store.recipients.reduce((n, u) => n + store.pendingFor(u), 0),
  });
  stack.onFinalResponse = core.finalResponse;
  pager.onOutcome = (o) => core.message(o);
  delivery.onDelivered = (m) => {
    core.message('delivered');
    usage.record({ kind: 'deferred', user: domain.aor(m.recipient), peer: m.senderAor, outcome: 'delivered', bytes: m.body.length });
  };
  store.onExpired = (n) => core.message('expired', n);
  writesOf(ds).onCommit = core.storeCommit;
  const features = featureMetrics(metrics, {
    subscriptions: () => subscriptions.countsByState(),
    oneToOneSessions: () => sessionHandler?.size ?? 0,
    msrpSessionsByTransport: () => msrp?.sessionsByTransport() ?? {},
    rooms: () => ({ rooms: focus?.roomCount ?? 0, participants: focus?.size ?? 0 }),
  });
  if (sessionHandler !== null) sessionHandler.onMessageSwitched = () => features.msrpMessage('one_to_one');
  if (focus !== null) focus.onMessageRelayed = () => features.msrpMessage('room');

  const ports: Appliance['ports'] = { ...(await stack.start()) };
  if (msrp !== null) {
    Object.assign(ports, await msrp.listen());
    msrp.webSocketPorts = { ws: ports.WS, wss: ports.WSS };
  }
  const metricsHttp = config.metrics.port === 0 ? null : await serveMetrics(metrics, config.metrics.bind, config.metrics.port === 'auto' ? 0 : config.metrics.port, log);
  if (metricsHttp !== null) ports.METRICS = metricsHttp.port;
  delivery.start();
  changes.start();
  const restored = await subscriptions.restore();
  if (restored > 0) log.info({ restored }, 'subscriptions restored from the store');
  const validator = new SchemaValidator({ size: 1, timeoutMs: config.xdms.validationTimeout, log });
  const sessions = new SessionStore(ds, { lifetime: config.admin.sessionLifetime, idleTimeout: config.admin.idleTimeout });
  sessions.start();
  let exports: ExportJobs | null = null;
  if (http !== null) {
    ports.HTTP = http.port;
    const health = healthRoute(VERSION, {
      ports: () => ({ ...ports }) as Record<string, number>,
      registrations: () => location.size,
      storedMessages: () => store.recipients.reduce((n, u) => n + store.pendingFor(u), 0),
      transactions: () => stack.transactionCounts,
      subscriptions: () => Object.values(subscriptions.counts()).reduce((a, b) => a + b, 0),
      subscriptionsByEvent: () => subscriptions.counts(),
      parsedCache: () => parsed.stats(),
      overload: () => stack.overloadState,
      sessions: () => (msrp === null ? null : { oneToOne: sessionHandler?.size ?? 0, msrpSessions: msrp.stats.sessions, msrpConnections: msrp.stats.connections }),
    });
    const retryAfterSeconds = Math.max(1, Math.ceil(config.xdms.validationTimeout / 1000));
    // one edit mutex per document for XCAP and the admin API, which edit the same documents
    const edits = new KeyedMutex();
    const xcapOps = { reads: 0, writes: 0 };
    const xcap = xcapServer(
      { root: XCAP_ROOT, maxBodyBytes: config.xdms.maxBodyBytes, editCacheBytes: config.xdms.editCacheBytes, retryAfterSeconds },
      {
        auth,
        store: documents,
        domain,
        validator,
        resolver: lists,
        indexes: uniqueIndexes,
        parsed,
        edits,
        onOperation: (k) => void (k === 'read' ? xcapOps.reads++ : xcapOps.writes++),
        // H3: the user's storage and quota, generated from the ledger
        views: new Map<string, XcapView>([
          [HISTORY_AUID, historyView],
          ['storage-quota', generatedView('index', (owner: string) => quotaDocument(quota.usage(domain.userOf(owner) ?? owner), quota.levels))],
        ]),
      },
    );
    const audit = new AuditLog(ds);
    // DATA/exports held an earlier version's export files (opened bodies): deleted at start
    exports = new ExportJobs(ds, conversations, { ...EXPORT_DEFAULTS, legacyDir: path.join(config.dataDir, 'exports') }, log);
    const manage = new UserManagement(users, { deleteDocumentsOf: (aor) => documents.deleteOwner(aor), purgeStoredFor: (u) => store.purgeRecipient(u) }, domain, profiles);
    const openapi = openApiDocument(VERSION);
    const api = adminApi(
      {
        ...sessionRoutes(new ConsoleAccounts(ds), sessions, new LoginThrottle(config.admin.throttle), audit),
        openapi: async () => openapi as Record<string, unknown>,
        ...usageRoutes(ds, config.domain),
        ...usersRoutes(ds, manage, location, domain, (name) => provisioningUrl(httpBaseUrl, name)),
        ...profileRoutes(manage),
        ...xdmsRoutes({
          store: documents,
          writes: { store: documents, validator, indexes: new Map(uniqueIndexes.map((i) => [i.auid, i])), resolver: lists, retryAfterSeconds },
          edits,
          domain,
          users,
        }),
        ...quotaRoutes(quota, { names: async () => (await users.list()).map((u) => u.username), exists: (name) => users.get(name) !== undefined }),
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
        // stored conversations for support (A2/A3); export jobs and their output live in the store, any node serves them
        ...conversationRoutes({
          ds,
          store: conversations,
          search: new ConversationSearch(ds),
          exports,
          domain,
        }),
      },
      { sessions, audit },
    );
    // the renderer `npm run build` puts beside the appliance (console/dist), unless configured
    const consoleDir = config.http.consoleDir ?? fileURLToPath(new URL('../../console/dist', import.meta.url));
    const provisioning = provisioningRoute(auth, users, () => ({
      domain: config.domain,
      host: advertisedHost,
      ports: { sip: ports.UDP ?? 0, tls: ports.TLS ?? 0, ws: ports.WS ?? 0, wss: ports.WSS ?? 0 },
      xcapRoot: xcapRootUrl,
      transport: config.provisioning.transport,
      hasIssuedCertificate: identity !== undefined,
      conferenceFactoryUser: config.conference.factoryUser,
    }));
    // HTTP retrieval of stored conversations and session history, behind the aggregation proxy's digest (H1, H2)
    const history = historyApi({ prefix: HISTORY_API, replayUri }, { auth, domain, store: conversations, ds });
    serveHttp(http.server, log, [health, api, provisioning, core.xcapOperations(XCAP_ROOT), xcap, history, consoleRoute({ dir: consoleDir })]);
  }
  log.info({ domain: config.domain, advertisedHost, ports, dataDir: config.dataDir, tls: credentials?.source }, 'parley started');

  return {
    ports,
    metrics,
    async stop() {
      sessionHandler?.close();
      replay?.close();
      focus?.close();
      msrp?.close();
      metricsHttp?.server.close();
      delivery.stop();
      changes.stop();
      aggregator.stop();
      sessions.stop();
      exports?.close();
      subscriptions.stop();
      publications.stop();
      location.stop();
      stack.close();
      http?.server.close();
      await validator.close();
      // what the last moments recorded is committed before the store closes (SIGTERM)
      await usage.close();
      await ds.destroy();
    },
  };
}
