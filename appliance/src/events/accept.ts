import type { SipRequest } from '../sip/message/message.js';
import { SipError } from '../sip/errors.js';
import type { EventPackage } from './event-package.js';

/**
 * RFC 6665 §8.3.1 / RFC 3261 §21.4.7: a SUBSCRIBE whose Accept allows none of the package's body
 * types gets 406 with the types we have. No Accept: the package's default type is fine.
 */
export function checkAccept(req: SipRequest, pkg: Pick<EventPackage, 'accept'>): void {
  const accept = req.headers.all('accept');
  if (accept.length === 0) return;
  const types = accept
    .join(',')
    .split(',')
    .map((t) => t.split(';')[0].trim().toLowerCase());
  const ok = pkg.accept.some((ours) => types.some((t) => t === ours || t === '*/*' || (t.endsWith('/*') && ours.startsWith(t.slice(0, -1)))));
  if (!ok) throw new SipError(406, 'Not Acceptable', { Accept: pkg.accept.join(', ') });
}
