import { XMLSerializer } from '@xmldom/xmldom';
import { checkPreconditions, etagOf } from './document-store.js';
import { deleteNode, putAttribute, putElement, selectedNodeExists, type EditContext } from './element-ops.js';
import { splitSteps } from './node-selector.js';
import { encodeNodeSelector } from './uri-encoding.js';
import { documentUri, keyText, preconditionsOf, type XcapContext, type XcapServices } from './xcap-context.js';
import { XcapError } from './xcap-error.js';
import { checkDocument } from './xcap-write.js';
import { decodeUtf8, parseXmlBody, type XmlDocument } from './xml-intake.js';

/** A view document as generated now: its text and strong ETag. */
export interface ViewDocument {
  content: string;
  etag: string;
}

/**
 * A usage whose per-user documents are a view of data the server keeps elsewhere (im-history: the
 * stored conversations). Reads generate the document; a write is the edited document, which the
 * view turns into operations on its data, all or nothing.
 */
export interface XcapView {
  /** the owner's document at `path` as it is now, or null when there is no such document */
  render(owner: string, path: string): Promise<ViewDocument | null>;
  /**
   * Applies `edited` (schema-valid) as a change from `base`; 409s are XcapErrors. `stale` when the
   * data changed under the edit (it is then worked out again); otherwise the node selectors of the
   * elements the server created (for Location, RFC 9110 §10.2.2).
   */
  commit(owner: string, path: string, base: ViewDocument, edited: XmlDocument): Promise<{ stale: true } | { created: string[] }>;
}

/** How often an edit is worked out again when the data changed under it before it gave up with 409. */
const ATTEMPTS = 3;

/**
 * PUT or DELETE (document, element or attribute, RFC 4825 §8.2, §8.4) on a view document: the
 * edit is made on the document generated now, under the request's preconditions (checked against
 * that document's ETag, §7.11), checked like any stored document (document element, XSD), and
 * handed to the view. Edits of one document run one at a time; an edit whose data changed
 * meanwhile is made again on the new state, so If-Match keeps its meaning.
 */
export async function viewWrite(ctx: XcapContext, s: XcapServices, view: XcapView, body: Buffer = Buffer.alloc(0)): Promise<void> {
  const { uri, usage, key } = ctx.state;
  if (ctx.method === 'DELETE' && uri.node === null) throw new XcapError(403, null, `${usage.auid} documents cannot be deleted whole: delete their elements`);
  const result = await s.edits.run(keyText(key), async () => {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const base = await view.render(key.owner, key.path);
      if (base === null) throw new XcapError(404, null, 'No such document');
      const { doc, created } = edit(ctx, s.root, base, body);
      const text = new XMLSerializer().serializeToString(doc as never);
      await checkDocument(s, usage, key, text, doc);
      const outcome = await view.commit(key.owner, key.path, base, doc);
      if (!('stale' in outcome)) return { created: created || outcome.created.length > 0, locations: outcome.created };
    }
    throw new XcapError(409, null, 'Conflict: the data behind the document kept changing; try again');
  });
  const now = await view.render(key.owner, key.path);
  ctx.status = result.created ? 201 : 200;
  if (now !== null) ctx.set('ETag', now.etag);
  // RFC 9110 §10.2.2: a 201's Location names what was created (the first, when several were)
  if (result.locations.length > 0) ctx.set('Location', `${documentUri(ctx, s.root)}/~~/${encodeNodeSelector(result.locations[0])}`);
  ctx.body = '';
}

/** The request's edit made on a fresh DOM of `base`, after its preconditions. */
function edit(ctx: XcapContext, root: string, base: ViewDocument, body: Buffer): { doc: XmlDocument; created: boolean } {
  const { uri, usage } = ctx.state;
  const pre = preconditionsOf(ctx);
  if (uri.node === null) {
    checkPreconditions(pre, base.etag, false);
    return { doc: parseXmlBody(body), created: false };
  }
  const doc = parseXmlBody(Buffer.from(base.content));
  const exists = selectedNodeExists(doc, uri.node, usage.namespace);
  if (ctx.method === 'DELETE' && !exists) throw new XcapError(404, null, 'No such element or attribute');
  checkPreconditions(pre, base.etag, false, exists);
  const e: EditContext = { doc, sel: uri.node, defaultNs: usage.namespace, docUri: documentUri(ctx, root), rawSteps: splitSteps(uri.nodeText!.replace(/^\//, '')) };
  const terminal = uri.node.terminal;
  if (ctx.method === 'DELETE') {
    deleteNode(e);
    return { doc, created: false };
  }
  const text = decodeUtf8(body);
  return { doc, created: terminal?.kind === 'attribute' ? putAttribute(e, text) : putElement(e, text) };
}

/**
 * A read-only view: one generated per-user document (`document`) built from the owner's AOR, with a
 * strong ETag of its text. Writes never reach `commit`: the usage is marked `view` (405, Allow: GET).
 */
export function generatedView(document: string, build: (owner: string) => string): XcapView {
  return {
    render: (owner, path) => {
      if (path !== document) return Promise.resolve(null);
      const content = build(owner);
      return Promise.resolve({ content, etag: etagOf(content) });
    },
    commit: () => Promise.reject(new XcapError(405, null, 'generated by the server and read-only', { headers: { Allow: 'GET' } })),
  };
}
