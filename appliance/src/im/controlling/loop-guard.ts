import type { Headers } from '../../sip/message/headers.js';
import type { SipRequest } from '../../sip/message/message.js';
import { SipError } from '../../sip/errors.js';

/**
 * The marker a controlling function (the exploder, a conference focus) puts on every request it
 * fans out (S6). Its value is the URI of the list service that fanned the request out.
 * Any controlling function refuses a request that carries it: a group that lists a group, a URI
 * list naming the conference factory, or an exploder reaching an exploder stops after one
 * expansion, so nesting can never loop or multiply a message. Nested <list>s and <external>
 * references inside one list are still expanded by that one function (RFC 4826 §3.3).
 */
export const EXPLODED_HEADER = 'P-Parley-Exploded';

/** Marks a request leaving the controlling function at `by` (the factory or group URI). */
export function markExploded(headers: Headers, by: string): void {
  headers.set(EXPLODED_HEADER, `<${by}>`);
}

/**
 * Refuses a request that already passed a controlling function. RFC 5365 and RFC 5366 leave the
 * status to the service; 482 Loop Detected (RFC 3261 §21.4.20) says what happened, a second
 * expansion of an expanded request, where 403 would suggest the sender lacks a right they could
 * get. The reason names the function that expanded it first.
 */
export function refuseIfExploded(req: SipRequest): void {
  const by = req.headers.get(EXPLODED_HEADER);
  if (by !== undefined) throw new SipError(482, `Loop Detected: already expanded by ${by.replace(/[<>\r\n]/g, '').slice(0, 100)}`);
}
