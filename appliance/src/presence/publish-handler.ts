import type { SipRequest } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { SipStack } from '../sip/stack.js';
import { SipError } from '../sip/errors.js';
import { expiresValue, grantedExpires } from '../sip/expires.js';
import { mediaTypeOf } from '../sip/message/media-type.js';
import { parseEventHeader } from '../sip/event-header.js';
import type { LocalDomain } from '../core/local-domain.js';
import type { Authenticator } from '../core/authenticator.js';
import { authenticateSip } from '../core/sip-authentication.js';
import { checkRequire } from '../core/extensions.js';
import { parsePidf, PIDF_TYPE, type PidfParts } from './pidf.js';
import type { Publications } from './publications.js';

export interface PublishOptions {
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  /** larger PIDF bodies get 413 */
  maxBodyBytes: number;
}

/**
 * PUBLISH (RFC 3903) for the presence event package (RFC 3856): the presence server's event
 * state compositor. Users publish their own presence only.
 */
export class PublishHandler {
  constructor(
    private readonly stack: SipStack,
    private readonly auth: Authenticator,
    private readonly domain: LocalDomain,
    private readonly publications: Publications,
    private readonly opts: PublishOptions,
  ) {}

  readonly handle = (req: SipRequest, tx: ServerTransaction): void => {
    // RFC 3903 §6 step 2: only event packages we compose state for
    const event = parseEventHeader(req.headers.get('event'));
    if (event?.package !== 'presence') throw new SipError(489, 'Bad Event', { 'Allow-Events': 'presence' });
    const user = authenticateSip(this.auth, req, tx.source, false);
    checkRequire(req);
    const target = req.sipUri;
    // RFC 3903 §6 step 1 leaves authorisation to policy; ours: your own presentity only
    if (target === null || target.user === null || target.user.toLowerCase() !== user.username) throw new SipError(403, 'Only your own presence can be published');
    const presentity = this.domain.aor(user.username);
    const asked = expiresValue(req.headers.get('expires')) ?? this.opts.defaultExpires;
    const expires = grantedExpires(asked, { min: this.opts.minExpires, max: this.opts.maxExpires });
    const ifMatch = req.headers.get('sip-if-match')?.trim() ?? null;
    const parts = this.bodyOf(req);
    const outcome = this.publications.publish(presentity, ifMatch, expires, parts);
    const headers: Record<string, string> = { Expires: String(outcome.expires) };
    if (outcome.etag !== null) headers['SIP-ETag'] = outcome.etag;
    this.stack.reply(tx, 200, 'OK', { headers });
  };

  /** The PIDF body, checked: type (415), size (413), well-formedness and shape (400). Null for none. */
  private bodyOf(req: SipRequest): PidfParts | null {
    if (req.body.length === 0) return null;
    const type = mediaTypeOf(req.headers.get('content-type'));
    if (type !== PIDF_TYPE) throw new SipError(415, 'Unsupported Media Type', { Accept: PIDF_TYPE });
    if (req.body.length > this.opts.maxBodyBytes) throw new SipError(413, `PIDF body over ${this.opts.maxBodyBytes} bytes`);
    return parsePidf(req.body);
  }
}
