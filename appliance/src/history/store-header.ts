import type { Headers } from '../sip/message/headers.js';

/**
 * The header by which a user asks the server to store a conversation (H1, seed 5.4.7 "a user MAY
 * request the network to store a particular IM conversation"), and by which the server answers.
 * It is ours, so it has no "X-" (RFC 6648 §3). Grammar (RFC 3261 §25.1 notation):
 *
 *     Conversation-Store = "Conversation-Store" HCOLON store-value *( SEMI store-param )
 *     store-value        = "on" / "off" / "unavailable" / "refused" / token
 *     store-param        = ( "id" EQUAL token ) / ( "reason" EQUAL token ) / generic-param
 *
 * A user sends `on` (store this) or `off` (stop storing; pager only): on a MESSAGE, on an INVITE
 * (the caller, or a participant joining a room), or on the 2xx answering our INVITE (the callee,
 * or a user the focus invited into a room). The server answers the asker with
 * `on;id=<conversation id>` (in its 2xx, or in its ACK to a callee who asked on its 2xx), with
 * `unavailable` when it cannot see the messages (sessions.media "passthrough": the MSRP goes end
 * to end), or with `refused;reason=quota` / `refused;reason=profile` when the asker's storage
 * quota is already reached or their service profile allows no storage (H3, Y1): the session goes
 * ahead unstored. Other values are ignored, as are unknown parameters.
 */
export const STORE_HEADER = 'Conversation-Store';

/** What a request or a response asks of storage: 'on', 'off' or null (nothing, or a value we do not know). */
export function storeRequest(headers: Headers): 'on' | 'off' | null {
  const raw = headers.get(STORE_HEADER);
  if (raw === undefined) return null;
  const v = raw.split(';', 1)[0].trim().toLowerCase();
  return v === 'on' || v === 'off' ? v : null;
}

/** Our answer: the conversation is stored under `publicId`. */
export function storedAnswer(publicId: string): string {
  return `on;id=${publicId}`;
}

/** Our answer when storage is refused for the asker: `refused;reason=quota` or `refused;reason=profile`. */
export function refusedAnswer(reason: 'quota' | 'profile'): string {
  return `refused;reason=${reason}`;
}

/** Our answer when the server is not in the media path and cannot store the conversation. */
export const UNAVAILABLE = 'unavailable';
