/**
 * User names: what fits a SIP user part (RFC 3261 §25.1 `unreserved`) and an XCAP XUI
 * (`sip:<name>@<domain>` in an HTTP path, RFC 4825 §6.2) with no escaping at all, so the
 * name a user types, the one in their SIP URI and the one in their XCAP URIs are the same.
 * Letters are case-insensitive: names are kept in lower case (`Alice` is `alice`).
 *
 * The one copy of these rules: the appliance (CLI, SIP core, admin API) and the console import it.
 */
export const USER_NAME_RULE = "1 to 64 characters: letters a-z, digits, '.', '_' and '-', starting with a letter or a digit (case does not matter; names are kept in lower case)";

/** A user name in canonical (lower-case) form. */
export const USER_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** The canonical (lower-case) form of a user name, or null when it breaks the rule. */
export function canonicalUserName(name: string): string | null {
  const lower = name.toLowerCase();
  return USER_NAME_PATTERN.test(lower) ? lower : null;
}

export const DISPLAY_NAME_RULE = '1 to 128 printable characters, no double quotes or backslashes';

/** A display name: printable, no quotes or backslashes (so it can be quoted in SIP as is), up to 128 characters. */
export function checkDisplayName(name: string): string | null {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > 128) return null;
  for (const ch of trimmed) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c === 0x7f || ch === '"' || ch === '\\') return null;
  }
  return trimmed;
}

/** SIP users' passwords (kept only as digest hashes): 4 to 256 characters. */
export const PASSWORD_MIN = 4;
export const PASSWORD_MAX = 256;
