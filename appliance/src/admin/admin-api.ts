import { timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import { Router } from '@koa/router';
import type { z } from 'zod';
import { API_PREFIX, CSRF_HEADER, LIMITS, ROUTES, SESSION_COOKIE, type RouteId, type RouteSpec } from '@parley/shared';
import { ApiError, apiErrorMiddleware, validationError } from './api-error.js';
import { readCsv, readJson } from './request-body.js';
import type { ActiveSession, SessionStore } from './session-store.js';
import type { AuditLog } from './audit-log.js';

/** Where the admin API lives on the HTTP port. */
export const API_ROOT = API_PREFIX;

type Route<K extends RouteId> = (typeof ROUTES)[K];
type Parsed<R, F extends string> = R extends Record<F, infer S> ? (S extends z.ZodType ? z.output<S> : S extends 'csv' ? string : never) : Record<string, never>;
type Reply<R> = R extends { response: infer S } ? (S extends z.ZodType ? z.input<S> : S extends 'csv' ? string : void) : never;

/** One admin API request, validated: what its handler sees. */
export interface ApiRequest<K extends RouteId = RouteId> {
  params: Parsed<Route<K>, 'params'>;
  query: Parsed<Route<K>, 'query'>;
  body: Parsed<Route<K>, 'body'>;
  /** null only on public routes (login, openapi.json) */
  session: ActiveSession | null;
  /** the client's address (audit records, login throttling) */
  source: string;
  ctx: Koa.Context;
  /** appends an audit record in the caller's name */
  audit(action: string, target: string | null, before?: unknown, after?: unknown): Promise<void>;
}

/** A handler per route; the table in `@parley/shared` says which exist and who may call them. */
export type Handlers = { [K in RouteId]: (req: ApiRequest<K>) => Promise<Reply<Route<K>>> };

export interface AdminApiDeps {
  sessions: SessionStore;
  audit: AuditLog;
}

const MUTATIONS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function parse(schema: z.ZodType | undefined, value: unknown, where: 'body' | 'query' | 'params'): unknown {
  if (schema === undefined) {
    // deny by default: input a route does not take is refused, not ignored
    const keys = value !== null && typeof value === 'object' ? Object.keys(value) : [];
    if (keys.length > 0) throw new ApiError(400, 'unknown_field', `unknown field '${keys[0]}' in ${where}`, keys[0]);
    return {};
  }
  const r = schema.safeParse(value);
  if (!r.success) throw validationError(r.error, where);
  return r.data;
}

/**
 * The admin API (issue 8) as koa middleware for the paths under `/api/v1`: JSON errors, then per
 * route, in this order: session (401), role from the route table (403 `forbidden`, deny by
 * default), CSRF token on mutations (403 `csrf_failed`), then the route's schemas for params,
 * query and body (400 naming the field), then the handler.
 */
export function adminApi(handlers: Handlers, deps: AdminApiDeps): Koa.Middleware {
  const router = new Router({ prefix: API_ROOT });
  for (const id of Object.keys(ROUTES) as RouteId[]) {
    const route: RouteSpec = ROUTES[id];
    const handler = handlers[id] as (req: ApiRequest) => Promise<unknown>;
    router.register(route.path, [route.method], async (ctx) => {
      const source = ctx.ip || 'unknown';
      let session: ActiveSession | null = null;
      if (route.roles !== 'public') {
        const token = ctx.cookies.get(SESSION_COOKIE);
        session = token ? await deps.sessions.lookup(token) : null;
        if (session === null) throw new ApiError(401, 'unauthenticated', 'log in first (no session, or it has expired)');
        if (!route.roles.includes(session.account.role)) throw new ApiError(403, 'forbidden', `the ${session.account.role} role may not do this`);
        if (MUTATIONS.has(route.method) && !sameToken(ctx.get(CSRF_HEADER) ?? '', session.csrfToken)) {
          throw new ApiError(403, 'csrf_failed', `missing or wrong ${CSRF_HEADER} header`);
        }
      }
      const params = parse(route.params, ctx.params, 'params');
      const query = parse(route.query, ctx.query, 'query');
      let body: unknown = undefined;
      if (route.body === 'csv') body = await readCsv(ctx, LIMITS.maxCsvBytes);
      else if (route.body !== undefined) body = parse(route.body, await readJson(ctx, LIMITS.maxJsonBytes), 'body');
      const actor = session?.account.name ?? 'anonymous';
      const out = await handler({
        params,
        query,
        body,
        session,
        source,
        ctx,
        audit: (action, target, before, after) => deps.audit.record({ actor, source, action, target, before, after }),
      } as ApiRequest);
      ctx.set('Cache-Control', 'no-store');
      ctx.status = route.status;
      if (route.response === 'csv') {
        ctx.type = 'text/csv; charset=utf-8';
        ctx.body = out;
      } else if (route.response === 'file') {
        // the handler set the type, the Content-Disposition and a stream as the body
      } else if (route.response !== null) ctx.body = out;
    });
  }
  const routes = router.routes();
  const methods = router.allowedMethods();
  // the routes, then @koa/router's 405 (a known path, another method); what neither answers is a
  // JSON 404 here, never the HTTP app's text one: nothing under /api/v1 goes on to XCAP
  const chain = async (ctx: Koa.Context): Promise<void> => {
    await routes(ctx as never, () => methods(ctx as never, async () => undefined));
    if (ctx.status === 404 && ctx.body === undefined) throw new ApiError(404, 'not_found', `no such endpoint: ${ctx.method} ${ctx.path}`);
    if (ctx.status === 405) throw new ApiError(405, 'method_not_allowed', `${ctx.method} is not allowed here`, undefined, { Allow: String(ctx.response.get('Allow')) });
  };
  const errors = apiErrorMiddleware();
  const prefix = `${API_ROOT}/`;
  return (ctx, next) => (ctx.path.startsWith(prefix) || ctx.path === API_ROOT ? errors(ctx, () => chain(ctx)) : next());
}
