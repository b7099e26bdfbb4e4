import { Scanner, SyntaxFault } from './scanner.js';
import { type Param, readParams, getParam, formatParams } from './params.js';
import { parseHost } from './uri.js';

/** One Via element (RFC 3261 §20.42, §25.1 via-parm). */
export interface Via {
  protocol: string;
  version: string;
  /** upper-cased transport token: UDP, TCP, TLS, WS, WSS, SCTP or an extension */
  transport: string;
  host: string;
  port: number | null;
  params: Param[];
  /** the branch parameter, or '' when absent */
  branch: string;
}

/** [a-zA-Z0-9.-]: what a sent-by hostname or IPv4 address is made of */
function isHostChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 46 || c === 45;
}

function readVia(sc: Scanner): Via {
  sc.skipWs();
  let protocol = 'SIP';
  let version = '2.0';
  // nearly every Via says exactly this: no token cut out for it
  if (sc.text.startsWith('SIP/2.0/', sc.pos)) {
    sc.pos += 8;
    sc.skipWs(); // SLASH = SWS "/" SWS (RFC 3261 §25.1)
  } else {
    protocol = sc.token();
    sc.expectSep('/');
    version = sc.token();
    sc.expectSep('/');
  }
  const token = sc.token();
  const transport = token === 'UDP' || token === 'TCP' || token === 'TLS' || token === 'WSS' || token === 'WS' ? token : token.toUpperCase();
  if (!sc.skipWs()) sc.fail('white space before sent-by');
  let hostText: string;
  if (sc.peek() === '[') {
    const end = sc.text.indexOf(']', sc.pos);
    if (end < 0) throw new SyntaxFault(`Malformed ${sc.what}: unterminated IPv6 reference`);
    hostText = sc.text.slice(sc.pos, end + 1);
    sc.pos = end + 1;
  } else {
    const start = sc.pos;
    while (sc.pos < sc.text.length && isHostChar(sc.text.charCodeAt(sc.pos))) sc.pos++;
    hostText = sc.text.slice(start, sc.pos);
  }
  const host = parseHost(hostText, sc.what);
  let port: number | null = null;
  if (sc.sep(':')) {
    const start = sc.pos;
    let value = 0;
    for (let c = sc.text.charCodeAt(sc.pos); c >= 48 && c <= 57; c = sc.text.charCodeAt(++sc.pos)) value = value * 10 + (c - 48);
    const digits = sc.pos - start;
    if (digits === 0 || digits > 5 || value > 65535) sc.fail('a port');
    port = value;
  }
  const params = readParams(sc);
  const branch = getParam(params, 'branch');
  if (branch === null) throw new SyntaxFault(`Malformed ${sc.what}: branch without a value`);
  return { protocol, version, transport, host, port, params, branch: branch ?? '' };
}

export function parseViaList(value: string): Via[] {
  const sc = new Scanner(value, 'Via');
  const out: Via[] = [];
  for (;;) {
    out.push(readVia(sc));
    sc.skipWs();
    if (sc.done) return out;
    if (!sc.sep(',')) sc.fail("',' or end of Via");
  }
}


/** RFC 3261 §8.1.1.7: branches of compliant elements start with this cookie. */
export const MAGIC_COOKIE = 'z9hG4bK';

/** Writes one Via element back (sent-protocol, sent-by, parameters). */
export function formatVia(v: Via): string {
  return `${v.protocol}/${v.version}/${v.transport} ${v.host}${v.port !== null ? `:${v.port}` : ''}${formatParams(v.params)}`;
}

/**
 * Where the first element of a Via list in `text[from, to)` ends: its comma outside quoted
 * strings (RFC 3261 §25.1, a quoted-pair skipped whole), or -1.
 */
export function firstViaComma(text: string, from = 0, to = text.length): number {
  let quoted = false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c) i++; // quoted-pair
      else if (c === 0x22) quoted = false;
    } else if (c === 0x22) quoted = true;
    else if (c === 0x2c) return i;
  }
  return -1;
}

/** The Via header values without their topmost element, which may share a line with others. */
export function withoutTopVia(values: readonly string[]): string[] {
  if (values.length === 0) return [];
  const comma = firstViaComma(values[0]);
  return comma < 0 ? values.slice(1) : [values[0].slice(comma + 1).trim(), ...values.slice(1)];
}

/**
 * The topmost Via as a server must pass it on and answer it: `received` with the source
 * address when the sent-by host differs from it (RFC 3261 §18.2.1), and with `rport` asked
 * for, `rport` set to the source port and `received` always added (RFC 3581 §4), so a
 * client behind NAT learns its public address. Null when nothing needs to change.
 */
export function stampedTopVia(via: Via, sourceAddress: string, sourcePort: number): Via | null {
  const rport = getParam(via.params, 'rport');
  const host = via.host.startsWith('[') ? via.host.slice(1, -1) : via.host;
  const wantsRport = rport === null;
  if (!wantsRport && rport === undefined && host.toLowerCase() === sourceAddress.toLowerCase()) return null;
  const params: Param[] = [];
  for (const p of via.params) {
    const name = p.name.toLowerCase();
    if (name === 'received') continue;
    params.push(name === 'rport' && wantsRport ? { name: p.name, value: String(sourcePort) } : p);
  }
  params.push({ name: 'received', value: sourceAddress });
  return { ...via, params };
}
