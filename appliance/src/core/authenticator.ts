import { timingSafeEqual } from 'node:crypto';
import type { SipRequest } from '../sip/message/message.js';
import { SipError } from '../sip/errors.js';
import {
  type DigestAlgorithm,
  NonceFactory,
  challenge,
  expectedResponse,
  parseCredentials,
} from '../sip/auth/digest.js';
import type { UserDirectory } from './user-directory.js';
import type { UserRow } from '../store/entities.js';

export interface AuthOptions {
  realm: string;
  algorithms: DigestAlgorithm[];
  nonceLifetime: number;
}

/**
 * Digest authentication of SIP requests (RFC 3261 §22, RFC 8760): REGISTER is
 * challenged by the registrar with 401, everything else by the proxy with 407.
 */
export class Authenticator {
  private readonly nonces: NonceFactory;

  constructor(
    private readonly users: UserDirectory,
    private readonly opts: AuthOptions,
  ) {
    this.nonces = new NonceFactory(opts.nonceLifetime);
  }

  /**
   * Returns the authenticated, enabled user, or throws the SipError to answer
   * with (a challenge, 403 for a disabled user, 404 for an unknown one).
   */
  authenticate(req: SipRequest, asRegistrar: boolean): UserRow {
    const outcome = this.check(req.headers.all(asRegistrar ? 'authorization' : 'proxy-authorization'), req.method);
    if ('user' in outcome) return outcome.user;
    if ('status' in outcome) throw new SipError(outcome.status, outcome.reason);
    throw this.challengeError(asRegistrar ? 401 : 407, outcome.stale);
  }

  /**
   * Checks digest credentials (from SIP Authorization/Proxy-Authorization or an
   * HTTP Authorization header) for a request method. Shared by the SIP core and
   * the XCAP aggregation proxy, so both take the same passwords (X3).
   */
  check(values: readonly string[], method: string): { user: UserRow } | { status: number; reason: string } | { challenge: true; stale: boolean } {
    for (const value of values) {
      const cred = parseCredentials(value);
      if (cred === null || cred.scheme.toLowerCase() !== 'digest') continue; // RFC 4475 regaut01: unknown schemes are ignored
      const p = cred.params;
      if (p.get('realm') !== this.opts.realm) continue;
      const username = p.get('username');
      const nonce = p.get('nonce');
      const uri = p.get('uri');
      const response = p.get('response');
      if (username === undefined || nonce === undefined || uri === undefined || response === undefined) {
        return { status: 400, reason: 'Incomplete digest credentials' };
      }
      const algName = (p.get('algorithm') ?? 'MD5').toUpperCase();
      if (algName !== 'MD5' && algName !== 'SHA-256') continue;
      const alg = algName as DigestAlgorithm;
      if (!this.opts.algorithms.includes(alg)) continue;
      const user = this.users.get(username);
      if (user === undefined) return { status: 404, reason: 'Unknown user' };
      if (user.disabled) return { status: 403, reason: 'User disabled' };
      const qop = p.get('qop');
      let qopParams: { nc: string; cnonce: string } | null = null;
      if (qop !== undefined) {
        const nc = p.get('nc');
        const cnonce = p.get('cnonce');
        if (qop !== 'auth' || nc === undefined || cnonce === undefined) return { status: 400, reason: 'Unsupported qop or missing nc/cnonce' };
        qopParams = { nc, cnonce };
      }
      const ha1 = alg === 'MD5' ? user.ha1Md5 : user.ha1Sha256;
      const expected = expectedResponse(alg, ha1, method, uri, nonce, qopParams);
      const ok = expected.length === response.length && timingSafeEqual(Buffer.from(expected), Buffer.from(response.toLowerCase()));
      if (!ok) return { status: 403, reason: 'Wrong credentials' };
      const fresh = this.nonces.check(nonce);
      if (fresh === 'ok') return { user };
      // right password on an old nonce: ask again without bothering the user (RFC 7616 §3.3)
      return { challenge: true, stale: fresh === 'stale' };
    }
    return { challenge: true, stale: false };
  }

  /** Challenge header values, one per algorithm in order of preference (RFC 8760 §2.4). */
  challenges(stale: boolean): string[] {
    const nonce = this.nonces.create();
    return this.opts.algorithms.map((alg) => challenge(this.opts.realm, nonce, alg, stale));
  }

  private challengeError(status: 401 | 407, stale: boolean): SipError {
    const values = this.challenges(stale);
    const header = status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate';
    return new SipError(status, status === 401 ? 'Unauthorized' : 'Proxy Authentication Required', { [header]: values });
  }
}
