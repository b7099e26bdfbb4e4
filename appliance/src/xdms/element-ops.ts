import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import { attrMatches, selectElements, selectOne, type DomElement, type NodeSelector } from './node-selector.js';
import { conflict, XcapError, escapeAttr, escapeText } from './xcap-error.js';
import type { XmlDocument } from './xml-intake.js';
import { childElements } from './dom.js';
import { encodeNodeSelector, encodeXmlnsQuery } from './uri-encoding.js';

/**
 * Element and attribute PUT/DELETE on a document (RFC 4825 §7.4–§7.9, §8.2.5):
 * the DOM edits and the 409 conditions they can hit. The caller validates and
 * stores the result.
 */
type Node = DomElement & {
  nodeName: string;
  parentNode: Node | null;
  ownerDocument: XmlDocument;
  attributes: ArrayLike<{ name: string; value: string }>;
  firstChild: unknown;
  nextSibling: unknown;
  insertBefore(n: unknown, ref: unknown): void;
  appendChild(n: unknown): void;
  replaceChild(n: unknown, old: unknown): void;
  removeChild(n: unknown): void;
  setAttributeNS(ns: string | null, name: string, v: string): void;
  removeAttributeNS(ns: string | null, local: string): void;
};

const serialize = (n: unknown): string => new XMLSerializer().serializeToString(n as never);

/** The namespace declarations in scope at an element, nearest first (for parsing fragments in context). */
function inScopeNamespaces(el: Node | null): Map<string, string> {
  const seen = new Map<string, string>();
  for (let n: Node | null = el; n && n.attributes; n = n.parentNode) {
    for (let i = 0; i < n.attributes.length; i++) {
      const a = n.attributes[i];
      if (a.name === 'xmlns' || a.name.startsWith('xmlns:')) if (!seen.has(a.name)) seen.set(a.name, a.value);
    }
  }
  return seen;
}

/**
 * Parses a PUT body that must be exactly one element (RFC 4825 §8.2.3 "not-xml-frag"),
 * with the namespace bindings of its future parent in scope.
 */
function parseFragment(body: string, parent: Node): Node {
  const decls = [...inScopeNamespaces(parent)].map(([n, v]) => ` ${n}="${escapeAttr(v)}"`).join('');
  const problems: string[] = [];
  let wrapper: Node | null = null;
  try {
    const doc = new DOMParser({ onError: (level: string, m: string) => void (level !== 'warning' && problems.push(m)) }).parseFromString(
      `<parley-fragment${decls}>${body}</parley-fragment>`,
      'text/xml',
    );
    wrapper = doc.documentElement as unknown as Node;
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (/<\?xml|<!DOCTYPE|<!ENTITY/i.test(body) || problems.length > 0 || wrapper === null) throw conflict('not-xml-frag', 'the body is not a well-formed XML element');
  const kids: Node[] = [];
  for (let i = 0; i < wrapper.childNodes.length; i++) {
    const c = wrapper.childNodes[i] as unknown as Node & { nodeType: number; data?: string };
    if (c.nodeType === 1) kids.push(c);
    else if (c.nodeType === 3 && (c.data ?? '').trim() !== '') throw conflict('not-xml-frag', 'text outside the element');
    else if (c.nodeType !== 3 && c.nodeType !== 8) throw conflict('not-xml-frag', 'the body is not a single element');
  }
  if (kids.length !== 1) throw conflict('not-xml-frag', 'the body must hold exactly one element');
  return kids[0];
}

/** RFC 4825 §11.5: an attribute value must be valid AttValue content (no '<', '&' only in references). */
function checkAttValue(v: string): string {
  if (v.includes('<') || /&(?!(lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)/.test(v) || v.includes('"')) {
    throw conflict('not-xml-att-value', 'the body is not a valid XML attribute value');
  }
  return v.replace(/&(lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/g, (_, e: string) =>
    ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e as 'lt'] ?? String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)),
  );
}

function parentSelector(sel: NodeSelector): NodeSelector {
  return { ...sel, steps: sel.steps.slice(0, -1), terminal: null };
}

/**
 * The longest prefix of the selector that still names one element, as the URI
 * of <no-parent><ancestor> (RFC 4825 §11): an HTTP URI, so the node selector is
 * percent-encoded, and it carries the xmlns() query when it uses prefixes (§6.4).
 */
function ancestorText(root: DomElement, sel: NodeSelector, defaultNs: string, docUri: string, raw: string[], from = sel.steps.length - 1): string {
  for (let n = from; n >= 1; n--) {
    const steps = sel.steps.slice(0, n);
    if (selectElements(root, { ...sel, steps, terminal: null }, defaultNs).length !== 1) continue;
    const prefixed = steps.some((s) => s.name.prefix !== null || (s.attr !== null && s.attr.name.prefix !== null));
    return `${docUri}/~~/${encodeNodeSelector(raw.slice(0, n).join('/'))}${prefixed ? `?${encodeXmlnsQuery(sel.bindings)}` : ''}`;
  }
  return docUri;
}

/**
 * Whether the resource the selector names exists: its one element, and for an
 * attribute selector that attribute on it (RFC 9110 §13.1: what "*" in If-Match
 * and If-None-Match asks about).
 */
export function selectedNodeExists(doc: XmlDocument, sel: NodeSelector, defaultNs: string): boolean {
  const s = selectOne(doc.documentElement as unknown as DomElement, sel, defaultNs);
  if (s === null) return false;
  return s.terminal?.kind !== 'attribute' || s.element.hasAttributeNS(s.attributeNamespace, s.terminal.name.local);
}

function sameName(a: Node, b: Node): boolean {
  return a.localName === b.localName && a.namespaceURI === b.namespaceURI;
}

export interface EditContext {
  doc: XmlDocument;
  sel: NodeSelector;
  defaultNs: string;
  /** the document's URI, percent-encoded (for <ancestor>), and the node selector's raw (decoded) steps */
  docUri: string;
  rawSteps: string[];
  /**
   * Set by an element PUT that replaced an element by one of the same expanded
   * name: the new element, the only part of the document whose schema validity
   * can have changed (subtree-schema.ts).
   */
  replacedBy?: unknown;
  /**
   * Set by an element PUT below the document element: the element put, the element it replaced
   * (absent for an insertion) and their parent, the only places the edit changed.
   */
  put?: { element: unknown; replaced?: unknown; parent: unknown };
  /** the elements the selector's element part named before the edit, when the caller has them already */
  selected?: DomElement[];
}

/** PUT of an element: replace the one selected, or insert a new one under the parent (§7.4, §8.2.3). */
export function putElement(ctx: EditContext, body: string): boolean {
  const root = ctx.doc.documentElement as unknown as Node;
  const existing = ctx.selected ?? selectElements(root, ctx.sel, ctx.defaultNs);
  if (existing.length > 1) throw conflict('cannot-insert', 'the node selector names more than one element');
  if (ctx.sel.steps.length === 1) {
    // the document element itself: replace it
    const el = parseFragment(body, root);
    if (existing.length === 0) throw conflict('cannot-insert', 'the document element cannot be replaced by another name');
    ctx.doc.replaceChild(ctx.doc.importNode(el as never, true), root as never);
    return false;
  }
  // the parent is looked for only when there is no element to replace (a walk of its siblings saved per replacement)
  const parents = existing.length === 1 ? [] : (selectElements(root, parentSelector(ctx.sel), ctx.defaultNs) as Node[]);
  if (existing.length === 0 && parents.length !== 1) {
    throw conflict('no-parent', 'the parent of the new element does not exist', {
      inner: `<ancestor>${escapeText(ancestorText(root, ctx.sel, ctx.defaultNs, ctx.docUri, ctx.rawSteps))}</ancestor>`,
    });
  }
  const parent = existing.length === 1 ? (existing[0] as Node).parentNode! : parents[0];
  const fresh = ctx.doc.importNode(parseFragment(body, parent) as never, true) as unknown as Node;
  if (existing.length === 1) {
    parent.replaceChild(fresh, existing[0]);
    if (sameName(fresh, existing[0] as Node)) ctx.replacedBy = fresh;
    ctx.put = { element: fresh, replaced: existing[0], parent };
  } else {
    ctx.put = { element: fresh, parent };
    const last = ctx.sel.steps[ctx.sel.steps.length - 1];
    const siblings = childElements<Node>(parent).filter((c) => sameName(c, fresh));
    if (last.position !== null && last.position > siblings.length + 1) throw conflict('cannot-insert', `there is no position ${last.position} to insert at`);
    // by position: become the nth such sibling; otherwise after the last sibling of that name
    const before = last.position !== null ? siblings[last.position - 1] : siblings.length > 0 ? siblings[siblings.length - 1].nextSibling : null;
    if (before) parent.insertBefore(fresh, before);
    else parent.appendChild(fresh);
  }
  // §8.2.5: the URI must now select exactly what was put, or the PUT is refused. An element of the
  // same name in the place of the one selected, passing the last step's attribute test, is what
  // the URI selects (the steps before it name its unchanged ancestors, a position counts the same
  // siblings): the walk is saved.
  const last = ctx.sel.steps[ctx.sel.steps.length - 1];
  if (ctx.replacedBy === fresh && attrMatches(fresh, last, ctx.sel)) return false;
  const check = selectOne(root, ctx.sel, ctx.defaultNs);
  if (check === null || (check.element !== (fresh as unknown) && serialize(check.element) !== serialize(fresh))) {
    throw conflict('cannot-insert', 'the element would not be selected by the request URI afterwards (RFC 4825 §8.2.5)');
  }
  return existing.length === 0;
}

/** PUT of an attribute (§7.5). Returns whether it was created. */
export function putAttribute(ctx: EditContext, body: string): boolean {
  if (ctx.sel.terminal?.kind !== 'attribute') throw new XcapError(500, null, 'not an attribute selector');
  const root = ctx.doc.documentElement as unknown as Node;
  const s = selectOne(root, ctx.sel, ctx.defaultNs);
  if (s === null) {
    throw conflict('no-parent', 'the element of the attribute does not exist', {
      inner: `<ancestor>${escapeText(ancestorText(root, ctx.sel, ctx.defaultNs, ctx.docUri, ctx.rawSteps, ctx.sel.steps.length))}</ancestor>`,
    });
  }
  const el = s.element as Node;
  const local = ctx.sel.terminal.name.local;
  const created = !el.hasAttributeNS(s.attributeNamespace, local);
  const prefix = ctx.sel.terminal.name.prefix;
  el.setAttributeNS(s.attributeNamespace, prefix ? `${prefix}:${local}` : local, checkAttValue(body));
  if (selectOne(root, ctx.sel, ctx.defaultNs)?.element !== el) {
    throw conflict('cannot-insert', 'the attribute change would stop the request URI selecting it (RFC 4825 §8.2.5)');
  }
  return created;
}

/** DELETE of an element or attribute (§7.6, §7.7): 404 when absent, cannot-delete if the URI would still select something. */
export function deleteNode(ctx: EditContext): void {
  const root = ctx.doc.documentElement as unknown as Node;
  const s = selectOne(root, ctx.sel, ctx.defaultNs);
  if (s === null) throw new XcapError(404, null, 'No such element');
  const el = s.element as Node;
  if (ctx.sel.terminal?.kind === 'attribute') {
    if (!el.hasAttributeNS(s.attributeNamespace, ctx.sel.terminal.name.local)) throw new XcapError(404, null, 'No such attribute');
    el.removeAttributeNS(s.attributeNamespace, ctx.sel.terminal.name.local);
    return;
  }
  if (ctx.sel.terminal !== null) throw new XcapError(405, null, 'Namespace bindings cannot be deleted');
  if (el === root) throw conflict('cannot-delete', 'the document element cannot be deleted; delete the document');
  el.parentNode!.removeChild(el);
  // §8.4.3: a positional URI that now selects the next sibling would not be idempotent
  if (selectOne(root, { ...ctx.sel, terminal: null }, ctx.defaultNs) !== null) {
    throw conflict('cannot-delete', 'after the delete the request URI would select another element (RFC 4825 §8.4.3)');
  }
}

export { serialize as serializeNode };
