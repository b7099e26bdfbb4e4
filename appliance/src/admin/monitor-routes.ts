import { TRANSPORTS, type Status } from '@parley/shared';
import type { DeferredStore } from '../im/deferred/deferred-store.js';
import type { Handlers } from './admin-api.js';
import type { AuditFilter, AuditLog } from './audit-log.js';

/** The appliance's own figures, the same counters /health reads (main.ts wires them). */
export interface StatusSource {
  uptimeSeconds(): number;
  registrations(): { users: number; devices: number; byTransport: Record<string, number> };
  messagesPerMinute(): { minute: string; count: number }[];
  storedMessages(): number;
  xcapOperations(): { reads: number; writes: number };
}

const filterOf = (q: AuditFilter): AuditFilter => ({ actor: q.actor, action: q.action, from: q.from, to: q.to });

/** Stored messages (counts only, never bodies), live status, and the audit log. */
export function monitorRoutes(stored: DeferredStore, status: StatusSource, audit: AuditLog): Pick<Handlers, 'listDeferred' | 'purgeDeferred' | 'status' | 'audit' | 'auditCsv'> {
  return {
    async listDeferred({ query }) {
      const { items, total } = await stored.summary(query.page, query.pageSize);
      return { items: items.map((i) => ({ ...i, oldestAt: new Date(i.oldestAt).toISOString() })), total };
    },
    async purgeDeferred(req) {
      const before = stored.pendingFor(req.params.user);
      const purged = await stored.purgeRecipient(req.params.user);
      await req.audit('deferred.purge', req.params.user, { count: before }, { purged });
      return { purged };
    },
    async status() {
      const mem = process.memoryUsage();
      const reg = status.registrations();
      const byTransport = Object.fromEntries(TRANSPORTS.map((t) => [t, reg.byTransport[t.toUpperCase()] ?? 0])) as Status['registrations']['byTransport'];
      return {
        uptimeSeconds: status.uptimeSeconds(),
        memory: { rss: mem.rss, heapUsed: mem.heapUsed },
        registrations: { users: reg.users, devices: reg.devices, byTransport },
        messagesPerMinute: status.messagesPerMinute(),
        storedMessages: status.storedMessages(),
        xcapOperations: status.xcapOperations(),
      };
    },
    async audit({ query }) {
      return audit.query(filterOf(query), query.page, query.pageSize);
    },
    async auditCsv({ query, ctx }) {
      ctx.attachment('parley-audit.csv');
      return audit.csv(filterOf(query));
    },
  };
}
