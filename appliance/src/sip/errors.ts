/**
 * A request failure carrying its final response (drachtio-srf's SipError):
 * handlers throw it, and the router turns it into the response in one place.
 *
 * It is an expected outcome (every digest challenge is one), not a bug, so it
 * skips the stack capture that makes `new Error` costly on the hot path.
 */
export class SipError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly headers: Record<string, string | string[]>;
  /**
   * Answer without keeping the transaction (no Timer J): for answers that cost nothing to give
   * again, such as a digest challenge, whose retransmitted request simply gets a new one.
   */
  stateless = false;

  constructor(status: number, reason: string, headers: Record<string, string | string[]> = {}) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${status} ${reason}`);
    Error.stackTraceLimit = limit;
    this.name = 'SipError';
    this.status = status;
    this.reason = reason;
    this.headers = headers;
  }
}
