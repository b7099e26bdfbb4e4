import type Koa from 'koa';
import type { AppUsage } from './app-usages.js';
import type { AttributeIndex } from './attribute-index.js';
import type { EditState } from './edit-state.js';
import type { DocumentKey, DocumentStore, Preconditions } from './document-store.js';
import type { KeyedMutex } from '../util/keyed-mutex.js';
import type { ListResolver } from './list-resolver.js';
import type { ParsedDocumentCache } from './parsed-cache.js';
import type { SchemaValidator } from './schema-validator.js';
import type { SubtreeSchemas } from './subtree-schema.js';
import type { XcapUri } from './xcap-uri.js';
import { encodePathSegment } from './uri-encoding.js';
import type { XcapView } from './xcap-view.js';

/** What the XCAP steps learn about a request, in order: who, which resource, which document. */
export interface XcapState {
  /** the authenticated user name (xcap-auth.ts) */
  user: string;
  /** the parsed request URI and its application usage (xcap-resource.ts) */
  uri: XcapUri;
  usage: AppUsage;
  /** the document the user may reach (xcap-authorize.ts) */
  key: DocumentKey;
}

export type XcapContext = Koa.ParameterizedContext<XcapState>;

/** Everything the method handlers work with. */
export interface XcapServices {
  /** path of the XCAP root on the HTTP port, e.g. /xcap-root */
  root: string;
  /** larger request bodies get 413 */
  maxBodyBytes: number;
  store: DocumentStore;
  validator: SchemaValidator;
  /** which elements of which usages can be validated alone */
  subtrees: SubtreeSchemas;
  resolver: ListResolver;
  /** serialises the read-modify-write of edits per document */
  edits: KeyedMutex;
  /** the latest state of documents being edited, and their writes in flight */
  editing: EditState;
  /** parsed documents for node-selector GETs */
  parsed: ParsedDocumentCache;
  /** server-wide unique attributes, by AUID (usage.uniqueAcross) */
  indexes: Map<string, AttributeIndex>;
  /** seconds a client is asked to wait after a validation timed out (Retry-After) */
  retryAfterSeconds: number;
  /** usages whose documents are views of other data (im-history), by AUID (xcap-view.ts) */
  views: Map<string, XcapView>;
}

/** If-Match / If-None-Match of the request. */
export function preconditionsOf(ctx: Koa.Context | XcapContext): Preconditions {
  return { ifMatch: ctx.get('if-match') || undefined, ifNoneMatch: ctx.get('if-none-match') || undefined };
}

/** The mutex key of a document. */
export const keyText = (k: DocumentKey): string => `${k.auid}|${k.owner}|${k.path}`;

/** The absolute, percent-encoded URI of the request's document (for <ancestor> in error reports). */
export function documentUri(ctx: XcapContext, root: string): string {
  const { uri } = ctx.state;
  const segments = [uri.auid, uri.scope, ...(uri.xui !== null ? [uri.xui] : []), ...uri.document.split('/')];
  return `${ctx.protocol}://${ctx.host}${root}/${segments.map(encodePathSegment).join('/')}`;
}
