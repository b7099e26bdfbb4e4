import type Koa from 'koa';
import { XMLSerializer } from '@xmldom/xmldom';
import type { Authenticator } from '../core/authenticator.js';
import type { LocalDomain } from '../core/local-domain.js';
import { normalizeAddress } from '../sip/transport/stream.js';
import { isSipUri, parseUri } from '../sip/message/uri.js';
import { SyntaxFault } from '../sip/message/scanner.js';
import { APP_USAGES, usageOf, type AppUsage } from './app-usages.js';
import { DocumentStore, checkPreconditions, etagOf, type DocumentKey } from './document-store.js';
import { parseXmlBody, type XmlDocument } from './xml-intake.js';
import { parseXcapPath, type XcapUri } from './xcap-uri.js';
import { selectOne, SelectorError, type DomElement } from './node-selector.js';
import { XcapError, conflict } from './xcap-error.js';
import type { SchemaValidator } from './schema-validator.js';
import { putElement, putAttribute, deleteNode, type EditContext } from './element-ops.js';
import { splitSteps } from './node-selector.js';
import type { ListResolver } from './list-resolver.js';
import type { AttributeIndex } from './attribute-index.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import { checkUniqueAcross, valuesOf } from './constraints.js';
import { DOMParser } from '@xmldom/xmldom';

export interface XcapOptions {
  /** path of the XCAP root on the HTTP port, e.g. /xcap-root */
  root: string;
  maxBodyBytes: number;
}

/**
 * The aggregation proxy and the XCAP server behind it (RFC 4825, X1/X3): one
 * authenticated entry point, routing by AUID to the IM or shared XDMS usages.
 */
export function xcapServer(
  opts: XcapOptions,
  auth: Authenticator,
  store: DocumentStore,
  domain: LocalDomain,
  validator: SchemaValidator,
  resolver: ListResolver,
  indexes: AttributeIndex[],
): Koa.Middleware {
  const services: Services = { store, validator, resolver, edits: new KeyedMutex(), parsed: new Map(), indexes: new Map(indexes.map((i) => [i.auid, i])) };
  const prefix = `${opts.root}/`;
  return async (ctx, next) => {
    if (!ctx.path.startsWith(prefix)) return next();
    try {
      const user = authenticate(ctx, auth);
      if (user === null) return;
      const uri = parseRequestPath(ctx, opts.root);
      const usage = usageOf(uri.auid);
      if (usage === undefined) throw new XcapError(404, null, `Unknown application usage '${uri.auid}'`);
      const key = keyOf(uri, user, domain, ctx.method);
      switch (ctx.method) {
        case 'GET':
          await get(ctx, usage, uri, key, services, opts.root);
          return;
        case 'PUT':
          await put(ctx, usage, uri, key, services, opts.maxBodyBytes, opts.root);
          return;
        case 'DELETE':
          await del(ctx, usage, uri, key, services, opts.root);
          return;
        default:
          ctx.set('Allow', 'GET, PUT, DELETE');
          throw new XcapError(405, null, 'Method Not Allowed');
      }
    } catch (err) {
      if (!(err instanceof XcapError)) throw err;
      ctx.status = err.status;
      ctx.type = err.condition === null ? 'text/plain' : 'application/xcap-error+xml';
      ctx.body = err.body();
    }
  };
}

/**
 * HTTP digest with the user's SIP credentials (X3, RFC 7616): the same users, nonces, replay
 * protection and login throttling as the SIP core. An unknown user and a wrong password both
 * get a new challenge (RFC 9110 §11.6.2); a throttled client gets 429 with Retry-After (RFC 6585 §4).
 */
function authenticate(ctx: Koa.Context, auth: Authenticator): string | null {
  const header = ctx.get('authorization');
  const userAgent = ctx.get('user-agent') || undefined;
  const outcome = auth.check({
    headers: header ? [header] : [],
    method: ctx.method,
    // RFC 7616 §3.4.6: the digest is for this request-target
    uriMatches: (digestUri) => digestUri === ctx.url,
    source: { address: normalizeAddress(ctx.req.socket.remoteAddress ?? ''), port: ctx.req.socket.remotePort ?? 0, transport: 'HTTP' },
    userAgent,
  });
  switch (outcome.kind) {
    case 'ok':
      return outcome.user.username;
    case 'refused':
      ctx.status = outcome.status;
      ctx.body = outcome.reason;
      return null;
    case 'throttled':
      ctx.status = 429;
      ctx.set('Retry-After', String(outcome.retryAfter));
      ctx.body = 'Too many failed authentication attempts';
      return null;
    case 'challenge':
      ctx.status = 401;
      ctx.set('WWW-Authenticate', auth.challenges(outcome.stale, userAgent));
      ctx.body = 'Unauthorized';
      return null;
  }
}

function parseRequestPath(ctx: Koa.Context, root: string): XcapUri {
  const raw = ctx.url.slice(root.length);
  const q = raw.indexOf('?');
  try {
    return parseXcapPath(q >= 0 ? raw.slice(0, q) : raw, q >= 0 ? raw.slice(q + 1) : '');
  } catch (err) {
    if (err instanceof SelectorError) throw new XcapError(404, null, `Not an XCAP resource: ${err.message}`);
    throw err;
  }
}

/** Users reach only their own tree; global documents are read-only (X3). */
function keyOf(uri: XcapUri, username: string, domain: LocalDomain, method: string): DocumentKey {
  if (uri.scope === 'global') {
    if (method !== 'GET') throw new XcapError(403, null, 'Global documents are read-only');
    return { auid: uri.auid, owner: '', path: uri.document };
  }
  const owner = ownerOf(uri.xui!, domain);
  if (owner !== domain.aor(username)) throw new XcapError(403, null, "Forbidden: not your document tree");
  return { auid: uri.auid, owner, path: uri.document };
}

/** The XUI as an AOR: "sip:alice@domain" (RFC 4825 §4), or a bare user name taken as ours. */
function ownerOf(xui: string, domain: LocalDomain): string {
  if (!xui.includes(':')) return domain.aor(xui);
  try {
    const u = parseUri(xui, 'XUI');
    if (isSipUri(u) && u.user !== null && domain.isLocal(u.host)) return domain.aor(u.user);
  } catch (err) {
    if (!(err instanceof SyntaxFault)) throw err;
  }
  return xui;
}

async function load(usage: AppUsage, key: DocumentKey, store: DocumentStore, base: string): Promise<{ content: string; etag: string }> {
  if (usage.perUser && key.owner !== '') {
    if (key.path !== usage.perUser.document) throw new XcapError(404, null, 'No such document');
    const docs = await store.listOwner(key.owner);
    const content = usage.perUser.build(docs, (auid, path) => `${base}/${auid}/users/${key.owner}/${path}`);
    return { content, etag: etagOf(content) };
  }
  if (key.owner === '' && usage.global) {
    if (key.path !== 'index') throw new XcapError(404, null, 'No such document');
    const content = usage.global({ domain: '', usages: APP_USAGES });
    return { content, etag: etagOf(content) };
  }
  const row = await store.get(key);
  if (row === null) throw new XcapError(404, null, 'No such document');
  return row;
}

function preconditions(ctx: Koa.Context): { ifMatch?: string; ifNoneMatch?: string } {
  return { ifMatch: ctx.get('if-match') || undefined, ifNoneMatch: ctx.get('if-none-match') || undefined };
}

async function get(ctx: Koa.Context, usage: AppUsage, uri: XcapUri, key: DocumentKey, services: Services, root: string): Promise<void> {
  const doc = await load(usage, key, services.store, `${ctx.protocol}://${ctx.host}${root}`);
  ctx.set('ETag', doc.etag);
  if (checkPreconditions(preconditions(ctx), doc.etag, true) === 'not-modified') {
    ctx.status = 304;
    return;
  }
  if (uri.node === null) {
    ctx.type = usage.mime;
    ctx.body = doc.content;
    return;
  }
  let dom = services.parsed.get(doc.etag);
  if (dom === undefined) {
    dom = new DOMParser().parseFromString(doc.content, 'text/xml');
    if (services.parsed.size >= 64) services.parsed.delete(services.parsed.keys().next().value!);
    services.parsed.set(doc.etag, dom);
  }
  const sel = selectNode(dom.documentElement as unknown as DomElement, uri, usage);
  if (sel.terminal === null) {
    ctx.type = 'application/xcap-el+xml';
    ctx.body = new XMLSerializer().serializeToString(sel.element as never);
  } else if (sel.terminal.kind === 'attribute') {
    const local = sel.terminal.name.local;
    if (!sel.element.hasAttributeNS(sel.attributeNamespace, local)) throw new XcapError(404, null, 'No such attribute');
    ctx.type = 'application/xcap-att+xml';
    ctx.body = sel.element.getAttributeNS(sel.attributeNamespace, local) ?? '';
  } else {
    ctx.type = 'application/xcap-ns+xml';
    ctx.body = namespaceBindings(sel.element);
  }
}

function selectNode(root: DomElement, uri: XcapUri, usage: AppUsage) {
  try {
    const sel = selectOne(root, uri.node!, usage.namespace);
    if (sel === null) throw new XcapError(404, null, 'The node selector selects no single element');
    return sel;
  } catch (err) {
    if (err instanceof SelectorError) throw new XcapError(400, null, `Bad node selector: ${err.message}`);
    throw err;
  }
}

/** RFC 4825 §7.10: the in-scope namespace bindings, as xmlns attributes on an empty element of the selected name. */
function namespaceBindings(el: DomElement): string {
  const seen = new Map<string, string>();
  let node = el as unknown as { attributes?: ArrayLike<{ name: string; value: string }>; parentNode: unknown } | null;
  while (node && node.attributes) {
    for (let i = 0; i < node.attributes.length; i++) {
      const a = node.attributes[i];
      if ((a.name === 'xmlns' || a.name.startsWith('xmlns:')) && !seen.has(a.name)) seen.set(a.name, a.value);
    }
    node = node.parentNode as typeof node;
  }
  const attrs = [...seen].map(([n, v]) => ` ${n}="${v.replace(/"/g, '&quot;')}"`).join('');
  const name = (el as unknown as { nodeName: string }).nodeName;
  return `<${name}${attrs}/>`;
}

async function readBody(ctx: Koa.Context, max: number): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > max) throw new XcapError(413, null, `Request body over ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new XcapError(413, null, `Request body over ${max} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

interface Services {
  store: DocumentStore;
  validator: SchemaValidator;
  resolver: ListResolver;
  /** serialises the read-modify-write of element and attribute edits per document */
  edits: KeyedMutex;
  /** parsed documents for node-selector GETs, by ETag (read-only DOMs; a few dozen at most) */
  parsed: Map<string, XmlDocument>;
  /** server-wide unique attributes, by AUID (usage.uniqueAcross) */
  indexes: Map<string, AttributeIndex>;
}

const keyText = (k: DocumentKey): string => `${k.auid}|${k.owner}|${k.path}`;

/** Validates a whole document against the usage's schema and constraints, then stores it. */
async function commit(
  ctx: Koa.Context,
  usage: AppUsage,
  key: DocumentKey,
  text: string,
  dom: ReturnType<typeof parseXmlBody>,
  { validator, resolver, indexes, store }: Services,
  pre: { ifMatch?: string; ifNoneMatch?: string },
  created: boolean | null,
): Promise<void> {
  const root = dom.documentElement!;
  if (root.localName !== usage.root || root.namespaceURI !== usage.namespace) {
    throw conflict('schema-validation-error', `the document element must be <${usage.root}> in ${usage.namespace}`);
  }
  const result = await validator.validate(text, usage.schemas);
  if (!result.valid) throw conflict('schema-validation-error', result.errors[0] ?? 'the document does not validate');
  usage.constraints?.(dom);
  const index = indexes.get(usage.auid);
  if (index) await checkAcross(usage, key, dom, index);
  // S6: a list must not reach itself again through <external> references
  if (usage.auid === 'resource-lists') await resolver.checkNoLoops(key, text);
  const stored = await store.put(key, text, pre);
  ctx.status = (created ?? stored.created) ? 201 : 200;
  ctx.set('ETag', stored.etag);
  ctx.body = '';
}

/** Server-wide uniqueness (RFC 4826 §4.4.5): the values other documents of the usage already use. */
async function checkAcross(usage: AppUsage, key: DocumentKey, dom: XmlDocument, index: AttributeIndex): Promise<void> {
  const { element, attribute } = usage.uniqueAcross!;
  checkUniqueAcross(valuesOf(dom, usage.namespace, element, attribute), await index.valuesOutside(key), usage.root, element, attribute);
}

/** Loads a stored document for an element/attribute edit (RFC 4825 §8.2.1: a missing document is no-parent). */
async function editContext(ctx: Koa.Context, uri: XcapUri, usage: AppUsage, key: DocumentKey, store: DocumentStore, root: string): Promise<{ edit: EditContext; etag: string }> {
  const docUri = `${ctx.protocol}://${ctx.host}${root}/${uri.auid}/${uri.scope}${uri.xui ? `/${uri.xui}` : ''}/${uri.document}`;
  const row = await store.get(key);
  if (row === null) {
    if (ctx.method === 'DELETE') throw new XcapError(404, null, 'No such document');
    throw conflict('no-parent', 'the document does not exist', { inner: `<ancestor>${docUri.slice(0, docUri.lastIndexOf('/'))}</ancestor>` });
  }
  checkPreconditions(preconditions(ctx), row.etag, false);
  const doc = new DOMParser().parseFromString(row.content, 'text/xml');
  return { edit: { doc, sel: uri.node!, defaultNs: usage.namespace, docUri, rawSteps: splitSteps(uri.nodeText!.replace(/^\//, '')) }, etag: row.etag };
}

async function put(ctx: Koa.Context, usage: AppUsage, uri: XcapUri, key: DocumentKey, services: Services, max: number, root: string): Promise<void> {
  if (usage.perUser || usage.global) throw new XcapError(403, null, `${usage.auid} documents are generated by the server and read-only`);
  if (uri.node !== null) {
    await putNode(ctx, usage, uri, key, services, max, root);
    return;
  }
  const type = ctx.get('content-type').split(';')[0].trim().toLowerCase();
  // RFC 4825 §8.2.1: a document PUT carries the usage's MIME type
  if (type !== usage.mime) throw new XcapError(415, null, `Unsupported Media Type: ${usage.auid} documents are ${usage.mime}`);
  const body = await readBody(ctx, max);
  const dom = parseXmlBody(body);
  await services.edits.run(keyText(key), () => commit(ctx, usage, key, body.toString('utf8'), dom, services, preconditions(ctx), null));
}

/** PUT of an element (application/xcap-el+xml) or attribute (application/xcap-att+xml), §7.4/§7.5. */
async function putNode(ctx: Koa.Context, usage: AppUsage, uri: XcapUri, key: DocumentKey, services: Services, max: number, root: string): Promise<void> {
  const terminal = uri.node!.terminal;
  if (terminal?.kind === 'namespace') throw new XcapError(405, null, 'Namespace bindings are read-only');
  const want = terminal?.kind === 'attribute' ? 'application/xcap-att+xml' : 'application/xcap-el+xml';
  if (ctx.get('content-type').split(';')[0].trim().toLowerCase() !== want) throw new XcapError(415, null, `Unsupported Media Type: expected ${want}`);
  const body = await readBody(ctx, max);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw conflict('not-utf-8', 'the body is not UTF-8');
  }
  await services.edits.run(keyText(key), async () => {
    const { edit, etag } = await editContext(ctx, uri, usage, key, services.store, root);
    const created = terminal?.kind === 'attribute' ? putAttribute(edit, text) : putElement(edit, text);
    const xml = new XMLSerializer().serializeToString(edit.doc as never);
    await commit(ctx, usage, key, xml, edit.doc, services, { ifMatch: etag }, created);
  });
}

async function del(ctx: Koa.Context, usage: AppUsage, uri: XcapUri, key: DocumentKey, services: Services, root: string): Promise<void> {
  if (usage.perUser || usage.global) throw new XcapError(403, null, `${usage.auid} documents are generated by the server and read-only`);
  if (uri.node !== null) {
    await services.edits.run(keyText(key), async () => {
      const { edit, etag } = await editContext(ctx, uri, usage, key, services.store, root);
      deleteNode(edit);
      const xml = new XMLSerializer().serializeToString(edit.doc as never);
      await commit(ctx, usage, key, xml, edit.doc, services, { ifMatch: etag }, false);
    });
    return;
  }
  await services.edits.run(keyText(key), () => services.store.delete(key, preconditions(ctx)));
  ctx.status = 200;
  ctx.body = '';
}
