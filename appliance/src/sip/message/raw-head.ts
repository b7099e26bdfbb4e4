import { startsAsResponse } from './raw-key.js';

/**
 * A light look at a request's header section, without parsing it: what overload control needs to
 * decide, and to answer, before the full parser runs (RFC 3261 §21.5.4: refuse early and cheaply).
 * Anything unusual (a response, folded lines of the fields it needs, no blank line) gives null, and
 * the message takes the ordinary path.
 */
export interface RawHead {
  method: string;
  /** Authorization or Proxy-Authorization present */
  credentials: boolean;
  /** the nonce of the first credentials line, as received (null without one) */
  nonce: string | null;
  /** the To header carries a tag: a request inside a dialog */
  inDialog: boolean;
  /** that tag's value, as received (null outside a dialog) */
  toTag: string | null;
  /** the lines a response copies (RFC 3261 §8.2.6.2): Via, From, To, Call-ID, CSeq, as received */
  copied: string[];
  /** which of them is To */
  to: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** SP or HTAB (RFC 3261 §25.1 LWS) */
const blank = (c: number): boolean => c === 0x20 || c === 0x09;
/** A digest nonce parameter (RFC 7616 §3.4); not cnonce, which ends the same way. */
const NONCE = /(?:^|[\s,])nonce[ \t]*=[ \t]*"([^"]*)"/i;
const TAG = /;\s*tag\s*=\s*([^;\s]*)/i;
/** What a header line's name says, by its lower-case spelling, long and compact (RFC 3261 §7.3.3). */
const NAMES = new Map<string, 'to' | 'copied' | 'credentials'>([
  ['to', 'to'],
  ['t', 'to'],
  ['via', 'copied'],
  ['v', 'copied'],
  ['from', 'copied'],
  ['f', 'copied'],
  ['call-id', 'copied'],
  ['i', 'copied'],
  ['cseq', 'copied'],
  ['authorization', 'credentials'],
  ['proxy-authorization', 'credentials'],
]);
/** The lengths of those names: any other line is passed over without making a string of its name. */
const NAME_LENGTHS = new Set([...NAMES.keys()].map((n) => n.length));

/** The nonce parameter of an Authorization or Proxy-Authorization value (RFC 7616 §3.4), as written, or null. */
export function nonceOf(credentials: string): string | null {
  return NONCE.exec(credentials)?.[1] ?? null;
}

/**
 * Reads a request's header section line by line, once, with no regular expression over the
 * whole of it: it runs for every datagram while load is shed, so it must cost a small part of
 * what refusing costs (a send). Null for a response, a folded line, a line without a name, no To.
 */
export function rawHead(buf: Buffer): RawHead | null {
  if (startsAsResponse(buf)) return null;
  const end = buf.indexOf(CRLFCRLF);
  if (end < 0 || end > 16_384) return null;
  // latin1: one byte per character, the cheapest string to make; the lines are sent back as they came
  const text = buf.toString('latin1', 0, end);
  const sp = text.indexOf(' ');
  let eol = text.indexOf('\r\n');
  if (sp <= 0 || (eol >= 0 && sp > eol)) return null;
  const head: RawHead = { method: text.slice(0, sp), credentials: false, nonce: null, inDialog: false, toTag: null, copied: [], to: -1 };
  while (eol >= 0) {
    const start = eol + 2;
    const next = text.indexOf('\r\n', start);
    const stop = next < 0 ? text.length : next;
    eol = next;
    // a folded line continues the one before: left to the parser
    if (blank(text.charCodeAt(start))) return null;
    const colon = text.indexOf(':', start);
    // a line without a name before a colon
    if (colon <= start || colon > stop) return null;
    let nameEnd = colon;
    while (blank(text.charCodeAt(nameEnd - 1))) nameEnd--;
    if (!NAME_LENGTHS.has(nameEnd - start)) continue;
    const kind = NAMES.get(text.slice(start, nameEnd).toLowerCase());
    if (kind === undefined) continue;
    if (kind === 'credentials') {
      if (!head.credentials) head.nonce = nonceOf(text.slice(colon + 1, stop));
      head.credentials = true;
      continue;
    }
    const line = text.slice(start, stop);
    if (kind === 'to') {
      head.to = head.copied.length;
      const tag = TAG.exec(text.slice(colon + 1, stop));
      head.inDialog = tag !== null;
      head.toTag = tag === null ? null : tag[1];
    }
    head.copied.push(line);
  }
  return head.to < 0 ? null : head;
}

/**
 * A final response built from those lines, with a To tag added, a reason, extra header lines and
 * no body. Enough for the client to stop retransmitting (RFC 3261 §17.1.2.2). `extra` is one
 * string of CRLF-ended lines, prepared once by the caller (a template: Retry-After, Server).
 */
export function rawResponse(head: RawHead, status: number, reason: string, toTag: string, extra: string): Buffer {
  let out = `SIP/2.0 ${status} ${reason}\r\n`;
  for (let i = 0; i < head.copied.length; i++) out += i === head.to && !head.inDialog ? `${head.copied[i]};tag=${toTag}\r\n` : `${head.copied[i]}\r\n`;
  return Buffer.from(`${out}${extra}Content-Length: 0\r\n\r\n`, 'latin1');
}
