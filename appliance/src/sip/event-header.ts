import { SipError } from './errors.js';

/** An Event header (RFC 6665 §8.2.1): the package name and its `id` parameter, if any. */
export interface EventHeader {
  /** lower-cased: event-type tokens compare case-insensitively (RFC 6665 §8.2.1 ABNF is a token) */
  package: string;
  id: string | null;
}

/**
 * Parses an Event header value, e.g. `presence;id=7`. Null when the header is absent; a value
 * that is not a token is refused with 400 (RFC 6665 §8.2.1: event-type = event-package *( "." event-template )).
 */
export function parseEventHeader(raw: string | undefined | null): EventHeader | null {
  if (raw === undefined || raw === null) return null;
  const [head, ...params] = raw.split(';');
  const pkg = head.trim().toLowerCase();
  if (!/^[a-z0-9!%*_+`'~.-]+$/.test(pkg)) throw new SipError(400, 'Malformed Event header');
  let id: string | null = null;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq > 0 && p.slice(0, eq).trim().toLowerCase() === 'id') id = p.slice(eq + 1).trim();
  }
  return { package: pkg, id };
}

/** The states of RFC 6665 §4.1.3 (Subscription-State) a notifier sends. */
export type SubscriptionStateValue = 'active' | 'pending' | 'terminated';

/**
 * Reasons for a terminated subscription (RFC 6665 §4.1.3): what the subscriber does next depends
 * on it (deactivated and timeout: subscribe again; rejected and noresource: do not; probation and
 * giveup: again after retry-after, if given).
 */
export type TerminationReason = 'deactivated' | 'probation' | 'rejected' | 'timeout' | 'giveup' | 'noresource' | 'invariant';

/** A Subscription-State header value (RFC 6665 §8.2.3). */
export function subscriptionState(state: SubscriptionStateValue, opts: { expires?: number; reason?: TerminationReason; retryAfter?: number }): string {
  let out: string = state;
  if (state !== 'terminated' && opts.expires !== undefined) out += `;expires=${opts.expires}`;
  if (state === 'terminated' && opts.reason !== undefined) out += `;reason=${opts.reason}`;
  if (state === 'terminated' && opts.retryAfter !== undefined) out += `;retry-after=${opts.retryAfter}`;
  return out;
}
