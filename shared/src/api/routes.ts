import { z } from 'zod';
import { ApiErrorSchema } from './common.js';
import { LoginRequestSchema, SessionSchema, type Role } from './session.js';
import {
  CreateUserRequestSchema,
  CreatedUserSchema,
  DeleteUserResponseSchema,
  PasswordResetRequestSchema,
  PasswordResetResponseSchema,
  UpdateUserRequestSchema,
  UserDetailSchema,
  UserListQuerySchema,
  UserListSchema,
  UserParamsSchema,
} from './users.js';
import { ImportQuerySchema, ImportResultSchema } from './import.js';
import { ProfileSchema, UpdateProfileRequestSchema } from './profile.js';
import { BlockedBodySchema, BlockedSchema, GroupBodySchema, GroupListSchema, GroupParamsSchema, GroupSchema } from './groups.js';
import { DeferredListSchema, DeferredParamsSchema, DeferredQuerySchema, PurgeResultSchema } from './deferred.js';
import { StatusSchema } from './status.js';
import { AuditCsvQuerySchema, AuditListSchema, AuditQuerySchema } from './audit.js';
import { UsageExportQuerySchema } from './usage.js';
import { QuotaEntrySchema, QuotaListQuerySchema, QuotaListSchema, QuotaParamsSchema, QuotaUpdateSchema } from './quota.js';
import {
  ConversationMessagesQuerySchema,
  ConversationMessagesSchema,
  ConversationParamsSchema,
  ConversationSearchQuerySchema,
  ConversationSearchResultSchema,
  ConversationSummarySchema,
  CreateExportBodySchema,
  ExportJobSchema,
  ExportParamsSchema,
  SessionHistoryListSchema,
  SessionHistoryParamsSchema,
  SessionHistoryQuerySchema,
} from './conversations.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One endpoint of the admin API: its schemas, and who may call it. */
export interface RouteSpec {
  method: HttpMethod;
  /** under /api/v1, with :params */
  path: string;
  summary: string;
  params?: z.ZodType;
  query?: z.ZodType;
  /** JSON body, or 'csv' for a text/csv body */
  body?: z.ZodType | 'csv';
  /** success status and body ('csv': a text/csv download; 'file': a streamed download whose type the handler sets; null: no body) */
  status: number;
  response: z.ZodType | 'csv' | 'file' | null;
  /** roles allowed; an empty list means no session is needed */
  roles: readonly Role[] | 'public';
  /** the response carries an ETag, and the request honours If-Match */
  etag?: boolean;
}

const ADMIN = ['admin'] as const;
const ANYONE = ['admin', 'support'] as const;
const route = <T extends RouteSpec>(r: T): T => r;

/**
 * Every endpoint of `/api/v1`, and the one table of permissions: a request is refused unless its
 * route names the caller's role (deny by default; `support` may only read users, stored conversations (and export them), stored-message
 * counts and status). The appliance validates with these schemas and generates its OpenAPI
 * document from them; the console builds its client from them.
 */
export const ROUTES = {
  login: route({ method: 'POST', path: '/session', summary: 'Log in (sets the session cookie)', body: LoginRequestSchema, status: 200, response: SessionSchema, roles: 'public' }),
  session: route({ method: 'GET', path: '/session', summary: 'The current session', status: 200, response: SessionSchema, roles: ANYONE }),
  logout: route({ method: 'DELETE', path: '/session', summary: 'Log out', status: 204, response: null, roles: ANYONE }),
  openapi: route({ method: 'GET', path: '/openapi.json', summary: 'This API as an OpenAPI 3.1 document', status: 200, response: z.record(z.string(), z.unknown()), roles: 'public' }),

  listUsers: route({ method: 'GET', path: '/users', summary: 'Find users', query: UserListQuerySchema, status: 200, response: UserListSchema, roles: ANYONE }),
  createUser: route({ method: 'POST', path: '/users', summary: 'Create a user', body: CreateUserRequestSchema, status: 201, response: CreatedUserSchema, roles: ADMIN }),
  importUsers: route({ method: 'POST', path: '/users/import', summary: 'Import users from CSV (dry run by default)', query: ImportQuerySchema, body: 'csv', status: 200, response: ImportResultSchema, roles: ADMIN }),
  getUser: route({ method: 'GET', path: '/users/:name', summary: 'One user', params: UserParamsSchema, status: 200, response: UserDetailSchema, roles: ANYONE }),
  updateUser: route({ method: 'PATCH', path: '/users/:name', summary: 'Change display name, disable or enable', params: UserParamsSchema, body: UpdateUserRequestSchema, status: 200, response: UserDetailSchema, roles: ADMIN }),
  resetPassword: route({ method: 'POST', path: '/users/:name/password', summary: "Set or generate a user's password", params: UserParamsSchema, body: PasswordResetRequestSchema, status: 200, response: PasswordResetResponseSchema, roles: ADMIN }),
  getProfile: route({ method: 'GET', path: '/users/:name/profile', summary: "A user's service profile (IM, group chat, storage, size and type limits)", params: UserParamsSchema, status: 200, response: ProfileSchema, roles: ANYONE }),
  updateProfile: route({ method: 'PATCH', path: '/users/:name/profile', summary: "Change a user's service profile (null: back to the default)", params: UserParamsSchema, body: UpdateProfileRequestSchema, status: 200, response: ProfileSchema, roles: ADMIN }),
  deleteUser: route({ method: 'DELETE', path: '/users/:name', summary: 'Delete a user, their XCAP documents and their stored messages', params: UserParamsSchema, status: 200, response: DeleteUserResponseSchema, roles: ADMIN }),

  listGroups: route({ method: 'GET', path: '/users/:name/groups', summary: "A user's groups", params: UserParamsSchema, status: 200, response: GroupListSchema, roles: ANYONE, etag: true }),
  getGroup: route({ method: 'GET', path: '/users/:name/groups/:group', summary: 'One group', params: GroupParamsSchema, status: 200, response: GroupSchema, roles: ANYONE, etag: true }),
  putGroup: route({ method: 'PUT', path: '/users/:name/groups/:group', summary: 'Create or replace a group', params: GroupParamsSchema, body: GroupBodySchema, status: 200, response: GroupSchema, roles: ADMIN, etag: true }),
  deleteGroup: route({ method: 'DELETE', path: '/users/:name/groups/:group', summary: 'Delete a group', params: GroupParamsSchema, status: 204, response: null, roles: ADMIN, etag: true }),
  getBlocked: route({ method: 'GET', path: '/users/:name/blocked', summary: "A user's blocked senders", params: UserParamsSchema, status: 200, response: BlockedSchema, roles: ANYONE, etag: true }),
  putBlocked: route({ method: 'PUT', path: '/users/:name/blocked', summary: "Replace a user's blocked senders", params: UserParamsSchema, body: BlockedBodySchema, status: 200, response: BlockedSchema, roles: ADMIN, etag: true }),

  listDeferred: route({ method: 'GET', path: '/deferred', summary: 'Stored messages per user (counts, never bodies)', query: DeferredQuerySchema, status: 200, response: DeferredListSchema, roles: ANYONE }),
  purgeDeferred: route({ method: 'DELETE', path: '/deferred/:user', summary: "Purge one user's stored messages", params: DeferredParamsSchema, status: 200, response: PurgeResultSchema, roles: ADMIN }),

  listQuotas: route({ method: 'GET', path: '/quotas', summary: 'Storage per user against the quotas, and the default', query: QuotaListQuerySchema, status: 200, response: QuotaListSchema, roles: ANYONE }),
  getQuota: route({ method: 'GET', path: '/quotas/:user', summary: "One user's storage and quota", params: QuotaParamsSchema, status: 200, response: QuotaEntrySchema, roles: ANYONE }),
  setQuota: route({ method: 'PUT', path: '/quotas/:user', summary: "Set a user's own quota (bytes), or null for the default", params: QuotaParamsSchema, body: QuotaUpdateSchema, status: 200, response: QuotaEntrySchema, roles: ADMIN }),

  status: route({ method: 'GET', path: '/status', summary: 'Live status', status: 200, response: StatusSchema, roles: ANYONE }),

  audit: route({ method: 'GET', path: '/audit', summary: 'The audit log, newest first', query: AuditQuerySchema, status: 200, response: AuditListSchema, roles: ADMIN }),
  auditCsv: route({ method: 'GET', path: '/audit.csv', summary: 'The audit log as CSV', query: AuditCsvQuerySchema, status: 200, response: 'csv', roles: ADMIN }),

  usageExport: route({ method: 'GET', path: '/usage/export', summary: 'Usage records of a time range as CSV or JSON Lines (streamed; audit-logged)', query: UsageExportQuerySchema, status: 200, response: 'file', roles: ANYONE }),
  // stored conversations (issue 11, A2/A3): support reads and exports (both audited), as admins do
  searchConversations: route({ method: 'GET', path: '/conversations', summary: 'Search stored conversations of all users, newest match first', query: ConversationSearchQuerySchema, status: 200, response: ConversationSearchResultSchema, roles: ANYONE }),
  getConversation: route({ method: 'GET', path: '/conversations/:id', summary: 'One stored conversation (no bodies)', params: ConversationParamsSchema, status: 200, response: ConversationSummarySchema, roles: ANYONE }),
  conversationMessages: route({ method: 'GET', path: '/conversations/:id/messages', summary: "A page of a conversation's messages, opened (audited)", params: ConversationParamsSchema, query: ConversationMessagesQuerySchema, status: 200, response: ConversationMessagesSchema, roles: ANYONE }),
  createExport: route({ method: 'POST', path: '/conversations/:id/exports', summary: 'Start exporting a conversation as JSON, CSV or HTML (audited)', params: ConversationParamsSchema, body: CreateExportBodySchema, status: 202, response: ExportJobSchema, roles: ANYONE }),
  getExport: route({ method: 'GET', path: '/exports/:job', summary: "An export job's progress", params: ExportParamsSchema, status: 200, response: ExportJobSchema, roles: ANYONE }),
  downloadExport: route({ method: 'GET', path: '/exports/:job/download', summary: "A finished export's file (audited)", params: ExportParamsSchema, status: 200, response: 'file', roles: ANYONE }),
  userSessions: route({ method: 'GET', path: '/users/:name/sessions', summary: "A user's finished sessions, newest first", params: SessionHistoryParamsSchema, query: SessionHistoryQuerySchema, status: 200, response: SessionHistoryListSchema, roles: ANYONE }),
} as const satisfies Record<string, RouteSpec>;

export type RouteId = keyof typeof ROUTES;

/** Where the API lives on the appliance's HTTP port. */
export const API_PREFIX = '/api/v1';

/**
 * The path of a route with its :params filled in (percent-encoded), for clients.
 * @example pathOf('getGroup', { name: 'alice', group: 'team' }) // '/api/v1/users/alice/groups/team'
 */
export function pathOf(id: RouteId, params: Record<string, string> = {}): string {
  return (
    API_PREFIX +
    ROUTES[id].path.replace(/:(\w+)/g, (_, key: string) => {
      const v = params[key];
      if (v === undefined) throw new Error(`pathOf(${id}): no value for :${key}`);
      return encodeURIComponent(v);
    })
  );
}

/** Whether a role may call a route (the console hides what it may not). */
export function allowed(role: Role | null, id: RouteId): boolean {
  const roles = ROUTES[id].roles as RouteSpec['roles'];
  if (roles === 'public') return true;
  return role !== null && roles.includes(role);
}

export { ApiErrorSchema };
