import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router';
import type { RouteId } from '@parley/shared';
import { useSessionStore } from './stores/session';

declare module 'vue-router' {
  interface RouteMeta {
    /** open without a session (the login page) */
    public?: boolean;
    /** the API route the page reads: a role that may not call it is shown the forbidden page */
    needs?: RouteId;
    /** locale key of the page title */
    title?: string;
  }
}

const routes: RouteRecordRaw[] = [
  { path: '/', redirect: '/users' },
  { path: '/login', name: 'login', component: () => import('./pages/LoginPage.vue'), meta: { public: true, title: 'login.title' } },
  { path: '/users', name: 'users', component: () => import('./pages/UsersPage.vue'), meta: { needs: 'listUsers', title: 'nav.users' } },
  { path: '/users/:name', name: 'user', component: () => import('./pages/UserPage.vue'), props: true, meta: { needs: 'getUser', title: 'user.title' } },
  { path: '/import', name: 'import', component: () => import('./pages/ImportPage.vue'), meta: { needs: 'importUsers', title: 'nav.import' } },
  { path: '/stored', name: 'stored', component: () => import('./pages/StoredPage.vue'), meta: { needs: 'listDeferred', title: 'nav.stored' } },
  { path: '/quota', name: 'quota', component: () => import('./pages/QuotaPage.vue'), meta: { needs: 'listQuotas', title: 'nav.quota' } },
  { path: '/status', name: 'status', component: () => import('./pages/StatusPage.vue'), meta: { needs: 'status', title: 'nav.status' } },
  { path: '/usage', name: 'usage', component: () => import('./pages/UsagePage.vue'), meta: { needs: 'usageExport', title: 'nav.usage' } },
  { path: '/conversations', name: 'conversations', component: () => import('./pages/ConversationsPage.vue'), meta: { needs: 'searchConversations', title: 'nav.conversations' } },
  { path: '/conversations/:id', name: 'conversation', component: () => import('./pages/ConversationPage.vue'), props: true, meta: { needs: 'getConversation', title: 'conversation.title' } },
  { path: '/audit', name: 'audit', component: () => import('./pages/AuditPage.vue'), meta: { needs: 'audit', title: 'nav.audit' } },
  { path: '/forbidden', name: 'forbidden', component: () => import('./pages/ForbiddenPage.vue'), meta: { title: 'forbidden.title' } },
  { path: '/:rest(.*)*', name: 'not-found', component: () => import('./pages/NotFoundPage.vue'), meta: { title: 'notFound.title' } },
];

/** The console's pages under /console/; every page but the login needs a session, and the role its API route asks for. */
export const router = createRouter({ history: createWebHistory('/console/'), routes });

router.beforeEach(async (to) => {
  const session = useSessionStore();
  if (!session.checked) await session.restore();
  if (to.meta.public) return session.account && to.name === 'login' ? { path: (to.query.next as string | undefined) ?? '/users' } : true;
  if (!session.account) return { name: 'login', query: to.fullPath === '/' ? {} : { next: to.fullPath } };
  if (to.meta.needs && !session.can(to.meta.needs)) return { name: 'forbidden', query: { page: to.fullPath } };
  return true;
});
