/** RFC 3261 §7.3.3 and later RFCs: compact forms, expanded to the long name (lower case). */
const COMPACT: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type',
  f: 'from', s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', r: 'refer-to',
  b: 'referred-by', u: 'allow-events', a: 'accept-contact', j: 'reject-contact',
  d: 'request-disposition', x: 'session-expires', y: 'identity', n: 'identity-info',
};

/** How we spell a header when we write it. */
const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID', cseq: 'CSeq', 'www-authenticate': 'WWW-Authenticate', 'mime-version': 'MIME-Version',
  'p-asserted-identity': 'P-Asserted-Identity', 'p-preferred-identity': 'P-Preferred-Identity', 'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match', 'rseq': 'RSeq', 'rack': 'RAck',
};

/** Lower-cased long name of a header name as received. */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return lower.length === 1 ? (COMPACT[lower] ?? lower) : lower;
}

/** Spellings already worked out; bounded, since header names come from the network. */
const spelled = new Map<string, string>();

/** The spelling we serialize a header key with. */
export function canonicalName(key: string): string {
  const special = CANONICAL[key] ?? spelled.get(key);
  if (special !== undefined) return special;
  let out = '';
  let up = true;
  for (const ch of key) {
    out += up ? ch.toUpperCase() : ch;
    up = ch === '-';
  }
  if (spelled.size < 512) spelled.set(key, out);
  return out;
}

/** Headers that must appear at most once in a message (RFC 3261 §7.3.1, Table 2/3). */
export const SINGLE_HEADERS = new Set([
  'call-id', 'cseq', 'from', 'to', 'max-forwards', 'content-length', 'content-type', 'expires',
  'min-expires', 'date', 'mime-version', 'content-disposition',
]);
