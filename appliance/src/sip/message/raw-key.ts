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

/** The branch a server-transaction key starts with (null for RFC 2543 keys, which have none). */
export function branchOfKey(key: string): string | null {
  return key.startsWith('2543|') ? null : key.slice(0, key.indexOf('|'));
}

const BRANCH = Buffer.from(';branch=');

/**
 * Whether a datagram starts as a response does ("SIP/2.0 …"), read before any string is made:
 * exactly what makes the parser take it for one (parser.ts, `startLine.startsWith('SIP/')`; "/"
 * is not a token character, so no method starts so).
 */
export function startsAsResponse(buf: Buffer): boolean {
  return buf[0] === 0x53 && buf[1] === 0x49 && buf[2] === 0x50 && buf[3] === 0x2f;
}

/**
 * The value of the first `;branch=` in a datagram, as spelt: a first cheap look, whether a
 * request could belong to a transaction at all. It may miss (another spelling) or find another
 * parameter (a URI's), so it only ever rules a message out when the full look would have too.
 */
export function rawBranch(buf: Buffer): string | null {
  const at = buf.indexOf(BRANCH);
  if (at < 0) return null;
  let end = at + BRANCH.length;
  const limit = Math.min(buf.length, end + 256);
  // up to the next ';', ',', white space or line end
  while (end < limit) {
    const c = buf[end];
    if (c === 0x3b || c === 0x2c || c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) break;
    end++;
  }
  return buf.toString('latin1', at + BRANCH.length, end);
}

/** What the raw look finds: the request's method and its server-transaction key. */
export interface RawKey {
  method: string;
  key: string;
}

const CSEQ = /^([0-9]{1,10})[ \t]+[^ \t]+$/;
// the first field of each name, at the start of a line (the Request-Line has no colon before its first space)
const VIA = /^(?:via|v)[ \t]*:[ \t]*([^\r\n]*)/im;
const CALL_ID = /^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)/im;
const CSEQ_FIELD = /^cseq[ \t]*:[ \t]*([^\r\n]*)/im;
const FOLDED = /\r\n[ \t]/;
/**
 * The top Via element in its plain form (no white space inside, token parameters): transport,
 * host, port, parameters. Anything else goes through the Via parser itself.
 */
const PLAIN_VIA = /^SIP\/2\.0\/[A-Za-z]+[ \t]+([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?((?:;[-!%'*+.0-9A-Z_`a-z~]+(?:=[-!%'*+.0-9A-Z_`a-z~:]+)?)*)[ \t]*(?:,|$)/;

/** Host, port and branch of the top Via, as the Via parser reads them, or null. */
function topVia(value: string): { host: string; port: number | null; branch: string } | null {
  const m = PLAIN_VIA.exec(value);
  if (m === null) {
    try {
      // the whole value, as the parser reads it: a comma inside a quoted parameter must not cut it
      const v = parseViaList(value)[0];
      return { host: v.host, port: v.port, branch: v.branch };
    } catch {
      return null;
    }
  }
  const port = m[2] === undefined ? null : Number(m[2]);
  if (port !== null && port > 65535) return null;
  // the first branch parameter, its name in any case (params.ts getParam)
  for (const p of m[3].split(';')) {
    const eq = p.indexOf('=');
    if ((eq < 0 ? p.length : eq) === 6 && p.slice(0, 6).toLowerCase() === 'branch') return eq < 0 ? null : { host: m[1].toLowerCase(), port, branch: p.slice(7) };
  }
  return { host: m[1].toLowerCase(), port, branch: '' };
}

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
  if (startsAsResponse(buf)) return null;
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0 || end > 16_384) return null;
  const text = buf.toString('utf8', 0, end);
  const sp = text.indexOf(' ');
  const eol = text.indexOf('\r\n');
  if (sp <= 0 || eol < 0 || sp > eol) return null;
  // a folded line might continue a field we read: leave the message to the parser
  if (FOLDED.test(text)) return null;
  const via = VIA.exec(text);
  const callId = CALL_ID.exec(text);
  const cseq = CSEQ_FIELD.exec(text);
  if (via === null || callId === null || cseq === null) return null;
  const id = callId[1].trimEnd();
  const seq = CSEQ.exec(cseq[1].trimEnd());
  if (id.length === 0 || seq === null || Number(seq[1]) >= 2 ** 31) return null;
  const top = topVia(via[1].trimEnd());
  if (top === null || !top.branch.startsWith(MAGIC_COOKIE)) return null;
  const method = text.slice(0, sp);
  return { method, key: serverKeyOf(top.branch, top.host, top.port, method, id, Number(seq[1])) };
}
