import { detached } from '../../util/detached.js';

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
  // names we look up again and again (every `headers.get('via')`) are answered from what
  // receivedName remembers: finding a constant string costs less than lower-casing it
  return receivedName(name).key;
}

function keyOf(name: string): string {
  const lower = name.toLowerCase();
  return lower.length === 1 ? (COMPACT[lower] ?? lower) : lower;
}

const MAX_REMEMBERED = 512;
const spellings = new Map<string, string>();

/** The spelling we serialize a header key with. */
export function canonicalName(key: string): string {
  const known = spellings.get(key);
  if (known !== undefined) return known;
  const spelled = CANONICAL[key] ?? spell(key);
  // every header of every message comes through here: remember the spellings, but only so many,
  // because names are chosen by whoever sends us a message
  if (spellings.size < MAX_REMEMBERED) spellings.set(key, spelled);
  return spelled;
}

function spell(key: string): string {
  let out = '';
  let up = true;
  for (const ch of key) {
    out += up ? ch.toUpperCase() : ch;
    up = ch === '-';
  }
  return out;
}

/** Headers that must appear at most once in a message (RFC 3261 §7.3.1, Table 2/3). */
export const SINGLE_HEADERS = new Set([
  'call-id', 'cseq', 'from', 'to', 'max-forwards', 'content-length', 'content-type', 'expires',
  'min-expires', 'date', 'mime-version', 'content-disposition',
]);

/** A header name as received, read once: its key, how we write it, whether it may repeat. */
export interface ReceivedName {
  key: string;
  spelling: string;
  single: boolean;
}

const received = new Map<string, ReceivedName>();

/**
 * What a header name as received stands for. Every field of every message we parse comes
 * through here: a name seen before costs one lookup instead of a lower-cased copy, a second
 * lookup for its spelling and a third for SINGLE_HEADERS. Remembered up to the same bound as
 * the spellings, since names are chosen by whoever sends us a message.
 */
export function receivedName(name: string): ReceivedName {
  const known = received.get(name);
  if (known !== undefined) return known;
  const key = keyOf(name);
  const read = { key, spelling: canonicalName(key), single: SINGLE_HEADERS.has(key) };
  // a copy: a name cut from a message (13 characters or more) would keep its header text alive for good
  if (received.size < MAX_REMEMBERED) received.set(detached(name), read);
  return read;
}

/** The names nearly every message we parse spells this way (compact forms included). */
const COMMON_SPELLINGS = [
  'Via', 'From', 'To', 'Call-ID', 'CSeq', 'Max-Forwards', 'Content-Type', 'Content-Length', 'Contact',
  'Proxy-Authorization', 'Authorization', 'Proxy-Authenticate', 'WWW-Authenticate', 'Expires', 'Route',
  'Record-Route', 'User-Agent', 'Server', 'Allow', 'Supported', 'Require', 'Event', 'Accept',
  'Subscription-State', 'P-Asserted-Identity', 'Date', 'Call-Id', 'Cseq',
  'v', 'f', 't', 'i', 'm', 'l', 'c', 'k', 'o',
];

/** The common spellings by their first character code, with what each stands for. */
const commonByFirst: { spelling: string; read: ReceivedName }[][] = [];
for (const spelling of COMMON_SPELLINGS) {
  (commonByFirst[spelling.charCodeAt(0)] ??= []).push({ spelling, read: receivedName(spelling) });
}

/**
 * What the header name `src[start, end)` stands for when it is spelled as one of the common
 * names, undefined otherwise (then cut it out and ask receivedName). Read in place: no string
 * cut and hashed for the dozen fields of every message.
 */
export function commonName(src: string, start: number, end: number): ReceivedName | undefined {
  const list = commonByFirst[src.charCodeAt(start)];
  if (list === undefined) return undefined;
  const length = end - start;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c.spelling.length === length && src.startsWith(c.spelling, start)) return c.read;
  }
  return undefined;
}
