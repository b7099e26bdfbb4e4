import type Koa from 'koa';
import type { z } from 'zod';
import { XcapError } from '../xdms/xcap-error.js';

/**
 * A refused admin API request: its status, a stable snake_case code, a message for people and,
 * for bad input, the field at fault (a dotted JSON path). `ctx.throw` of the admin API.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The first problem a zod schema found, as a 400 naming its field (`where` is query, params or body). */
export function validationError(error: z.ZodError, where: 'body' | 'query' | 'params'): ApiError {
  // input a route does not take is named first, before what it lacks (deny by default: an unknown
  // query parameter of a route with required ones, the usage export's, is still `unknown_field`)
  const issue = error.issues.find((i) => i.code === 'unrecognized_keys') ?? error.issues[0];
  let path = issue.path.map(String);
  // an unknown field is named by its key, not by the object that holds it
  if (issue.code === 'unrecognized_keys') path = [...path, issue.keys[0]];
  const field = path.join('.');
  const code = issue.code === 'unrecognized_keys' ? 'unknown_field' : issue.code === 'invalid_type' ? 'invalid_type' : 'invalid_value';
  const message = issue.code === 'unrecognized_keys' ? `unknown field '${field}' in ${where}` : `${field === '' ? where : field}: ${issue.message}`;
  return new ApiError(400, code, message, field === '' ? undefined : field);
}

/** What an XDMS failure means to an admin API client (the same checks as XCAP, RFC 4825 §11). */
function fromXcap(err: XcapError): ApiError {
  if (err.status === 412) return new ApiError(412, 'stale_etag', 'the document changed since it was read: reload and try again');
  if (err.status === 409) {
    // the condition names what failed: a clashing group URI (uniqueness-failure), a schema error...
    const alt = /<alt-value>([^<]*)<\/alt-value>/.exec(err.detail.inner ?? '')?.[1];
    return new ApiError(409, err.condition === 'uniqueness-failure' ? 'name_taken' : 'conflict', alt ? `${err.message} (free: ${alt})` : err.message);
  }
  if (err.status === 404) return new ApiError(404, 'not_found', err.message);
  if (err.status === 503) return new ApiError(503, 'unavailable', err.message, undefined, err.detail.headers);
  return new ApiError(err.status, err.status >= 500 ? 'internal' : 'bad_request', err.message);
}

/**
 * The one place that turns an admin API failure into `{error: {code, message, field?}}` JSON
 * (api-contract); anything unexpected is a 500 with no details, handed to the app's error log.
 */
export function apiErrorMiddleware(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (caught) {
      let err: ApiError;
      if (caught instanceof ApiError) err = caught;
      else if (caught instanceof XcapError) err = fromXcap(caught);
      else err = new ApiError(500, 'internal', 'Internal Server Error');
      // a 5xx is ours to look into: into the log (http-app.ts), never to the client
      if (err.status >= 500) ctx.app.emit('error', caught, ctx);
      if (ctx.headerSent || !ctx.writable) return;
      for (const name of ctx.res.getHeaderNames()) ctx.res.removeHeader(name);
      if (err.headers) ctx.set(err.headers);
      ctx.status = err.status;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: { code: err.code, message: err.message, ...(err.field !== undefined ? { field: err.field } : {}) } };
    }
  };
}
