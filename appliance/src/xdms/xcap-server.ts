import type Koa from 'koa';
import type { Authenticator } from '../core/authenticator.js';
import type { LocalDomain } from '../core/local-domain.js';
import type { AttributeIndex } from './attribute-index.js';
import type { DocumentStore } from './document-store.js';
import { EditState } from './edit-state.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import type { ListResolver } from './list-resolver.js';
import type { ParsedDocumentCache } from './parsed-cache.js';
import { readSchema, type SchemaValidator } from './schema-validator.js';
import { SubtreeSchemas } from './subtree-schema.js';
import { xcapAuth } from './xcap-auth.js';
import { xcapAuthorize } from './xcap-authorize.js';
import type { XcapContext, XcapServices, XcapState } from './xcap-context.js';
import { xcapDelete } from './xcap-delete.js';
import { XcapError } from './xcap-error.js';
import { xcapErrorMiddleware } from './xcap-error-middleware.js';
import { xcapGet } from './xcap-get.js';
import { xcapPut } from './xcap-put.js';
import { xcapResource } from './xcap-resource.js';
import type { XcapView } from './xcap-view.js';

export interface XcapOptions {
  /** path of the XCAP root on the HTTP port, e.g. /xcap-root */
  root: string;
  /** larger request bodies get 413 (xdms.maxBodyBytes) */
  maxBodyBytes: number;
  /** seconds a client is asked to wait after a validation timed out */
  retryAfterSeconds: number;
  /** estimated heap bytes of the DOMs kept between edits of a document (edit-state.ts) */
  editCacheBytes: number;
}

/** The collaborators of the XCAP server, built in main.ts. */
export interface XcapDeps {
  auth: Authenticator;
  store: DocumentStore;
  domain: LocalDomain;
  validator: SchemaValidator;
  resolver: ListResolver;
  indexes: AttributeIndex[];
  parsed: ParsedDocumentCache;
  /** the per-document edit mutex, shared with the admin API's edits of the same documents */
  edits?: KeyedMutex;
  /** usages whose documents are views of other data, by AUID (xcap-view.ts) */
  views?: Map<string, XcapView>;
  /** counts each request: reads (GET) and writes (PUT, DELETE), for the live status */
  onOperation?: (kind: 'read' | 'write') => void;
}

/** One handler per method (RFC 4825 §7: GET, PUT, DELETE). */
const HANDLERS: Record<string, (ctx: XcapContext, s: XcapServices) => Promise<void>> = { GET: xcapGet, PUT: xcapPut, DELETE: xcapDelete };

/**
 * The aggregation proxy and the XCAP server behind it (RFC 4825, X1/X3), as koa
 * middleware for the paths under the XCAP root: errors -> authentication ->
 * resource -> authorisation -> the method's handler.
 */
export function xcapServer(opts: XcapOptions, deps: XcapDeps): Koa.Middleware {
  const services: XcapServices = {
    root: opts.root,
    maxBodyBytes: opts.maxBodyBytes,
    retryAfterSeconds: opts.retryAfterSeconds,
    store: deps.store,
    validator: deps.validator,
    subtrees: new SubtreeSchemas(readSchema),
    resolver: deps.resolver,
    parsed: deps.parsed,
    edits: deps.edits ?? new KeyedMutex(),
    editing: new EditState(deps.store, opts.editCacheBytes),
    indexes: new Map(deps.indexes.map((i) => [i.auid, i])),
    views: deps.views ?? new Map(),
  };
  const dispatch: Koa.Middleware<XcapState> = async (ctx) => {
    const handler = HANDLERS[ctx.method];
    if (handler === undefined) throw new XcapError(405, null, 'Method Not Allowed', { headers: { Allow: 'GET, PUT, DELETE' } });
    deps.onOperation?.(ctx.method === 'GET' ? 'read' : 'write');
    await handler(ctx, services);
  };
  const chain = compose([xcapErrorMiddleware(), xcapAuth(deps.auth), xcapResource(opts.root), xcapAuthorize(deps.domain), dispatch]);
  const prefix = `${opts.root}/`;
  return (ctx, next) => (ctx.path.startsWith(prefix) ? chain(ctx as never) : next());
}

/** Runs middleware in order, each calling the next (koa's own composition, for a sub-chain). */
function compose(chain: Koa.Middleware<XcapState>[]): (ctx: XcapContext) => Promise<void> {
  const run = async (ctx: XcapContext, i: number): Promise<void> => {
    if (i < chain.length) await chain[i](ctx as never, () => run(ctx, i + 1));
  };
  return (ctx) => run(ctx, 0);
}
