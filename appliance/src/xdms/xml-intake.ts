import { DOMParser } from '@xmldom/xmldom';
import { conflict } from './xcap-error.js';

/** What @xmldom/xmldom hands back; kept loose so the rest of the XDMS stays DOM-generic. */
export type XmlDocument = ReturnType<DOMParser['parseFromString']>;

/**
 * Turns a request body into a DOM, or the RFC 4825 §11 condition it violates:
 * not-utf-8 (§11.5.9), not-well-formed (§11.5.1). Documents with a DOCTYPE or
 * entity declarations are refused outright: no entity is ever expanded, so no
 * "billion laughs" and no external fetch.
 */
export function parseXmlBody(body: Buffer): XmlDocument {
  const text = decodeUtf8(body);
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw conflict('not-well-formed', 'document type and entity declarations are not allowed');
  const problems: string[] = [];
  let doc: XmlDocument;
  try {
    doc = new DOMParser({
      onError: (level: string, msg: string) => {
        if (level !== 'warning') problems.push(msg);
      },
    }).parseFromString(text, 'text/xml');
  } catch (err) {
    // xmldom throws on fatal errors (unclosed elements and the like)
    problems.push((err as Error).message);
    doc = null as unknown as XmlDocument;
  }
  if (problems.length > 0 || !doc?.documentElement) throw conflict('not-well-formed', `not well-formed XML: ${(problems[0] ?? 'no root element').split('\n')[0]}`);
  return doc;
}

/** The body as text, or RFC 4825 §11.5.9 not-utf-8. */
export function decodeUtf8(body: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw conflict('not-utf-8', 'the body is not UTF-8');
  }
}
