import type { SipRequest } from '../sip/message/message.js';
import type { Source } from '../sip/transport/transport-types.js';
import { SipAnswer, SipError } from '../sip/errors.js';
import { parseUri, sameUri } from '../sip/message/uri.js';
import type { UserRow } from '../store/entities.js';
import type { Authenticator } from './authenticator.js';
import type { AtOnceHandler } from './router.js';

/**
 * Authenticates a SIP request (RFC 3261 §22): REGISTER is challenged by the registrar with 401
 * and WWW-Authenticate, everything else by the proxy with 407 and Proxy-Authenticate. Returns
 * the authenticated, enabled user, or throws the SipError to answer with.
 */
export function authenticateSip(auth: Authenticator, req: SipRequest, source: Source, asRegistrar: boolean): UserRow {
  const outcome = sipUserOrAnswer(auth, req, source, asRegistrar);
  if (outcome instanceof SipAnswer) throw SipError.of(outcome);
  return outcome;
}

/**
 * As authenticateSip, with the answer returned instead of thrown: for the handlers that see a
 * challenge on half of their requests (MESSAGE, REGISTER), which return it to the router.
 */
export function sipUserOrAnswer(auth: Authenticator, req: SipRequest, source: Source, asRegistrar: boolean): UserRow | SipAnswer {
  const userAgent = req.headers.get('user-agent');
  const outcome = auth.check({
    headers: req.headers.all(asRegistrar ? 'authorization' : 'proxy-authorization'),
    method: req.method,
    uriMatches: (digestUri) => digestUriNames(digestUri, req),
    source,
    userAgent,
  });
  switch (outcome.kind) {
    case 'ok':
      return outcome.user;
    case 'refused':
      return new SipAnswer(outcome.status, outcome.reason);
    case 'throttled':
      // what a throttled client sees: a clear refusal and when to try again (README: login throttling)
      return new SipAnswer(403, 'Too many failed authentication attempts', { 'Retry-After': String(outcome.retryAfter) });
    case 'challenge': {
      const values = auth.challenges(outcome.stale, userAgent);
      const c = asRegistrar ? REGISTRAR_CHALLENGE : PROXY_CHALLENGE;
      // the transaction ends with it: over UDP only the answer's bytes wait out Timer J (a
      // retransmitted request gets the same 407, which SIPp compares), over a connection nothing
      return new SipAnswer(c.status, c.reason, { [c.header]: values }, true);
    }
  }
}

/** RFC 3261 §22.2 (registrar: 401) and §22.3 (proxy: 407) */
const REGISTRAR_CHALLENGE = { status: 401, reason: 'Unauthorized', header: 'WWW-Authenticate' } as const;
const PROXY_CHALLENGE = { status: 407, reason: 'Proxy Authentication Required', header: 'Proxy-Authenticate' } as const;

/**
 * The proxy's challenge (407) to a request that carries no credentials at all, answered before
 * any transaction is made (Router.serveAtOnce). It is what sipUserOrAnswer answers the same
 * request: with no credentials header the authenticator's verdict is a challenge, not stale.
 * Requests with credentials are left to sipUserOrAnswer.
 */
export function proxyChallengeAtOnce(auth: Authenticator): AtOnceHandler {
  const { status, reason, header } = PROXY_CHALLENGE;
  const lines = (values: string[]): string => values.map((v) => `${header}: ${v}\r\n`).join('');
  return {
    applies: (req) => !req.headers.has('proxy-authorization'),
    // the token is the nonce's serial: a retransmitted request is challenged with the same nonce
    answer: (req, again) => {
      const { values, serial } = auth.challengeAgain(again, req.headers.get('user-agent'));
      return { status, reason, lines: lines(values), token: serial };
    },
    // the values `answer` gives a request with no credentials, the nonce marked (the socket makes it)
    native: (mark) => {
      const t = auth.challengeTemplates(mark);
      return { status, reason, lines: [lines(t.most), lines(t.all)], offersAll: t.offersAll, nonces: t.nonces };
    },
  };
}

/**
 * RFC 3261 §22.4: the digest-uri is the Request-URI of the request it authorises. It is compared
 * as a URI (RFC 3261 §19.1.4), so a client that writes the same URI differently is not refused,
 * while credentials made for another target are.
 */
function digestUriNames(digestUri: string, req: SipRequest): boolean {
  if (digestUri === req.uriText) return true;
  try {
    return sameUri(parseUri(digestUri, 'digest uri'), req.uri);
  } catch {
    return false;
  }
}
