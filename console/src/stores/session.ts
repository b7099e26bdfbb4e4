import { defineStore } from 'pinia';
import { allowed, type RouteId, type Role } from '@parley/shared';
import { api, ApiRequestError } from '../api/client';

interface SessionState {
  account: { name: string; role: Role } | null;
  expiresAt: string | null;
  /** whether the session has been asked for once (so the router knows whether to wait) */
  checked: boolean;
}

/** The console account logged in, its role and CSRF token (kept in the API client, never in storage). */
export const useSessionStore = defineStore('session', {
  state: (): SessionState => ({ account: null, expiresAt: null, checked: false }),
  getters: {
    role: (s): Role | null => s.account?.role ?? null,
    /** whether the account may call a route: the console shows only what it may do */
    can:
      (s) =>
      (id: RouteId): boolean =>
        allowed(s.account?.role ?? null, id),
  },
  actions: {
    /** Asks the appliance for the session the cookie carries, once per load. */
    async restore(): Promise<void> {
      try {
        const { data } = await api.call('session');
        this.set(data.account, data.csrfToken, data.expiresAt);
      } catch (err) {
        if (!(err instanceof ApiRequestError) || err.status !== 401) throw err;
        this.clear();
      } finally {
        this.checked = true;
      }
    },
    async login(name: string, password: string): Promise<void> {
      const { data } = await api.call('login', { body: { name, password } });
      this.set(data.account, data.csrfToken, data.expiresAt);
      this.checked = true;
    },
    async logout(): Promise<void> {
      try {
        await api.call('logout');
      } finally {
        this.clear();
      }
    },
    set(account: { name: string; role: Role }, csrfToken: string, expiresAt: string): void {
      this.account = account;
      this.expiresAt = expiresAt;
      api.csrfToken = csrfToken;
    },
    clear(): void {
      this.account = null;
      this.expiresAt = null;
      api.csrfToken = null;
    },
  },
});
