import type { QuotaEntry } from '@parley/shared';
import type { StorageQuota, UserUsage } from '../quota/storage-quota.js';
import type { Handlers } from './admin-api.js';
import { ApiError } from './api-error.js';

/** The directory's side of the quota page: every user name, and whether one exists. */
export interface QuotaUsers {
  names(): Promise<string[]>;
  exists(name: string): boolean;
}

/** A user's storage as the API shows it, with near (≥ first threshold) or over (at the quota). */
export function entryOf(u: UserUsage, firstThreshold: number): QuotaEntry {
  // at the quota nothing more fits (a zero quota is "over" from the start)
  const state = u.usedBytes >= u.quotaBytes ? 'over' : u.percent >= firstThreshold ? 'near' : 'ok';
  return { ...u, state };
}

/**
 * Storage quotas (H3, issue 11 point 5): usage per user sortable by bytes, who is near or over,
 * and per-user overrides of the default. Reading is for admin and support, changing for admin
 * (the route table says so); every change is audit-logged with the quota before and after.
 */
export function quotaRoutes(quota: StorageQuota, users: QuotaUsers): Pick<Handlers, 'listQuotas' | 'getQuota' | 'setQuota'> {
  const first = quota.levels[0];
  const entry = (name: string) => entryOf(quota.usage(name), first);
  const known = (name: string) => {
    if (!users.exists(name)) throw new ApiError(404, 'not_found', `no user '${name}'`);
  };
  return {
    async listQuotas({ query }) {
      const names = new Set([...(await users.names()), ...quota.known().filter((n) => users.exists(n))]);
      const needle = query.q?.toLowerCase();
      let items = [...names].filter((n) => needle === undefined || n.includes(needle)).map(entry);
      if (query.state === 'over') items = items.filter((e) => e.state === 'over');
      else if (query.state === 'near') items = items.filter((e) => e.state !== 'ok');
      const key = query.sort === 'user' ? null : query.sort === 'percent' ? (e: QuotaEntry) => e.usedBytes / Math.max(1, e.quotaBytes) : (e: QuotaEntry) => e.usedBytes;
      const sign = query.order === 'asc' ? 1 : -1;
      items.sort((a, b) => (key === null ? 0 : sign * (key(a) - key(b))) || (key === null ? sign : 1) * a.user.localeCompare(b.user));
      const start = (query.page - 1) * query.pageSize;
      return { defaultBytes: quota.defaultBytes, thresholds: [...quota.levels], items: items.slice(start, start + query.pageSize), total: items.length, page: query.page, pageSize: query.pageSize };
    },
    async getQuota({ params }) {
      known(params.user);
      return entry(params.user);
    },
    async setQuota(req) {
      known(req.params.user);
      const { before, after } = await quota.setQuota(req.params.user, req.body.bytes);
      await req.audit('quota.set', req.params.user, { bytes: before }, { bytes: after });
      return entry(req.params.user);
    },
  };
}
