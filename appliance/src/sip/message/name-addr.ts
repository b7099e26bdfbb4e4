import { Scanner, SyntaxFault, isTokenChar } from './scanner.js';
import { type Param, readParams, formatParams } from './params.js';
import { type Uri, parseUri, formatUri } from './uri.js';

/**
 * name-addr / addr-spec with header parameters, as in From, To, Contact,
 * Route, Record-Route, P-Asserted-Identity (RFC 3261 §20.10, §25.1).
 */
export interface NameAddr {
  /** display-name as written (a quoted string keeps its quotes), or null */
  display: string | null;
  uri: Uri;
  params: Param[];
}

/** Reads one name-addr or addr-spec followed by its header parameters. */
function readNameAddr(sc: Scanner): NameAddr {
  sc.skipWs();
  let display: string | null = null;
  if (sc.peek() === '"') {
    display = sc.quotedString();
    sc.skipWs();
    if (sc.peek() !== '<') sc.fail("'<' after the display name");
  } else if (sc.peek() !== '<') {
    // Either *(token LWS) "<" … or a bare addr-spec; look ahead for '<' before any separator.
    const start = sc.pos;
    let i = start;
    const t = sc.text;
    while (i < t.length && (isTokenChar(t.charCodeAt(i)) || t[i] === ' ' || t[i] === '\t')) i++;
    if (t[i] === '<' && i > start) {
      display = t.slice(start, i).trim();
      sc.pos = i;
    } else {
      return readAddrSpec(sc);
    }
  }
  // LAQUOT / RAQUOT: no white space inside the brackets (RFC 4475 §3.1.2.13 badaspec)
  sc.pos++;
  const end = sc.text.indexOf('>', sc.pos);
  if (end < 0) sc.fail("'>'");
  const inner = sc.text.slice(sc.pos, end);
  if (/\s/.test(inner)) throw new SyntaxFault(`Malformed ${sc.what}: white space inside <${inner}>`);
  const uri = parseUri(inner, `${sc.what} URI`);
  sc.pos = end + 1;
  return { display, uri, params: readParams(sc) };
}

function readAddrSpec(sc: Scanner): NameAddr {
  const start = sc.pos;
  while (sc.pos < sc.text.length) {
    const ch = sc.text[sc.pos];
    if (ch === ';' || ch === ',' || ch === ' ' || ch === '\t') break;
    sc.pos++;
  }
  const text = sc.text.slice(start, sc.pos);
  if (text.length === 0) sc.fail('a URI');
  // RFC 3261 §20: a URI with '?' or ';' or ',' must be enclosed in angle brackets
  if (text.includes('?')) throw new SyntaxFault(`Malformed ${sc.what}: URI with headers must be in <>`);
  const uri = parseUri(text, `${sc.what} URI`);
  return { display: null, uri, params: readParams(sc) };
}

export function parseNameAddr(value: string, what: string): NameAddr {
  const sc = new Scanner(value, what);
  const na = readNameAddr(sc);
  sc.skipWs();
  if (!sc.done) sc.fail('end of value');
  return na;
}

/** Parses a comma list of name-addrs (Contact, Route, Record-Route). */
export function parseNameAddrList(value: string, what: string): NameAddr[] {
  const sc = new Scanner(value, what);
  const out: NameAddr[] = [];
  for (;;) {
    out.push(readNameAddr(sc));
    sc.skipWs();
    if (sc.done) return out;
    if (!sc.sep(',')) sc.fail("',' or end of value");
  }
}

export function formatNameAddr(na: NameAddr): string {
  const display = na.display === null ? '' : `${na.display} `;
  return `${display}<${formatUri(na.uri)}>${formatParams(na.params)}`;
}
