import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
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

/** SHA-256's block size: HMAC's key pads are one block each (RFC 2104 §2). */
const BLOCK = 64;
/** Our nonce payloads are ~20 characters; anything much longer is not one of ours. */
const MAX_PAYLOAD = 128;
/** Issued nonces remembered until their credentials come (NonceFactory.recent). */
const RECENT_NONCES = 4096;

/**
 * Stateless nonces: the nonce carries its issue time and an HMAC, so any
 * worker can check it and no table grows with the number of challenges.
 */
export class NonceFactory {
  /** the key XOR ipad, followed by room for a payload: the inner hash's input, written in place */
  private readonly inner = Buffer.alloc(BLOCK + MAX_PAYLOAD);
  /** the key XOR opad, followed by the inner hash: the outer hash's input */
  private readonly outer = Buffer.alloc(BLOCK + 32);
  /** makes every nonce unique without a call to the random source per challenge */
  private counter = 0;
  /**
   * Nonces this factory issued lately and that have not come back yet, with their issue time:
   * nearly every credentials arrive a moment after their challenge, and a nonce found here is
   * ours without its MAC computed again (two SHA-256 runs). Each is forgotten at its first
   * check (a nonce used again, with a higher nc, is checked by its MAC), the oldest first when
   * more than RECENT_NONCES wait (challenges nobody answers).
   */
  private readonly recent = new Map<string, number>();
  /** six characters (4 random bytes, base64url) between a payload's issue time and its serial */
  private readonly salt = randomBytes(4).toString('base64url');

  constructor(
    private readonly lifetimeSec: number,
    secret?: Buffer,
  ) {
    let key = secret ?? randomBytes(32);
    if (key.length > BLOCK) key = hash('sha256', key, 'buffer');
    // RFC 2104 §2: K XOR ipad and K XOR opad, the key zero-padded to one block
    for (let i = 0; i < BLOCK; i++) {
      this.inner[i] = (key[i] ?? 0) ^ 0x36;
      this.outer[i] = (key[i] ?? 0) ^ 0x5c;
    }
  }

  create(now = Date.now()): string {
    const issued = Math.floor(now / 1000);
    const payload = `${issued.toString(36)}.${this.salt}${(this.counter++).toString(36)}`;
    const nonce = `${payload}.${this.sign(payload)!}`;
    if (this.recent.size >= RECENT_NONCES) this.recent.delete(this.recent.keys().next().value!);
    this.recent.set(nonce, issued * 1000);
    return nonce;
  }

  /** 'ok', 'stale' (well-formed and ours but too old: RFC 7616 §3.3 stale=true) or 'bad'. */
  check(nonce: string, now = Date.now()): 'ok' | 'stale' | 'bad' {
    const issued = this.issuedAt(nonce);
    if (issued === null || issued > now + 5000) return 'bad';
    return now - issued > this.lifetimeSec * 1000 ? 'stale' : 'ok';
  }

  /**
   * When one of our nonces was made (ms, to the second), or null when it is not ours. The last
   * answer is remembered: under overload a request's nonce is checked on its raw bytes (is it
   * the second half of a call?) just before the authenticator checks it, and one MAC will do.
   */
  issuedAt(nonce: string): number | null {
    if (nonce === this.lastNonce) return this.lastIssued;
    const recent = this.recent.get(nonce);
    if (recent !== undefined) this.recent.delete(nonce);
    const issued = recent ?? this.verify(nonce);
    this.lastNonce = nonce;
    this.lastIssued = issued;
    return issued;
  }

  private lastNonce: string | null = null;
  private lastIssued: number | null = null;

  private verify(nonce: string): number | null {
    const last = nonce.lastIndexOf('.');
    if (last < 0) return null;
    const expected = this.sign(nonce.slice(0, last));
    if (expected === null) return null;
    const mac = Buffer.from(nonce.slice(last + 1));
    const want = Buffer.from(expected);
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return null;
    return nonceIssueTime(nonce);
  }

  /**
   * The serial number written in one of our nonces (this factory's count of nonces made before it),
   * or null for text that has none. Read without the MAC: for nonces `issuedAt` has accepted.
   */
  serialOf(nonce: string): number | null {
    const first = nonce.indexOf('.');
    const last = nonce.lastIndexOf('.');
    const start = first + 1 + this.salt.length;
    // another factory's nonce (another process, a shared secret) has another salt: not our serial
    if (first < 0 || last <= start || !nonce.startsWith(this.salt, first + 1)) return null;
    const serial = parseInt(nonce.slice(start, last), 36);
    return Number.isSafeInteger(serial) && serial >= 0 ? serial : null;
  }

  /**
   * HMAC-SHA256 (RFC 2104) of the payload, 22 base64url characters (132 bits), or null for a
   * payload no nonce of ours has. Computed as its two hashes, H(K^opad || H(K^ipad || m)), over
   * buffers keyed once: one-shot hashes instead of an Hmac object (and its key set-up) for each
   * of the two nonces every relayed message costs (its challenge, then its credentials).
   */
  private sign(payload: string): string | null {
    if (payload.length > MAX_PAYLOAD) return null;
    const n = this.inner.write(payload, BLOCK, 'latin1');
    // a payload that is not plain ASCII is not ours (latin1 would fold other characters together)
    if (!/^[\x21-\x7e]*$/.test(payload)) return null;
    hash('sha256', this.inner.subarray(0, BLOCK + n), 'buffer').copy(this.outer, BLOCK);
    return hash('sha256', this.outer, 'base64url').slice(0, 22);
  }
}

/** The issue time (ms) written in a nonce of ours, read without checking its MAC (for nonces already checked). */
function nonceIssueTime(nonce: string): number | null {
  const issued = parseInt(nonce.slice(0, nonce.indexOf('.')), 36) * 1000;
  return Number.isFinite(issued) ? issued : null;
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
