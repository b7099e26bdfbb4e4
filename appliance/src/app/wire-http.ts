import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataSource } from 'typeorm';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import { profileRoutes } from '../admin/profile-routes.js';
import { LoginThrottle } from '../core/login-throttle.js';
import { HISTORY_AUID } from '../history/history-view.js';
import { generatedView, type XcapView } from '../xdms/xcap-view.js';
import { historyApi } from '../history/history-api.js';
import { serveHttp, type bindHttp } from '../http/http-app.js';
import { healthRoute } from '../http/health-route.js';
import { consoleRoute } from '../http/console-route.js';
import { xcapServer } from '../xdms/xcap-server.js';
import { SchemaValidator } from '../xdms/schema-validator.js';
import { VERSION } from '../version.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import { UserManagement } from '../core/user-management.js';
import { adminApi } from '../admin/admin-api.js';
import { AuditLog } from '../admin/audit-log.js';
import { ConsoleAccounts } from '../admin/console-accounts.js';
import { SessionStore } from '../admin/session-store.js';
import { sessionRoutes } from '../admin/session-routes.js';
import { usersRoutes } from '../admin/users-routes.js';
import { xdmsRoutes } from '../admin/xdms-routes.js';
import { monitorRoutes } from '../admin/monitor-routes.js';
import { usageRoutes } from '../admin/usage-routes.js';
import { conversationRoutes } from '../admin/conversation-routes.js';
import { ConversationSearch } from '../history/conversation-search.js';
import { EXPORT_DEFAULTS, ExportJobs } from '../history/export-jobs.js';
import { openApiDocument } from '../admin/openapi.js';
import { quotaDocument } from '../quota/quota-document.js';
import { quotaRoutes } from '../admin/quota-routes.js';
import { coreMetrics } from '../ops/appliance-metrics.js';
import { provisioningRoute, provisioningUrl } from '../provisioning/provisioning-route.js';
import type { Core } from './wire-core.js';
import type { Storage } from './wire-storage.js';
import type { Im } from './wire-im.js';
import type { Events } from './wire-events.js';
import type { Sessions } from './wire-sessions.js';
import type { AppliancePorts } from './appliance-types.js';
import { HISTORY_API, XCAP_ROOT } from './paths.js';

/** What the HTTP side is built from. */
export interface HttpParts {
  core: Core;
  storage: Storage;
  im: Im;
  events: Events;
  sessions: Sessions;
  /** the core's /metrics series (XCAP operations are counted by a koa middleware of it) */
  coreSeries: ReturnType<typeof coreMetrics>;
  httpBaseUrl: string;
  xcapRootUrl: string;
}

/**
 * The HTTP side on its bound listener: /health, the admin API (with console sessions and export
 * jobs), provisioning, the XCAP server, the history API and the console. The schema validator and
 * the console session store are made even without HTTP, as before.
 */
export function wireHttp(config: Config, log: Logger, ds: DataSource, http: Awaited<ReturnType<typeof bindHttp>> | null, ports: AppliancePorts, parts: HttpParts) {
  const { users, profiles, domain, stack, auth, location, advertisedHost, identity } = parts.core;
  const { store, quota, pager, conversations, documents } = parts.storage;
  const { parsed, uniqueIndexes, lists } = parts.im;
  const { subscriptions, historyView, replayUri } = parts.events;
  const { msrp, sessionHandler } = parts.sessions;
  const { coreSeries, httpBaseUrl, xcapRootUrl } = parts;
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
    const consoleDir = config.http.consoleDir ?? fileURLToPath(new URL('../../../console/dist', import.meta.url));
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
    serveHttp(http.server, log, [health, api, provisioning, coreSeries.xcapOperations(XCAP_ROOT), xcap, history, consoleRoute({ dir: consoleDir })]);
  }
  return { validator, sessions, exports };
}
