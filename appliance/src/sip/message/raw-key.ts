import { headerKey } from './header-names.js';
import { MAGIC_COOKIE, parseViaList } from './via.js';

/**
 * A server transaction's key (RFC 3261 §17.2.3: branch, sent-by and method; ACK matches the
 * INVITE), with Call-ID and CSeq number added because a real retransmission has them too, while
 * clients that reuse a branch for new requests (several RFC 4475 messages do) would otherwise get
 * a stale answer. One function for the full parse and the raw look, so the two always agree.
 */
export function serverKeyOf(branch: string, host: string, port: number | null, method: string, callId: string, seq: number): string {
  return `${branch}|${host}:${port ?? ''}|${method === 'ACK' ? 'INVITE' : method}|${callId}|${seq}`;
}

/** What the raw look finds: the request's method and its server-transaction key. */
export interface RawKey {
  method: string;
  key: string;
}

const CSEQ = /^([0-9]{1,10})[ \t]+[^ \t]+$/;

/**
 * The server-transaction key of a request datagram, read from its bytes as far as the key goes
 * (the Request-Line's method, the top Via, Call-ID and CSeq), without parsing or validating the
 * rest: what a retransmission needs to be matched to its transaction and answered with the last
 * response again (RFC 3261 §17.2.1, §17.2.2), when a full parse would be thrown away.
 *
 * Null for anything it does not read exactly as the parser would (responses, folded lines, a
 * bare-LF message, a branch without the magic cookie, an unreadable Via): those take the ordinary
 * path, whose key is the authority. When it gives a key, it is the one the parser's message
 * gives (test: every RFC 4475/5118 torture message).
 */
export function rawServerKey(buf: Buffer): RawKey | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0 || end > 16_384) return null;
  const text = buf.toString('utf8', 0, end);
  let eol = text.indexOf('\r\n');
  if (eol < 0) return null;
  const sp = text.indexOf(' ');
  if (sp <= 0 || sp > eol || text.startsWith('SIP/')) return null;
  const method = text.slice(0, sp);
  let via: string | null = null;
  let callId: string | null = null;
  let cseq: string | null = null;
  while (eol < text.length && (via === null || callId === null || cseq === null)) {
    const start = eol + 2;
    eol = text.indexOf('\r\n', start);
    if (eol < 0) eol = text.length;
    const c = text.charCodeAt(start);
    // a folded line might continue a field we read: leave the message to the parser
    if (c === 32 || c === 9) return null;
    // only Via (v), Call-ID (i) and CSeq can matter: skip the rest on their first letter
    const lc = c | 0x20;
    if (lc !== 0x76 && lc !== 0x69 && lc !== 0x63) continue;
    const colon = text.indexOf(':', start);
    if (colon < 0 || colon > eol) return null;
    const key = headerKey(text.slice(start, colon).trimEnd());
    const value = text.slice(colon + 1, eol).trim();
    if (key === 'via') via ??= value;
    else if (key === 'call-id') callId ??= value;
    else if (key === 'cseq') cseq ??= value;
  }
  if (via === null || callId === null || cseq === null || callId.length === 0) return null;
  // a folded line further down may still belong to one of them
  if (text.includes('\r\n ', eol) || text.includes('\r\n\t', eol)) return null;
  const seq = CSEQ.exec(cseq);
  if (seq === null || Number(seq[1]) >= 2 ** 31) return null;
  let top;
  try {
    // the whole value, as the parser reads it: a comma inside a quoted parameter must not cut it
    top = parseViaList(via)[0];
  } catch {
    return null;
  }
  if (!top.branch.startsWith(MAGIC_COOKIE)) return null;
  return { method, key: serverKeyOf(top.branch, top.host, top.port, method, callId, Number(seq[1])) };
}
