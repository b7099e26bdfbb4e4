/**
 * User names: the rule itself lives in `@parley/shared` (rules/user-names.ts), the one copy the
 * CLI, the SIP core, the admin API and the console all use. What only the SIP side needs is here.
 */
import { canonicalUserName } from '@parley/shared';

export { USER_NAME_RULE, canonicalUserName, checkDisplayName } from '@parley/shared';

/**
 * The user a SIP URI user part names: %-escapes decoded (RFC 3261 §19.1.4 compares user parts
 * unescaped), then lower-cased. Null when it cannot be one of our user names.
 */
export function userOfUriPart(userPart: string): string | null {
  let decoded = userPart;
  if (userPart.includes('%')) {
    try {
      decoded = decodeURIComponent(userPart);
    } catch {
      return null;
    }
  }
  return canonicalUserName(decoded);
}
