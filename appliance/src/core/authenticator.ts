import { timingSafeEqual } from 'node:crypto';
import { type DigestAlgorithm, challenge, expectedResponse, parseCredentials } from '../sip/auth/digest.js';
import { NonceTable, type SharedNonces } from '../sip/auth/nonces.js';
import type { UserDirectory } from './user-directory.js';
import type { UserRow } from '../store/entities.js';
import type { LoginThrottle } from './login-throttle.js';
import type { Logger } from '../log.js';

export interface AuthOptions {
  realm: string;
  /** the algorithms accepted, most preferred first */
  algorithms: DigestAlgorithm[];
  /** User-Agent patterns of clients that pick the challenge they support: they are offered every algorithm */
  offerAllTo: RegExp[];
  /** seconds a nonce stays fresh */
  nonceLifetime: number;
  /** nonces held at most: the table's slots (replay protection's memory bound) */
  maxTrackedNonces: number;
}

/** One request's credentials and what they must match. */
export interface AuthAttempt {
  /** the Authorization / Proxy-Authorization header values */
  headers: readonly string[];
  method: string;
  /** whether the digest's `uri` names this request's target (RFC 3261 §22.4, RFC 7616 §3.4.6) */
  uriMatches(digestUri: string): boolean;
  /** where the request came from, for throttling and the failure log */
  source: { address: string; port: number; transport: string };
  userAgent: string | undefined;
}

export type AuthOutcome =
  | { kind: 'ok'; user: UserRow }
  /** answer with a fresh challenge (stale: the password was right, only the nonce was not) */
  | { kind: 'challenge'; stale: boolean }
  /** malformed credentials (400), or valid credentials of a disabled user (403) */
  | { kind: 'refused'; status: 400 | 403; reason: string }
  /** too many failures from this source or for this user: try again in `retryAfter` seconds */
  | { kind: 'throttled'; retryAfter: number };

/** What an unknown user's response is compared with, so that it costs as much as a known one's. */
const NO_SUCH_HA1 = { md5: '0'.repeat(32), sha256: '0'.repeat(64) };

/**
 * Digest authentication (RFC 3261 §22, RFC 7616, RFC 8760 SHA-256) for SIP and for the XCAP
 * aggregation proxy alike (C2, X3): the same users, nonces, replay protection and throttling.
 *
 * What a client learns is the same for an unknown user and a wrong password: a new challenge
 * (RFC 9110 §11.6.2 for HTTP). Only valid credentials learn more (403 for a disabled user).
 * A nonce's counts are remembered so that captured credentials cannot be replayed; a replay,
 * like an expired nonce, gets a challenge with `stale=true` when its password was right.
 */
export class Authenticator {
  private readonly nonces: NonceTable;

  constructor(
    private readonly users: UserDirectory,
    private readonly opts: AuthOptions,
    private readonly throttle: LoginThrottle,
    private readonly log: Logger,
  ) {
    this.nonces = new NonceTable(opts.nonceLifetime, opts.maxTrackedNonces);
  }

  get realm(): string {
    return this.opts.realm;
  }

  check(a: AuthAttempt): AuthOutcome {
    for (const value of a.headers) {
      const cred = parseCredentials(value);
      if (cred === null || cred.scheme.toLowerCase() !== 'digest') continue; // RFC 4475 regaut01: unknown schemes are ignored
      const p = cred.params;
      if (p.get('realm') !== this.opts.realm) continue;
      const algName = (p.get('algorithm') ?? 'MD5').toUpperCase();
      if (algName !== 'MD5' && algName !== 'SHA-256') continue;
      const alg = algName as DigestAlgorithm;
      if (!this.opts.algorithms.includes(alg)) continue;
      return this.verify(a, p, alg);
    }
    return { kind: 'challenge', stale: false };
  }

  private verify(a: AuthAttempt, p: Map<string, string>, alg: DigestAlgorithm): AuthOutcome {
    const username = p.get('username');
    const nonce = p.get('nonce');
    const uri = p.get('uri');
    const response = p.get('response');
    if (username === undefined || nonce === undefined || uri === undefined || response === undefined) {
      return { kind: 'refused', status: 400, reason: 'Incomplete digest credentials' };
    }
    const qop = p.get('qop');
    let qopParams: { nc: string; cnonce: string } | null = null;
    let nc: number | null = null;
    if (qop !== undefined) {
      const ncText = p.get('nc');
      const cnonce = p.get('cnonce');
      // RFC 7616 §3.4: nc is exactly 8 hex digits, counting from 00000001
      if (qop !== 'auth' || ncText === undefined || cnonce === undefined || !/^[0-9a-fA-F]{8}$/.test(ncText) || ncText === '00000000') {
        return { kind: 'refused', status: 400, reason: 'Unsupported qop or malformed nc/cnonce' };
      }
      qopParams = { nc: ncText, cnonce };
      nc = parseInt(ncText, 16);
    }
    // RFC 3261 §22.4 / RFC 7616 §3.4.6: the credentials are for this request's target only
    if (!a.uriMatches(uri)) return { kind: 'refused', status: 400, reason: 'Digest uri does not match the request target' };
    const name = username.toLowerCase();
    const wait = this.throttle.retryAfter(name, a.source.address);
    if (wait > 0) return { kind: 'throttled', retryAfter: wait };

    const user = this.users.get(name);
    const ha1 = alg === 'MD5' ? (user?.ha1Md5 ?? NO_SUCH_HA1.md5) : (user?.ha1Sha256 ?? NO_SUCH_HA1.sha256);
    const expected = Buffer.from(expectedResponse(alg, ha1, a.method, uri, nonce, qopParams));
    const given = Buffer.from(response.toLowerCase());
    const right = user !== undefined && expected.length === given.length && timingSafeEqual(expected, given);
    if (!right) return this.failure(a, name, user === undefined ? 'unknown user' : 'wrong password');

    // the password is right: now the nonce must be ours, fresh, and not used with this count before
    const use = this.nonces.use(nonce, nc);
    if (use === 'stale') return { kind: 'challenge', stale: true };
    if (use === 'replay') {
      this.log.info({ user: name, source: `${a.source.address}:${a.source.port}`, transport: a.source.transport, nc: p.get('nc') ?? null }, 'digest nonce reused: challenged again (replay protection)');
      return { kind: 'challenge', stale: true };
    }
    this.throttle.succeeded(name, a.source.address);
    if (user.disabled) return { kind: 'refused', status: 403, reason: 'User disabled' };
    return { kind: 'ok', user };
  }

  private failure(a: AuthAttempt, user: string, reason: string): AuthOutcome {
    const blockedFor = this.throttle.failed(user, a.source.address);
    this.log.warn(
      { user, source: `${a.source.address}:${a.source.port}`, transport: a.source.transport, reason, ...(blockedFor > 0 ? { blockedFor } : {}) },
      'authentication failed',
    );
    return { kind: 'challenge', stale: false };
  }

  /**
   * The algorithms to offer a client, in order (RFC 8760 §2.4: the preferred one first). Clients
   * known to choose among several challenges get them all; every other client gets one, MD5
   * when it is accepted, because several common clients fail when offered more than one:
   * libre (baresip) gives up if any is not MD5, JsSIP answers only the last, SIPp only the first.
   */
  algorithmsFor(userAgent: string | undefined): DigestAlgorithm[] {
    const all = this.opts.algorithms;
    if (all.length === 1 || (userAgent !== undefined && this.opts.offerAllTo.some((re) => re.test(userAgent)))) return all;
    return [all.includes('MD5') ? 'MD5' : all[0]];
  }

  /** Whether a nonce is ours (held in the table) and was issued at most `withinMs` ago (overload control's look at credentials). */
  issuedWithin(nonce: string, withinMs: number): boolean {
    const issued = this.nonces.issuedAt(nonce);
    if (issued === null) return false;
    // issue times are written to the second: a nonce of this second is a little "in the future"
    const age = Date.now() - issued;
    return age > -1000 && age <= withinMs;
  }

  /** Challenge header values for a client, one per algorithm offered. */
  challenges(stale: boolean, userAgent: string | undefined): string[] {
    return this.challengeValues(this.nonces.create(), stale, userAgent);
  }

  /**
   * A challenge (not stale) for a client, with the nonce of serial `again` while the table still
   * holds it (the same challenge for a retransmitted request: AtOnceMemo), else a new one; and
   * the serial of the nonce it carries.
   */
  challengeAgain(again: number | null, userAgent: string | undefined): { values: string[]; serial: number } {
    const held = again === null ? null : this.nonces.text(again);
    if (held !== null) return { values: this.challengeValues(held, false, userAgent), serial: again! };
    const serial = this.nonces.make();
    return { values: this.challengeValues(this.nonces.text(serial)!, false, userAgent), serial };
  }

  /**
   * The challenge as the native UDP socket writes it (udp_gate.c), `mark` where the nonce goes: the
   * values for most clients and for those offered every algorithm, which clients those are (null:
   * all are offered the same), and the nonce table it makes its nonces in.
   */
  challengeTemplates(mark: string): { most: string[]; all: string[]; offersAll: ((userAgent: string) => boolean) | null; nonces: SharedNonces } {
    const all = this.opts.algorithms;
    const most = this.challengeValues(mark, false, undefined);
    return {
      most,
      all: all.map((alg) => challenge(this.opts.realm, mark, alg, false)),
      offersAll: most.length === all.length ? null : (userAgent) => this.algorithmsFor(userAgent).length === all.length,
      nonces: this.nonces.shared(),
    };
  }

  /** One header value per algorithm offered to this client, all with the same nonce (RFC 8760). */
  private challengeValues(nonce: string, stale: boolean, userAgent: string | undefined): string[] {
    return this.algorithmsFor(userAgent).map((alg) => challenge(this.opts.realm, nonce, alg, stale));
  }
}
