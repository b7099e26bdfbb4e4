/**
 * A copy of `s` that does not keep alive the text it was cut from.
 *
 * V8 represents a substring of 13 characters or more as a slice of its parent, so a Call-ID, a
 * tag or a nonce read from a message keeps that message's whole header section alive for as long
 * as it is kept: a nonce in the replay table (a Map until session 13) held ~600 bytes of its MESSAGE's head,
 * a binding or a dialog the REGISTER's or SUBSCRIBE's. Values stored beyond the request that
 * carried them go through here. Prepending a character forces a flat copy, and the slice of that
 * copy keeps only the copy (one character longer than the value) alive.
 */
export function detached(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1);
}

/** `detached` for optional values. */
export function detachedOrNull(s: string | null): string | null {
  return s === null ? null : detached(s);
}
