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

/** A line that continues the one before (folding): the light look leaves such messages to the parser. */
const FOLDED = /\r\n[ \t]/;
/** A header line without a name before its colon. */
const NAMELESS = /\r\n(?::|[^:\r\n]*(?:\r\n|$))/;
const CREDENTIALS = /\r\n(?:proxy-)?authorization[ \t]*:([^\r\n]*)/i;
/** A digest nonce parameter (RFC 7616 §3.4); not cnonce, which ends the same way. */
const NONCE = /(?:^|[\s,])nonce[ \t]*=[ \t]*"([^"]*)"/i;
/** The lines a response copies, long and compact names (RFC 3261 §7.3.3); group 1 is set for To. */
const COPIED = /\r\n(?:(to|t)|via|v|from|f|call-id|i|cseq)[ \t]*:[^\r\n]*/gi;
const TAG = /;\s*tag\s*=\s*([^;\s]*)/i;

/** The nonce parameter of an Authorization or Proxy-Authorization value (RFC 7616 §3.4), as written, or null. */
export function nonceOf(credentials: string): string | null {
  return NONCE.exec(credentials)?.[1] ?? null;
}

export function rawHead(buf: Buffer): RawHead | null {
  const end = buf.indexOf(CRLFCRLF);
  if (end < 0 || end > 16_384) return null;
  // latin1: one byte per character, the cheapest string to make; the lines are sent back as they came
  const text = buf.toString('latin1', 0, end);
  if (text.startsWith('SIP/')) return null;
  const sp = text.indexOf(' ');
  const eol = text.indexOf('\r\n');
  if (sp <= 0 || (eol >= 0 && sp > eol)) return null;
  if (FOLDED.test(text) || NAMELESS.test(text)) return null;
  const credentials = CREDENTIALS.exec(text);
  const nonce = credentials === null ? null : nonceOf(credentials[1]);
  const head: RawHead = { method: text.slice(0, sp), credentials: credentials !== null, nonce, inDialog: false, toTag: null, copied: [], to: -1 };
  for (const m of text.matchAll(COPIED)) {
    const line = m[0].slice(2);
    if (m[1] !== undefined) {
      head.to = head.copied.length;
      const tag = TAG.exec(line.slice(line.indexOf(':') + 1));
      if (tag !== null) {
        head.inDialog = true;
        head.toTag = tag[1];
      }
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
