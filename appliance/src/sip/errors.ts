/**
 * A request failure carrying its final response (drachtio-srf's SipError):
 * handlers throw it, and the router turns it into the response in one place.
 */
export class SipError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly headers: Record<string, string | string[]> = {},
  ) {
    super(`${status} ${reason}`);
    this.name = 'SipError';
  }
}
