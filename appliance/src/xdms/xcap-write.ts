import { DOMParser } from '@xmldom/xmldom';
import type { AppUsage } from './app-usages.js';
import type { AttributeIndex } from './attribute-index.js';
import { checkUniqueAcross, valuesOf } from './constraints.js';
import { checkPreconditions, type DocumentKey, type Preconditions } from './document-store.js';
import { selectedNodeExists, type EditContext } from './element-ops.js';
import { splitSteps } from './node-selector.js';
import { ValidationTimeoutError, ValidatorCrashError, type ValidationResult } from './schema-validator.js';
import { documentUri, preconditionsOf, type XcapContext, type XcapServices } from './xcap-context.js';
import { XcapError, conflict, escapeText } from './xcap-error.js';
import type { XmlDocument } from './xml-intake.js';

/**
 * What PUT and DELETE share (RFC 4825 §8.2, §8.4): loading a stored document for
 * an element or attribute edit, and checking and committing a whole new document.
 */

/** A stored document loaded for an edit of one of its nodes, and the ETag it had. */
export interface LoadedEdit {
  edit: EditContext;
  etag: string;
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
  const row = await s.store.get(key);
  if (row === null) {
    if (ctx.method === 'DELETE') throw new XcapError(404, null, 'No such document');
    throw conflict('no-parent', 'the document does not exist', { inner: `<ancestor>${escapeText(docUri.slice(0, docUri.lastIndexOf('/')))}</ancestor>` });
  }
  const doc = new DOMParser().parseFromString(row.content, 'text/xml');
  const exists = selectedNodeExists(doc, uri.node!, usage.namespace);
  if (ctx.method === 'DELETE' && !exists) throw new XcapError(404, null, 'No such element or attribute');
  checkPreconditions(preconditionsOf(ctx), row.etag, false, exists);
  return { edit: { doc, sel: uri.node!, defaultNs: usage.namespace, docUri, rawSteps: splitSteps(uri.nodeText!.replace(/^\//, '')) }, etag: row.etag };
}

/**
 * Checks a whole new document against the usage (document element, XSD,
 * constraints, server-wide uniqueness, reference loops), then stores it under the
 * given preconditions and answers 201 or 200 with the new ETag.
 */
export async function commit(ctx: XcapContext, s: XcapServices, text: string, dom: XmlDocument, pre: Preconditions, created: boolean | null): Promise<void> {
  const stored = await checkAndStore(s, ctx.state.usage, ctx.state.key, text, dom, pre);
  ctx.status = (created ?? stored.created) ? 201 : 200;
  ctx.set('ETag', stored.etag);
  ctx.body = '';
}

/** What a write needs besides the document: the XCAP services minus the HTTP ones. */
export type WriteServices = Pick<XcapServices, 'store' | 'validator' | 'indexes' | 'resolver' | 'retryAfterSeconds'>;

/**
 * The checks every stored document passes, whoever writes it (XCAP or the admin API): the
 * document element, the XSD, the usage's constraints, server-wide uniqueness and, for
 * resource-lists, reference loops; then the store, under the preconditions. The caller holds the
 * document's edit mutex. Failures are XcapErrors (409 with the RFC 4825 §11 condition, 412, 503).
 */
export async function checkAndStore(s: WriteServices, usage: AppUsage, key: DocumentKey, text: string, dom: XmlDocument, pre: Preconditions): Promise<{ etag: string; created: boolean }> {
  const root = dom.documentElement!;
  if (root.localName !== usage.root || root.namespaceURI !== usage.namespace) {
    throw conflict('schema-validation-error', `the document element must be <${usage.root}> in ${usage.namespace}`);
  }
  const result = await validate(s, text, usage);
  if (!result.valid) throw conflict('schema-validation-error', result.errors[0] ?? 'the document does not validate');
  usage.constraints?.(dom);
  const index = s.indexes.get(usage.auid);
  if (index) await checkAcross(usage, key, dom, index);
  // S6: a list must not reach itself again through <external> references
  if (usage.auid === 'resource-lists') await s.resolver.checkNoLoops(key, text);
  return s.store.put(key, text, pre);
}

/**
 * XSD validation in the worker. It always settles: a validation that timed out is
 * a 503 the client may retry (RFC 9110 §15.6.4, Retry-After), one whose worker
 * crashed a 500. Either way the document's edit mutex is released.
 */
async function validate(s: WriteServices, text: string, usage: AppUsage): Promise<ValidationResult> {
  try {
    return await s.validator.validate(text, usage.schemas);
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
