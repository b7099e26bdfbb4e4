import { SipError } from './errors.js';

/** RFC 3261 §20.19 delta-seconds: digits only; a value beyond 2**32-1 is taken as that. Null when absent or malformed. */
export function expiresValue(raw: string | null | undefined): number | null {
  if (raw === undefined || raw === null) return null;
  if (!/^[0-9]+$/.test(raw)) return null;
  return raw.length > 10 ? 2 ** 32 - 1 : Math.min(Number(raw), 2 ** 32 - 1);
}

export interface ExpiresLimits {
  min: number;
  max: number;
}

/**
 * The interval granted for one asked for: 0 stays 0 (remove, unsubscribe); below our minimum is
 * refused with 423 and Min-Expires (RFC 3261 §10.3 step 7, RFC 6665 §4.2.1.1); above our maximum
 * is shortened to it (both RFCs let the server choose a shorter interval).
 */
export function grantedExpires(requested: number, limits: ExpiresLimits): number {
  if (requested > 0 && requested < limits.min) throw new SipError(423, 'Interval Too Brief', { 'Min-Expires': String(limits.min) });
  return Math.min(requested, limits.max);
}
