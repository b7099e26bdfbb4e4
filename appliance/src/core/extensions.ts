import type { SipRequest } from '../sip/message/message.js';
import { SipError } from '../sip/errors.js';

/** Option tags we support (RFC 3261 §19.2); a Require or Proxy-Require naming any other gets 420. */
export const SUPPORTED: readonly string[] = [];

/** RFC 3261 §8.2.2.3: a UAS refuses a Require it does not support, naming the tags in Unsupported. */
export function checkRequire(req: SipRequest): void {
  refuseUnsupported(req.tokens('require'));
}

/** RFC 3261 §16.3 step 5: a proxy refuses a Proxy-Require it does not support. */
export function checkProxyRequire(req: SipRequest): void {
  refuseUnsupported(req.tokens('proxy-require'));
}

function refuseUnsupported(tags: string[]): void {
  const unsupported = tags.filter((t) => !SUPPORTED.includes(t));
  if (unsupported.length > 0) throw new SipError(420, 'Bad Extension', { Unsupported: unsupported.join(', ') });
}
