import type { z } from 'zod';
import { CSRF_HEADER, ROUTES, pathOf, type RouteId } from '@parley/shared';


type Spec<K extends RouteId> = (typeof ROUTES)[K];
type Schema<T> = T extends z.ZodType ? T : never;

/** The JSON a route answers with, from the shared schema (void for 204, string for CSV). */
export type ResponseOf<K extends RouteId> = Spec<K>['response'] extends z.ZodType ? z.infer<Schema<Spec<K>['response']>> : Spec<K>['response'] extends 'csv' | 'file' ? string : void;
/** The body a route takes, as the caller writes it (before the schema's transforms). */
export type BodyOf<K extends RouteId> = Spec<K> extends { body: infer B } ? (B extends z.ZodType ? z.input<B> : string) : never;
/** The query a route takes, as the caller writes it. */
export type QueryOf<K extends RouteId> = Spec<K> extends { query: infer Q } ? (Q extends z.ZodType ? z.input<Q> : never) : never;

export interface CallOptions<K extends RouteId> {
  params?: Record<string, string>;
  query?: QueryOf<K> | Record<string, string | number | boolean | undefined>;
  body?: BodyOf<K>;
  /** the ETag the change is based on (If-Match); a stale one gets 412 */
  ifMatch?: string;
}

export interface ApiResult<T> {
  data: T;
  /** the ETag of a versioned resource (groups, block lists) */
  etag: string | null;
}

/** A failed API call: the status and the API's `{error: {code, message, field?}}`. */
export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiRequestError';
  }
}

const MUTATIONS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A query string from the defined values only (`?a=1&b=x`, or '' when there are none). */
export function queryString(query: Record<string, unknown> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/**
 * A typed client built from the shared route table: one function for every endpoint, the
 * method and path from `ROUTES`, the CSRF token on every mutation (the session gives it), and
 * the API's error shape turned into an `ApiRequestError`.
 */
export class ApiClient {
  csrfToken: string | null = null;
  /** called when a request other than a login gets 401: the session is gone */
  onUnauthorized: (() => void) | null = null;

  constructor(private readonly fetcher: typeof fetch = (...a) => fetch(...a)) {}

  /**
   * The URL of a route, on the console's own origin (so the SameSite=Strict cookie goes along);
   * for downloads the browser makes itself, e.g. the audit CSV.
   */
  url<K extends RouteId>(id: K, opts: Pick<CallOptions<K>, 'params' | 'query'> = {}): string {
    return pathOf(id, opts.params) + queryString(opts.query as Record<string, unknown>);
  }

  async call<K extends RouteId>(id: K, opts: CallOptions<K> = {}): Promise<ApiResult<ResponseOf<K>>> {
    const spec = ROUTES[id];
    const headers: Record<string, string> = { Accept: spec.response === 'csv' ? 'text/csv' : 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      const csv = 'body' in spec && spec.body === 'csv';
      headers['Content-Type'] = csv ? 'text/csv; charset=utf-8' : 'application/json';
      body = csv ? String(opts.body) : JSON.stringify(opts.body);
    }
    if (MUTATIONS.has(spec.method) && id !== 'login' && this.csrfToken !== null) headers[CSRF_HEADER] = this.csrfToken;
    if (opts.ifMatch !== undefined) headers['If-Match'] = opts.ifMatch;
    const res = await this.fetcher(this.url(id, opts), { method: spec.method, headers, body, credentials: 'same-origin' });
    if (!res.ok) throw await errorOf(res, id === 'login' || id === 'session' ? null : this.onUnauthorized);
    const etag = res.headers.get('ETag');
    if (res.status === 204 || spec.response === null) return { data: undefined as ResponseOf<K>, etag };
    const data = spec.response === 'csv' || spec.response === 'file' ? await res.text() : await res.json();
    return { data: data as ResponseOf<K>, etag };
  }
}

async function errorOf(res: Response, onUnauthorized: (() => void) | null): Promise<ApiRequestError> {
  let code = `http_${res.status}`;
  let message = res.statusText;
  let field: string | undefined;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string; field?: string } };
    if (body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
      field = body.error.field;
    }
  } catch {
    // not the API's JSON (a proxy's page, say): the status says enough
  }
  if (res.status === 401) onUnauthorized?.();
  return new ApiRequestError(res.status, code, message, field);
}

/** The one client of the console. */
export const api = new ApiClient();
