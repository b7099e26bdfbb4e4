import { hash } from 'node:crypto';
import { Scanner, unquote } from '../message/scanner.js';

/** Digest algorithms we offer (RFC 8760 adds SHA-256 to SIP; RFC 7616 defines it for HTTP). */
export type DigestAlgorithm = 'MD5' | 'SHA-256';

function hashOf(alg: DigestAlgorithm, text: string): string {
  // the one-shot form: no Hash object per digest (three per authenticated request)
  return hash(alg === 'MD5' ? 'md5' : 'sha256', text, 'hex');
}

/** HA1 = H(username ":" realm ":" password) — the only form a password is stored in. */
export function ha1(alg: DigestAlgorithm, username: string, realm: string, password: string): string {
  return hashOf(alg, `${username}:${realm}:${password}`);
}

/** Credentials from an Authorization or Proxy-Authorization header (RFC 3261 §25.1 digest-response). */
export interface DigestCredentials {
  scheme: string;
  params: Map<string, string>;
}

/** Parses `Digest a=b, c="d"` (auth-param list, RFC 7235 §2.1 / RFC 3261 §25.1). */
export function parseCredentials(value: string): DigestCredentials | null {
  const sc = new Scanner(value, 'Authorization');
  try {
    sc.skipWs();
    const scheme = sc.token();
    const params = new Map<string, string>();
    if (!sc.skipWs()) return sc.done ? { scheme, params } : null;
    for (;;) {
      const name = sc.token().toLowerCase();
      sc.expectSep('=');
      const v = sc.peek() === '"' ? unquote(sc.quotedString()) : sc.token();
      params.set(name, v);
      sc.skipWs();
      if (sc.done) break;
      sc.expectSep(',');
    }
    return { scheme, params };
  } catch {
    return null;
  }
}

/** A challenge header value (WWW-Authenticate / Proxy-Authenticate). */
export function challenge(realm: string, nonce: string, alg: DigestAlgorithm, stale: boolean): string {
  return `Digest realm="${realm}", nonce="${nonce}", algorithm=${alg}, qop="auth"${stale ? ', stale=true' : ''}`;
}

/**
 * The expected `response` value (RFC 3261 §22.4 with RFC 2617 §3.2.2.1 qop=auth;
 * RFC 8760 keeps the same structure with SHA-256 as H).
 */
export function expectedResponse(
  alg: DigestAlgorithm,
  ha1Hex: string,
  method: string,
  uri: string,
  nonce: string,
  qop: { nc: string; cnonce: string } | null,
): string {
  const ha2 = hashOf(alg, `${method}:${uri}`);
  return qop === null
    ? hashOf(alg, `${ha1Hex}:${nonce}:${ha2}`)
    : hashOf(alg, `${ha1Hex}:${nonce}:${qop.nc}:${qop.cnonce}:auth:${ha2}`);
}
