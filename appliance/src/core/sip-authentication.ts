import type { SipRequest } from '../sip/message/message.js';
import type { Source } from '../sip/transport/transport-types.js';
import { SipError } from '../sip/errors.js';
import { parseUri, sameUri } from '../sip/message/uri.js';
import type { UserRow } from '../store/entities.js';
import type { Authenticator } from './authenticator.js';

/**
 * Authenticates a SIP request (RFC 3261 §22): REGISTER is challenged by the registrar with 401
 * and WWW-Authenticate, everything else by the proxy with 407 and Proxy-Authenticate. Returns
 * the authenticated, enabled user, or throws the SipError to answer with.
 */
export function authenticateSip(auth: Authenticator, req: SipRequest, source: Source, asRegistrar: boolean): UserRow {
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
      throw new SipError(outcome.status, outcome.reason);
    case 'throttled':
      // what a throttled client sees: a clear refusal and when to try again (README: login throttling)
      throw new SipError(403, 'Too many failed authentication attempts', { 'Retry-After': String(outcome.retryAfter) });
    case 'challenge': {
      const header = asRegistrar ? 'WWW-Authenticate' : 'Proxy-Authenticate';
      const reason = asRegistrar ? 'Unauthorized' : 'Proxy Authentication Required';
      // sent statelessly, as Kamailio's sl does: a retransmission just gets a new challenge, and
      // the commonest answer of all keeps no transaction alive for Timer J's 32 s
      const challenge = new SipError(asRegistrar ? 401 : 407, reason, { [header]: auth.challenges(outcome.stale, userAgent) });
      challenge.stateless = true;
      throw challenge;
    }
  }
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
