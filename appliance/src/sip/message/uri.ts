import { SyntaxFault } from './scanner.js';
import type { Param } from './params.js';
import { formatParams } from './params.js';

/**
 * A SIP or SIPS URI (RFC 3261 §19.1). `user` and parameter values are kept
 * as received (escaped); use {@link unescapeUri} to compare.
 */
export interface SipUri {
  scheme: 'sip' | 'sips';
  user: string | null;
  password: string | null;
  /** lower-cased; IPv6 references keep their brackets */
  host: string;
  port: number | null;
  params: Param[];
  /** the `?…` part without the '?', or null */
  headers: string | null;
}

/** Any other URI scheme (tel:, isbn:, soap.beep: …), kept as text. */
export interface OtherUri {
  scheme: string;
  text: string;
}

export type Uri = SipUri | OtherUri;

export function isSipUri(uri: Uri): uri is SipUri {
  return uri.scheme === 'sip' || uri.scheme === 'sips';
}

// Character classes of RFC 3261 §25.1, as lookup tables.
function table(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789') t[c.charCodeAt(0)] = 1;
  for (const c of chars) t[c.charCodeAt(0)] = 1;
  return t;
}
const MARK = "-_.!~*'()";
const USER = table(MARK + '&=+$,;?/');
const PASSWORD = table(MARK + '&=+$,');
const PARAM = table(MARK + '[]/:&+$');
const HEADERS = table(MARK + '[]/?:+$=&');
const SCHEME = table('+-.');

function checkChars(s: string, allowed: Uint8Array, what: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      // escaped = "%" HEXDIG HEXDIG
      if (!/^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) throw new SyntaxFault(`Malformed ${what}: bad escape`);
      i += 2;
      continue;
    }
    if (c >= 128 || allowed[c] !== 1) throw new SyntaxFault(`Malformed ${what}: character '${s[i]}' not allowed`);
  }
}

/** Validates host = hostname / IPv4address / IPv6reference and returns it lower-cased. */
export function parseHost(host: string, what = 'host'): string {
  if (host.length === 0) throw new SyntaxFault(`Malformed ${what}: empty host`);
  if (host[0] === '[') {
    // RFC 5118 §4.3 tolerates the "::" + IPv4 over-long form, so check the shape, not the count
    if (!/^\[[0-9a-fA-F:.]+\]$/.test(host) || !host.includes(':')) {
      throw new SyntaxFault(`Malformed ${what}: bad IPv6 reference '${host}'`);
    }
    return host.toLowerCase();
  }
  const upper = hostnameShape(host);
  if (upper < 0) throw new SyntaxFault(`Malformed ${what}: bad host '${host}'`);
  return upper === 0 ? host : host.toLowerCase();
}

/**
 * Whether `host` is a hostname or IPv4address of RFC 3261 §25.1: labels of letters, digits and
 * inner hyphens, joined by single dots, with one optional dot at the end. -1 when it is not, else
 * how many upper-case letters it has (none: no lower-cased copy needed). Every Via, From, To
 * and Request-URI host comes through here, so a loop instead of a regular expression.
 */
function hostnameShape(host: string): number {
  let upper = 0;
  let labelStart = 0;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c === 46) {
      // a label ends: not empty, not ending in a hyphen
      if (i === labelStart || host.charCodeAt(i - 1) === 45) return -1;
      labelStart = i + 1;
    } else if (c === 45) {
      if (i === labelStart) return -1;
    } else if (c >= 65 && c <= 90) upper++;
    else if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57))) return -1;
  }
  // the last label: may be absent only after a trailing dot that follows a label
  if (labelStart === host.length) return labelStart > 0 ? upper : -1;
  return host.charCodeAt(host.length - 1) === 45 ? -1 : upper;
}

/** Splits "host[:port]" where host may be an IPv6 reference. */
function parseHostPort(text: string, what: string): { host: string; port: number | null } {
  let host = text;
  let port: number | null = null;
  if (text[0] === '[') {
    const end = text.indexOf(']');
    if (end < 0) throw new SyntaxFault(`Malformed ${what}: unterminated IPv6 reference`);
    host = text.slice(0, end + 1);
    const after = text.slice(end + 1);
    if (after.length > 0) {
      if (after[0] !== ':') throw new SyntaxFault(`Malformed ${what}: junk after IPv6 reference`);
      port = parsePort(after.slice(1), what);
    }
  } else {
    const colon = text.indexOf(':');
    if (colon >= 0) {
      host = text.slice(0, colon);
      port = parsePort(text.slice(colon + 1), what);
    }
  }
  return { host: parseHost(host, what), port };
}

function parsePort(s: string, what: string): number {
  if (!/^[0-9]{1,5}$/.test(s)) throw new SyntaxFault(`Malformed ${what}: bad port '${s}'`);
  const n = Number(s);
  if (n > 65535) throw new SyntaxFault(`Malformed ${what}: port ${n} out of range`);
  return n;
}

/**
 * Parses an absolute URI. SIP and SIPS URIs are checked against RFC 3261 §25.1;
 * others only need a valid scheme and no white space or angle brackets.
 */
export function parseUri(text: string, what = 'URI'): Uri {
  // the usual form, a lower-case sip: scheme, without lower-casing and checking it
  if (text.startsWith('sip:')) return parseSipUriBody('sip', text.slice(4), what);
  const colon = text.indexOf(':');
  if (colon <= 0) throw new SyntaxFault(`Malformed ${what}: no scheme in '${text.slice(0, 40)}'`);
  const scheme = text.slice(0, colon).toLowerCase();
  if (!/^[a-z]/.test(scheme)) throw new SyntaxFault(`Malformed ${what}: bad scheme '${text.slice(0, colon)}'`);
  for (let i = 1; i < scheme.length; i++) {
    const c = scheme.charCodeAt(i);
    if (c >= 128 || SCHEME[c] !== 1) throw new SyntaxFault(`Malformed ${what}: bad scheme '${text.slice(0, colon)}'`);
  }
  if (scheme !== 'sip' && scheme !== 'sips') {
    if (/[\s<>"]/.test(text) || colon === text.length - 1) throw new SyntaxFault(`Malformed ${what}: bad ${scheme} URI`);
    return { scheme, text };
  }
  return parseSipUriBody(scheme, text.slice(colon + 1), what);
}

function parseSipUriBody(scheme: 'sip' | 'sips', rest: string, what: string): SipUri {
  let user: string | null = null;
  let password: string | null = null;
  // '@' may appear only once: it is excluded from user, password, host, params and headers.
  // Each part is found by its position in `rest` and cut out once.
  let from = 0;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const pc = rest.indexOf(':');
    if (pc >= 0 && pc < at) {
      user = rest.slice(0, pc);
      password = rest.slice(pc + 1, at);
      checkChars(password, PASSWORD, `${what} password`);
    } else user = rest.slice(0, at);
    if (user.length === 0) throw new SyntaxFault(`Malformed ${what}: empty user part`);
    checkChars(user, USER, `${what} user part`);
    from = at + 1;
  }
  let headers: string | null = null;
  let to = rest.length;
  const q = rest.indexOf('?', from);
  if (q >= 0) {
    headers = rest.slice(q + 1);
    to = q;
    checkChars(headers, HEADERS, `${what} headers`);
  }
  const semi = rest.indexOf(';', from);
  const hostEnd = semi >= 0 && semi < to ? semi : to;
  const hostport = from === 0 && hostEnd === rest.length ? rest : rest.slice(from, hostEnd);
  const { host, port } = parseHostPort(hostport, what);
  const params: Param[] = [];
  if (hostEnd < to) {
    for (const p of rest.slice(hostEnd + 1, to).split(';')) {
      const eq = p.indexOf('=');
      const name = eq >= 0 ? p.slice(0, eq) : p;
      const value = eq >= 0 ? p.slice(eq + 1) : null;
      if (name.length === 0) throw new SyntaxFault(`Malformed ${what}: empty URI parameter`);
      checkChars(name, PARAM, `${what} parameter`);
      if (value !== null) {
        if (value.length === 0) throw new SyntaxFault(`Malformed ${what}: empty value of URI parameter ${name}`);
        checkChars(value, PARAM, `${what} parameter`);
      }
      params.push({ name, value });
    }
  }
  return { scheme, user, password, host, port, params, headers };
}

export function formatUri(uri: Uri): string {
  if (!isSipUri(uri)) return uri.text;
  let s = `${uri.scheme}:`;
  if (uri.user !== null) s += uri.password !== null ? `${uri.user}:${uri.password}@` : `${uri.user}@`;
  s += uri.host;
  if (uri.port !== null) s += `:${uri.port}`;
  s += formatParams(uri.params);
  if (uri.headers !== null) s += `?${uri.headers}`;
  return s;
}

/** Decodes %HH escapes (RFC 3261 §19.1.4 compares user parts unescaped). */
function unescapeUri(s: string): string {
  if (!s.includes('%')) return s;
  return s.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/**
 * The address-of-record key of a SIP URI: scheme, unescaped user and host
 * (RFC 3261 §10.3 step 5: everything but these is dropped).
 */
export function aorOf(uri: SipUri): string {
  const user = uri.user === null ? '' : `${unescapeUri(uri.user)}@`;
  return `sip:${user}${uri.host}`;
}


/** URI parameters that must match when either URI has them (RFC 3261 §19.1.4). */
const DECISIVE_PARAMS = ['user', 'ttl', 'method', 'maddr', 'transport'];

function paramMap(uri: SipUri): Map<string, string | null> {
  const m = new Map<string, string | null>();
  for (const p of uri.params) m.set(p.name.toLowerCase(), p.value === null ? null : unescapeUri(p.value).toLowerCase());
  return m;
}

/**
 * URI equality by RFC 3261 §19.1.4: user and password case-sensitive after unescaping,
 * host case-insensitive, ports equal only when both or neither carry one, the parameters
 * user/ttl/method/maddr/transport equal when either has them, other parameters equal when
 * both have them, headers ignored here (no request URI we compare carries them). Non-SIP
 * URIs compare as text, case-insensitively in the scheme.
 */
export function sameUri(a: Uri, b: Uri): boolean {
  if (!isSipUri(a) || !isSipUri(b)) return !isSipUri(a) && !isSipUri(b) && a.scheme === b.scheme && a.text.slice(a.scheme.length) === b.text.slice(b.scheme.length);
  if (a.scheme !== b.scheme || a.host !== b.host || a.port !== b.port) return false;
  if ((a.user === null) !== (b.user === null) || (a.user !== null && unescapeUri(a.user) !== unescapeUri(b.user!))) return false;
  if ((a.password ?? '') !== (b.password ?? '')) return false;
  const pa = paramMap(a);
  const pb = paramMap(b);
  for (const name of DECISIVE_PARAMS) if (pa.get(name) !== pb.get(name)) return false;
  for (const [name, value] of pa) if (pb.has(name) && pb.get(name) !== value) return false;
  return true;
}
