import { XMLSerializer } from '@xmldom/xmldom';
import type { AppUsage } from './app-usages.js';
import type { AttributeIndex } from './attribute-index.js';
import { checkUniqueAcross, valuesOf } from './constraints.js';
import { checkPreconditions, etagOf, type DocumentKey, type Preconditions } from './document-store.js';
import { selectedNodeExists, type EditContext } from './element-ops.js';
import { elementPath, elementSpan } from './element-span.js';
import { elementText } from './element-text.js';
import { selectElements, splitSteps, type DomElement } from './node-selector.js';
import { ValidationTimeoutError, ValidatorCrashError, type ValidationResult } from './schema-validator.js';
import { documentUri, keyText, preconditionsOf, type XcapContext, type XcapServices } from './xcap-context.js';
import type { EditBase } from './edit-state.js';
import { SUBTREE_ROOT, subtreeInput } from './subtree-schema.js';
import { XcapError, conflict, escapeText } from './xcap-error.js';
import type { XmlDocument } from './xml-intake.js';

/**
 * What PUT and DELETE share (RFC 4825 §8.2, §8.4): loading a stored document for
 * an element or attribute edit, and checking and committing a whole new document.
 */

/** A stored document loaded for an edit of one of its nodes, and the state it was loaded from. */
export interface LoadedEdit {
  edit: EditContext;
  base: EditBase;
}

/**
 * Loads the document of an element or attribute edit and applies the request's
 * preconditions to the node it selects (RFC 4825 §7.11, §8.2.6; RFC 9110 §13.1):
 * entity tags compare with the document's ETag, "*" asks whether the node exists.
 * A missing document is no-parent for a PUT (§8.2.1), 404 for a DELETE; a DELETE
 * of a missing node is 404 whatever its preconditions (RFC 9110 §13.2.1).
 */
export async function loadForEdit(ctx: XcapContext, s: XcapServices): Promise<LoadedEdit> {
  const { uri, usage, key } = ctx.state;
  const docUri = documentUri(ctx, s.root);
  const base = await s.editing.take(key);
  if (base === null) {
    if (ctx.method === 'DELETE') throw new XcapError(404, null, 'No such document');
    throw conflict('no-parent', 'the document does not exist', { inner: `<ancestor>${escapeText(docUri.slice(0, docUri.lastIndexOf('/')))}</ancestor>` });
  }
  const doc = base.dom;
  // the selector is walked once here; an element PUT starts from what it found
  const selected = selectElements(doc.documentElement as unknown as DomElement, uri.node!, usage.namespace);
  const exists = uri.node!.terminal?.kind === 'attribute' ? selectedNodeExists(doc, uri.node!, usage.namespace) : selected.length === 1;
  if (ctx.method === 'DELETE' && !exists) throw new XcapError(404, null, 'No such element or attribute');
  checkPreconditions(preconditionsOf(ctx), base.etag, false, exists);
  return { edit: { doc, sel: uri.node!, defaultNs: usage.namespace, docUri, rawSteps: splitSteps(uri.nodeText!.replace(/^\//, '')), selected }, base };
}

/**
 * One element or attribute edit (RFC 4825 §8.2.5, §8.4): under the document's
 * edit mutex, the edit is applied to the latest state of the document, the whole
 * result is checked as a document PUT would be, and its write is queued with the
 * state it was made on as If-Match; the mutex is released then, so the next edit
 * of the document is prepared while this one commits (edit-state.ts). The answer
 * goes out once the write is committed. `apply` returns whether it created the node.
 */
export async function runEdit(ctx: XcapContext, s: XcapServices, apply: (edit: EditContext) => boolean): Promise<void> {
  const { key } = ctx.state;
  const queued = await s.edits.run(keyText(key), async () => {
    const { edit, base } = await loadForEdit(ctx, s);
    const created = apply(edit);
    const text = splicedText(base, edit) ?? new XMLSerializer().serializeToString(edit.doc as never);
    await check(s, ctx.state.usage, key, text, edit.doc, { element: edit.replacedBy, subtrees: s.subtrees, put: edit.put });
    // the document must still be the one the edit was made on when it is stored
    const etag = etagOf(text);
    const write = s.store.replace(key, text, base.etag, etag);
    s.editing.queued(key, { dom: edit.doc, etag, chars: text.length, text }, write);
    return { write, created };
  });
  const stored = await queued.write;
  ctx.status = queued.created ? 201 : 200;
  ctx.set('ETag', stored.etag);
  ctx.body = '';
}

/**
 * Checks a whole new document against the usage (document element, XSD,
 * constraints, server-wide uniqueness, reference loops), then stores it under the
 * given preconditions and answers 201 or 200 with the new ETag.
 */
export async function commit(ctx: XcapContext, s: XcapServices, text: string, dom: XmlDocument, pre: Preconditions): Promise<void> {
  const { key, usage } = ctx.state;
  await check(s, usage, key, text, dom);
  s.editing.forget(key);
  const stored = await s.store.put(key, text, pre);
  ctx.status = stored.created ? 201 : 200;
  ctx.set('ETag', stored.etag);
  ctx.body = '';
}

/** What a write needs besides the document: the XCAP services minus the HTTP ones. */
export type WriteServices = Pick<XcapServices, 'store' | 'validator' | 'indexes' | 'resolver' | 'retryAfterSeconds'>;

/**
 * The checks every stored document passes, whoever writes it (XCAP or the admin API), then the
 * store, under the preconditions. The caller holds the document's edit mutex. Failures are
 * XcapErrors (409 with the RFC 4825 §11 condition, 412, 503). An XCAP edit cached for the
 * document (edit-state.ts) notices the new ETag on its next use.
 */
export async function checkAndStore(s: WriteServices, usage: AppUsage, key: DocumentKey, text: string, dom: XmlDocument, pre: Preconditions): Promise<{ etag: string; created: boolean }> {
  await check(s, usage, key, text, dom);
  return s.store.put(key, text, pre);
}

/** The checks every document passes before it is stored, for a view document's edit (xcap-view.ts) too. */
export async function checkDocument(s: WriteServices, usage: AppUsage, key: DocumentKey, text: string, dom: XmlDocument): Promise<void> {
  await check(s, usage, key, text, dom);
}

/**
 * The checks of a new document: document element, XSD, constraints, server-wide
 * uniqueness, reference loops (409 on failure). `replaced`: the element an element
 * PUT put in place of one of the same name, with the schemas' subtree index, when
 * only it needs the XSD check (subtree-schema.ts); the constraints always see the
 * whole document.
 */
async function check(
  s: WriteServices,
  usage: AppUsage,
  key: DocumentKey,
  text: string,
  dom: XmlDocument,
  replaced?: { element: unknown; subtrees: XcapServices['subtrees']; put?: EditContext['put'] },
): Promise<void> {
  const root = dom.documentElement!;
  if (root.localName !== usage.root || root.namespaceURI !== usage.namespace) {
    throw conflict('schema-validation-error', `the document element must be <${usage.root}> in ${usage.namespace}`);
  }
  const replacedBy = replaced?.element;
  const subtree = replaced === undefined || replacedBy === undefined ? null : subtreeInput(replaced.subtrees, usage.schemas, replacedBy);
  const result = await validate(s, subtree?.xml ?? text, usage, subtree?.schema);
  if (!result.valid) {
    // libxml2 names the renamed copy: the client knows the element by its own name
    const local = (replacedBy as { localName?: string } | undefined)?.localName ?? '';
    const first = subtree === null ? result.errors[0] : result.errors[0]?.replace(new RegExp(`([}'])${SUBTREE_ROOT}'`, 'g'), `$1${local}'`);
    throw conflict('schema-validation-error', first ?? 'the document does not validate');
  }
  // an element PUT changed one parent's children: local constraints look there only
  const put = replaced?.put;
  if (put !== undefined && usage.constraintsAround !== undefined) usage.constraintsAround(put.parent, put.element);
  else usage.constraints?.(dom);
  const index = s.indexes.get(usage.auid);
  if (index) await checkAcross(usage, key, dom, index);
  // S6: a list must not reach itself again through <external> references
  if (usage.auid === 'resource-lists' && !(put !== undefined && replacedBy !== undefined && keepsReferences(put))) await s.resolver.checkNoLoops(key, text, dom);
}

const RL = 'urn:ietf:params:xml:ns:resource-lists';
/** What a reference loop is made of (RFC 4826 §3.2): lists, and the references into them. */
const LOOP_PARTS = ['list', 'external', 'entry-ref'];

/**
 * Whether a same-name element replacement leaves every reference and every list where it was:
 * neither element is, or holds, a list, an external or an entry-ref. The lists, the references and
 * the positions anchors select by are then those of the stored document, which had no loop (S6);
 * an entry (what a buddy-list edit replaces) never leads further.
 */
function keepsReferences(put: NonNullable<EditContext['put']>): boolean {
  const holds = (el: unknown): boolean => {
    const e = el as { localName: string | null; namespaceURI: string | null; getElementsByTagNameNS(ns: string, local: string): ArrayLike<unknown> };
    if (e.namespaceURI === RL && LOOP_PARTS.includes(e.localName ?? '')) return true;
    return LOOP_PARTS.some((local) => e.getElementsByTagNameNS(RL, local).length > 0);
  };
  return put.replaced !== undefined && !holds(put.element) && !holds(put.replaced);
}

/**
 * The stored text of an element PUT's result: the new element's text spliced into the text the
 * edit started from, in place of the element it replaced (element-span.ts); null when that text or
 * the element's place in it is not known (the caller serialises the whole document). The element
 * is written as the DOM holds it (element-text.ts), its namespace bindings in scope from the
 * parent it was parsed under (element-ops.ts), so the result parses to the edited DOM.
 */
function splicedText(base: EditBase, edit: EditContext): string | null {
  const put = edit.put;
  if (base.text === undefined || put === undefined || put.replaced === undefined) return null;
  const path = elementPath(put.element);
  const span = path === null ? null : elementSpan(base.text, path);
  if (span === null) return null;
  return base.text.slice(0, span.start) + elementText(put.element) + base.text.slice(span.end);
}

/**
 * XSD validation in the worker. It always settles: a validation that timed out is
 * a 503 the client may retry (RFC 9110 §15.6.4, Retry-After), one whose worker
 * crashed a 500. Either way the document's edit mutex is released.
 */
async function validate(s: WriteServices, text: string, usage: AppUsage, main?: { fileName: string; contents: string }): Promise<ValidationResult> {
  try {
    return await s.validator.validate(text, usage.schemas, main);
  } catch (err) {
    if (err instanceof ValidationTimeoutError) {
      throw new XcapError(503, null, 'Service Unavailable: schema validation took too long; try again later', { headers: { 'Retry-After': String(s.retryAfterSeconds) } });
    }
    if (err instanceof ValidatorCrashError) throw new XcapError(500, null, 'Internal Server Error: schema validation failed');
    throw err;
  }
}

/** Server-wide uniqueness (RFC 4826 §4.4.5): the values other documents of the usage already use. */
async function checkAcross(usage: AppUsage, key: DocumentKey, dom: XmlDocument, index: AttributeIndex): Promise<void> {
  const { element, attribute } = usage.uniqueAcross!;
  checkUniqueAcross(valuesOf(dom, usage.namespace, element, attribute), await index.valuesOutside(key), usage.root, element, attribute);
}
