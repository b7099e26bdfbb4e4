import { DOMParser, XMLSerializer, type Element } from '@xmldom/xmldom';
import { SipError } from '../sip/errors.js';
import { childElements } from '../xdms/dom.js';
import { escapeAttr } from '../xdms/xcap-error.js';

/** RFC 3863 PIDF, RFC 4479 data model, RFC 4480 RPID namespaces. */
export const PIDF = 'urn:ietf:params:xml:ns:pidf';
export const DM = 'urn:ietf:params:xml:ns:pidf:data-model';
export const RPID = 'urn:ietf:params:xml:ns:pidf:rpid';
export const PIDF_TYPE = 'application/pidf+xml';

/** One presence document, split into the parts composition works on (RFC 4479 §3). */
export interface PidfParts {
  /** <tuple> elements (services), by document order */
  tuples: Element[];
  /** dm:person elements */
  persons: Element[];
  /** dm:device elements */
  devices: Element[];
  /** top-level <note> elements */
  notes: Element[];
  /** any other top-level element (extensions), kept as they are */
  others: Element[];
}

/**
 * Parses a PIDF document (RFC 3863 §4) and checks what composition relies on: well-formed
 * UTF-8 XML without DTD, a <presence> root in the PIDF namespace with an `entity`, and an `id`
 * on every tuple, person and device (RFC 3863 §4.1.2, RFC 4479 §3). Anything else is 400 with
 * the fault. Extension elements are kept untouched (RFC 4479 §3.4: the data model is kept intact).
 */
export function parsePidf(body: Buffer): PidfParts {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new SipError(400, 'PIDF body is not UTF-8');
  }
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new SipError(400, 'PIDF with a DTD or entities is refused');
  const problems: string[] = [];
  let root: Element | null = null;
  try {
    const doc = new DOMParser({ onError: (level: string, msg: string) => void (level !== 'warning' && problems.push(msg)) }).parseFromString(text, 'text/xml');
    root = doc.documentElement;
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (problems.length > 0 || root === null) throw new SipError(400, `Malformed PIDF: ${(problems[0] ?? 'no root element').split('\n')[0].slice(0, 120)}`);
  if (root.namespaceURI !== PIDF || root.localName !== 'presence') throw new SipError(400, 'Malformed PIDF: the root must be <presence> in urn:ietf:params:xml:ns:pidf');
  if (!root.getAttribute('entity')) throw new SipError(400, 'Malformed PIDF: <presence> needs an entity');
  const parts: PidfParts = { tuples: [], persons: [], devices: [], notes: [], others: [] };
  for (const el of childElements<Element>(root)) {
    if (el.namespaceURI === PIDF && el.localName === 'tuple') parts.tuples.push(el);
    else if (el.namespaceURI === DM && el.localName === 'person') parts.persons.push(el);
    else if (el.namespaceURI === DM && el.localName === 'device') parts.devices.push(el);
    else if (el.namespaceURI === PIDF && el.localName === 'note') parts.notes.push(el);
    else parts.others.push(el);
  }
  for (const el of [...parts.tuples, ...parts.persons, ...parts.devices]) {
    if (!el.getAttribute('id')) throw new SipError(400, `Malformed PIDF: <${el.localName}> needs an id`);
  }
  for (const t of parts.tuples) {
    if (childElements(t, PIDF, 'status').length !== 1) throw new SipError(400, 'Malformed PIDF: each <tuple> needs one <status>');
  }
  return parts;
}

const serializer = new XMLSerializer();

/**
 * Writes a presence document for `entity` from composed parts. Each element is written with the
 * namespace declarations it needs (the serializer adds those in scope), so extensions survive.
 */
export function writePidf(entity: string, parts: PidfParts): string {
  const inner = [...parts.tuples, ...parts.persons, ...parts.devices, ...parts.notes, ...parts.others].map((e) => serializer.serializeToString(e)).join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<presence xmlns="${PIDF}" entity="${escapeAttr(entity)}">${inner ? `\n${inner}\n` : ''}</presence>\n`;
}

/** A tuple that says only open or closed (registration state as presence, R4). */
export function basicTuple(id: string, open: boolean): Element {
  const xml = `<tuple xmlns="${PIDF}" id="${escapeAttr(id)}"><status><basic>${open ? 'open' : 'closed'}</basic></status></tuple>`;
  return new DOMParser().parseFromString(xml, 'text/xml').documentElement!;
}
