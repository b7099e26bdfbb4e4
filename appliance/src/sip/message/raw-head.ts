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
  /** the To header carries a tag: a request inside a dialog */
  inDialog: boolean;
  /** the lines a response copies (RFC 3261 §8.2.6.2): Via, From, To, Call-ID, CSeq, as received */
  copied: string[];
}

/** Long and compact names (RFC 3261 §7.3.3) of the fields a response copies. */
const COPIED = new Set(['via', 'v', 'from', 'f', 'to', 't', 'call-id', 'i', 'cseq']);

export function rawHead(buf: Buffer): RawHead | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0 || end > 16_384) return null;
  const text = buf.toString('latin1', 0, end);
  const lines = text.split('\r\n');
  const first = lines[0];
  if (first.startsWith('SIP/')) return null;
  const sp = first.indexOf(' ');
  if (sp <= 0) return null;
  const head: RawHead = { method: first.slice(0, sp), credentials: false, inDialog: false, copied: [] };
  let to = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) return null; // folded: leave it to the parser
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === 'authorization' || name === 'proxy-authorization') head.credentials = true;
    if (!COPIED.has(name)) continue;
    if (name === 'to' || name === 't') {
      to = true;
      if (/;\s*tag\s*=/i.test(line.slice(colon + 1))) head.inDialog = true;
    }
    head.copied.push(line);
  }
  return to ? head : null;
}

/**
 * A final response built from those lines, with a To tag added, a reason, extra header lines and
 * no body. Enough for the client to stop retransmitting (RFC 3261 §17.1.2.2).
 */
export function rawResponse(head: RawHead, status: number, reason: string, toTag: string, extra: string[]): Buffer {
  const out = [`SIP/2.0 ${status} ${reason}`];
  for (const line of head.copied) {
    const name = line.slice(0, line.indexOf(':')).trim().toLowerCase();
    out.push((name === 'to' || name === 't') && !head.inDialog ? `${line};tag=${toTag}` : line);
  }
  out.push(...extra, 'Content-Length: 0', '', '');
  return Buffer.from(out.join('\r\n'), 'latin1');
}
