import { z } from 'zod';
import { ApiErrorSchema, CSRF_HEADER, ROUTES, SESSION_COOKIE, type RouteSpec } from '@parley/shared';
import { API_ROOT } from './admin-api.js';

const json = (schema: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' });

const ERRORS: Record<string, string> = {
  '400': 'invalid input (the field is named)',
  '401': 'no session, or it expired',
  '403': 'role not allowed, or missing CSRF token',
  '404': 'not found',
  '409': 'conflict',
  '412': 'stale ETag (If-Match)',
  '413': 'body too large',
  '415': 'wrong media type or encoding',
  '429': 'throttled (Retry-After), or too many jobs',
};

/** The route's :params and query keys as OpenAPI parameters. */
function parameters(r: RouteSpec): object[] {
  const out: object[] = [];
  for (const [where, schema] of [['path', r.params], ['query', r.query]] as const) {
    if (schema === undefined) continue;
    const shape = (schema as unknown as { shape: Record<string, z.ZodType> }).shape;
    for (const [name, s] of Object.entries(shape)) {
      out.push({ name, in: where, required: where === 'path' || !s.safeParse(undefined).success, schema: json(s, 'input') });
    }
  }
  if (r.etag && r.method !== 'GET') out.push({ name: 'If-Match', in: 'header', required: false, schema: { type: 'string' } });
  if (r.roles !== 'public' && ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method)) out.push({ name: CSRF_HEADER, in: 'header', required: true, schema: { type: 'string' } });
  return out;
}

/**
 * The OpenAPI 3.1 document of `/api/v1`, generated from the same zod schemas that validate the
 * requests (`@parley/shared` ROUTES), so the two cannot drift. JSON Schema 2020-12 is OpenAPI
 * 3.1's own dialect (zod 4's `z.toJSONSchema`).
 */
export function openApiDocument(version: string): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const [id, r] of Object.entries(ROUTES) as [string, RouteSpec][]) {
    const path = r.path.replace(/:(\w+)/g, '{$1}');
    const responses: Record<string, object> = {};
    if (r.response === null) responses[String(r.status)] = { description: 'done' };
    else if (r.response === 'csv') responses[String(r.status)] = { description: 'CSV download', content: { 'text/csv': { schema: { type: 'string' } } } };
    else if (r.response === 'file') responses[String(r.status)] = { description: 'file download (Content-Disposition: attachment)', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } };
    else responses[String(r.status)] = { description: 'ok', content: { 'application/json': { schema: json(r.response, 'output') } } };
    for (const [code, description] of Object.entries(ERRORS)) responses[code] = { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    const op: Record<string, unknown> = {
      operationId: id,
      summary: r.summary,
      'x-roles': r.roles,
      parameters: parameters(r),
      responses,
      security: r.roles === 'public' ? [] : [{ session: [] }],
    };
    if (r.body === 'csv') op.requestBody = { required: true, content: { 'text/csv': { schema: { type: 'string', description: 'UTF-8, header row name,password,displayName' } } } };
    else if (r.body !== undefined) op.requestBody = { required: true, content: { 'application/json': { schema: json(r.body, 'input') } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Parley admin API', version },
    servers: [{ url: API_ROOT }],
    paths,
    components: {
      schemas: { Error: json(ApiErrorSchema, 'output') },
      securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE } },
    },
  };
}
