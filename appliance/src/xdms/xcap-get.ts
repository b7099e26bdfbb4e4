import { APP_USAGES } from './app-usages.js';
import { checkPreconditions, etagOf } from './document-store.js';
import { elementText } from './element-text.js';
import { selectOne, type DomElement } from './node-selector.js';
import { preconditionsOf, type XcapContext, type XcapServices } from './xcap-context.js';
import { XcapError } from './xcap-error.js';

/**
 * GET of a document, an element, an attribute or namespace bindings (RFC 4825
 * §7.3, §7.6, §7.9, §7.10; server side §8.3). Every resource of a document shares
 * the document's ETag (§8.5); `*` in a precondition asks about the selected node.
 */
export async function xcapGet(ctx: XcapContext, s: XcapServices): Promise<void> {
  const { uri, usage, key } = ctx.state;
  const doc = await load(ctx, s);
  ctx.set('ETag', doc.etag);
  if (uri.node === null) {
    if (checkPreconditions(preconditionsOf(ctx), doc.etag, true) === 'not-modified') {
      ctx.status = 304;
      return;
    }
    ctx.type = usage.mime;
    ctx.body = doc.content;
    return;
  }
  const dom = s.parsed.get(key, doc.etag, doc.content);
  const sel = selectOne(dom.documentElement as unknown as DomElement, uri.node, usage.namespace);
  // RFC 9110 §13.2.1: a resource that is not there is a 404, whatever the preconditions say
  if (sel === null) throw new XcapError(404, null, 'The node selector selects no single element');
  if (sel.terminal?.kind === 'attribute' && !sel.element.hasAttributeNS(sel.attributeNamespace, sel.terminal.name.local)) {
    throw new XcapError(404, null, 'No such attribute');
  }
  if (checkPreconditions(preconditionsOf(ctx), doc.etag, true, true) === 'not-modified') {
    ctx.status = 304;
    return;
  }
  if (sel.terminal === null) {
    ctx.type = 'application/xcap-el+xml';
    ctx.body = elementText(sel.element);
  } else if (sel.terminal.kind === 'attribute') {
    ctx.type = 'application/xcap-att+xml';
    ctx.body = sel.element.getAttributeNS(sel.attributeNamespace, sel.terminal.name.local) ?? '';
  } else {
    ctx.type = 'application/xcap-ns+xml';
    ctx.body = namespaceBindings(sel.element);
  }
}

/** The document: generated (xcap-directory, xcap-caps) or stored. */
async function load(ctx: XcapContext, s: XcapServices): Promise<{ content: string; etag: string }> {
  const { usage, key } = ctx.state;
  const view = s.views.get(usage.auid);
  if (view !== undefined) {
    const doc = key.owner === '' ? null : await view.render(key.owner, key.path);
    if (doc === null) throw new XcapError(404, null, 'No such document');
    return doc;
  }
  if (usage.perUser && key.owner !== '') {
    if (key.path !== usage.perUser.document) throw new XcapError(404, null, 'No such document');
    const base = `${ctx.protocol}://${ctx.host}${s.root}`;
    const content = usage.perUser.build(await s.store.listOwner(key.owner), (auid, path) => `${base}/${auid}/users/${key.owner}/${path}`);
    return { content, etag: etagOf(content) };
  }
  if (key.owner === '' && usage.global) {
    if (key.path !== 'index') throw new XcapError(404, null, 'No such document');
    const content = usage.global({ domain: '', usages: APP_USAGES });
    return { content, etag: etagOf(content) };
  }
  const row = await s.store.get(key);
  if (row === null) throw new XcapError(404, null, 'No such document');
  return row;
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
  const attrs = [...seen].map(([n, v]) => ` ${n}="${v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;')}"`).join('');
  const name = (el as unknown as { nodeName: string }).nodeName;
  return `<${name}${attrs}/>`;
}
