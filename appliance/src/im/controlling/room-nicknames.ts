/** What a NICKNAME request comes to (RFC 7701): 200, 424 (not allowed), 425 (taken). */
export interface NicknameOutcome {
  status: 200 | 424 | 425;
  comment: string;
  /** the nickname as the room writes it from now on (null: the holder gave theirs up) */
  nickname: string | null;
}

/** The longest nickname the room keeps, in characters after preparation. */
export const MAX_NICKNAME_CHARS = 64;

// RFC 8266 §2.1 (PRECIS FreeformClass) disallows controls; surrogates, private use and
// unassigned code points are not names either
const NOT_ALLOWED = /[\p{Cc}\p{Cs}\p{Co}\p{Cn}]/u;
const SPACES = /\p{Zs}+/gu;

/**
 * Prepares a nickname as RFC 7701 asks, by the PRECIS nickname profile (RFC 8266 §2,
 * which obsoletes the RFC 7700 that RFC 7701 cites), enforcement part: every space character
 * becomes an ASCII space, leading and trailing ones go and runs become one (additional mapping,
 * §2.2), then Unicode NFKC (§2.4). Null when the nickname is not allowed: control or
 * unassigned characters, nothing left, or too long.
 */
export function prepareNickname(raw: string): string | null {
  if (NOT_ALLOWED.test(raw)) return null;
  const out = raw.replace(SPACES, ' ').trim().normalize('NFKC');
  if (out === '' || [...out].length > MAX_NICKNAME_CHARS || NOT_ALLOWED.test(out)) return null;
  return out;
}

/** The comparison form (RFC 8266 §2.3 and §2.4: lower case, then NFKC): "Alice" and "ALICE" are one nickname. */
export function nicknameKey(prepared: string): string {
  return prepared.toLowerCase().normalize('NFKC');
}

/**
 * The nicknames reserved in one chat room (RFC 7701): unique in the room under the
 * comparison above, held by a user (their other devices in the room may use it too) until
 * they change it, give it up (an empty Use-Nickname) or leave.
 *
 * @example
 * const names = new RoomNicknames<Participant>();
 * names.reserve(alice, 'alice', 'Al').status // 200
 * names.reserve(bob, 'bob', 'AL').status     // 425
 */
export class RoomNicknames<H> {
  /** comparison form -> who holds it (the user, and their participations using it) */
  private readonly byKey = new Map<string, { user: string; holders: Set<H> }>();
  private readonly keyOf = new Map<H, string>();

  reserve(holder: H, user: string, raw: string): NicknameOutcome {
    if (raw === '') {
      this.release(holder);
      return { status: 200, comment: 'OK', nickname: null };
    }
    const nickname = prepareNickname(raw);
    if (nickname === null) return { status: 424, comment: 'Nickname not allowed (control characters, empty or longer than 64)', nickname: null };
    const key = nicknameKey(nickname);
    const owner = this.byKey.get(key);
    if (owner !== undefined && owner.user !== user.toLowerCase()) return { status: 425, comment: 'Nickname reserved or already in use', nickname: null };
    if (this.keyOf.get(holder) !== key) this.release(holder);
    const entry = owner ?? { user: user.toLowerCase(), holders: new Set<H>() };
    entry.holders.add(holder);
    this.byKey.set(key, entry);
    this.keyOf.set(holder, key);
    return { status: 200, comment: 'OK', nickname };
  }

  /** The holder leaves or gives the nickname up; it is free once no participation of its user uses it. */
  release(holder: H): void {
    const key = this.keyOf.get(holder);
    if (key === undefined) return;
    this.keyOf.delete(holder);
    const entry = this.byKey.get(key);
    entry?.holders.delete(holder);
    if (entry?.holders.size === 0) this.byKey.delete(key);
  }
}
