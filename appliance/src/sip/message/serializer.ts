import type { AnyMessage } from './message.js';
import { Headers } from './headers.js';
import { SipResponse, type SipRequest } from './message.js';

/**
 * Writes a message in wire form. Content-Length is always written last and
 * computed from the body, so callers never keep it in step by hand.
 */
export function serialize(msg: AnyMessage): Buffer {
  const start = msg.isRequest ? `${msg.method} ${msg.uriText} SIP/2.0\r\n` : `SIP/2.0 ${msg.status} ${msg.reason}\r\n`;
  const s = `${start}${msg.headers.format('content-length')}Content-Length: ${msg.body.length}\r\n\r\n`;
  if (msg.body.length === 0) return Buffer.from(s);
  // one allocation for head and body (not a Buffer for the head, then a copy of both)
  const head = Buffer.byteLength(s);
  const out = Buffer.allocUnsafe(head + msg.body.length);
  out.write(s, 0, head, 'utf8');
  msg.body.copy(out, head);
  return out;
}

/** Header fields a response copies from its request (RFC 3261 §8.2.6.2). */
const COPIED = ['via', 'from', 'to', 'call-id', 'cseq'];

/**
 * Builds a response to a request, or to the readable headers of a rejected one.
 * A To tag is added for final responses when the request had none.
 */
export function createResponse(
  req: SipRequest | Headers,
  status: number,
  reason: string,
  toTag?: string,
): SipResponse {
  const src = req instanceof Headers ? req : req.headers;
  const headers = new Headers();
  for (const key of COPIED) {
    const values = src.all(key);
    if (values.length > 0) headers.set(key, values);
  }
  if (toTag !== undefined && status > 100) {
    const to = headers.get('to');
    if (to !== undefined && !hasToTag(req, to)) headers.set('to', `${to};tag=${toTag}`);
  }
  return new SipResponse(status, sanitizeReason(reason), headers, Buffer.alloc(0));
}

/**
 * A final response in wire form straight from its request's fields (RFC 3261 §8.2.6.2: Via,
 * From, To with our tag, Call-ID and CSeq copied), with `lines` (more header lines, each ending
 * in CRLF) and no body: createResponse then serialize, without the message object between them,
 * for answers given before any transaction is made (Stack.answerAtOnce).
 */
export function responseBytes(req: SipRequest, status: number, reason: string, toTag: string, lines: string): Buffer {
  const h = req.headers;
  let out = `SIP/2.0 ${status} ${sanitizeReason(reason)}\r\n`;
  const vias = h.all('via');
  for (let i = 0; i < vias.length; i++) out += `Via: ${vias[i]}\r\n`;
  const to = h.get('to') ?? '';
  const tagged = hasToTag(req, to) ? to : `${to};tag=${toTag}`;
  out += `From: ${h.get('from') ?? ''}\r\nTo: ${tagged}\r\nCall-ID: ${h.get('call-id') ?? ''}\r\nCSeq: ${h.get('cseq') ?? ''}\r\n`;
  return Buffer.from(`${out}${lines}Content-Length: 0\r\n\r\n`);
}

/**
 * Whether the To header already has a tag: the parsed one for a request (a `;tag=` inside a
 * bracketed URI, `<sip:bob@x;tag=1>`, is the URI's, not the header's), the text's for the readable
 * headers of a request that failed to parse.
 */
function hasToTag(req: SipRequest | Headers, to: string): boolean {
  return req instanceof Headers ? /;\s*tag\s*=/i.test(to) : req.toTag !== undefined;
}

/** A reason phrase must not contain CR or LF (RFC 3261 §25.1 Reason-Phrase). */
function sanitizeReason(reason: string): string {
  return reason.replace(/[\r\n]+/g, ' ').slice(0, 200);
}
