/**
 * A final response a request handler returns instead of throwing a SipError. For the commonest
 * answers (a digest challenge is half of every call): a throw out of an async handler costs a
 * runtime call to find its handler and compute its location, a rejected promise, Node's
 * rejection hook and a microtask before the answer goes out; a returned answer costs none of it.
 */
export class SipAnswer {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly headers: Record<string, string | string[]> = {},
    /** answer without keeping the transaction (see SipError.stateless) */
    readonly stateless = false,
  ) {}
}

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

  /** The error for an answer, for callers that throw. */
  static of(answer: SipAnswer): SipError {
    const err = new SipError(answer.status, answer.reason, answer.headers);
    err.stateless = answer.stateless;
    return err;
  }
}
