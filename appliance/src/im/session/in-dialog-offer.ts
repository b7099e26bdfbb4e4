import type { SipRequest } from '../../sip/message/message.js';
import type { Dialog } from '../../sip/dialog/dialog.js';
import { SipError } from '../../sip/errors.js';
import { mediaTypeOf } from '../../sip/message/media-type.js';
import { checkRequire } from '../../core/extensions.js';
import { readMsrpMedia, SdpError } from '../../msrp/msrp-sdp.js';
import { contactOf } from './call-legs.js';

/** What one of our session dialogs has negotiated, as an in-dialog offer is judged against it. */
export interface LegMedia {
  /**
   * Our SDP in this dialog as it stands (the answer we sent, or the offer we sent with the
   * a=setup role we took), or null when the server is not in the media (pass-through, S7).
   */
  local: string | null;
  /** the peer's a=path as negotiated */
  remotePath: string;
}

/** The same a=path, whatever the white space between its URIs (RFC 4975 §9: a space-separated list). */
function samePath(a: string, b: string): boolean {
  return a.trim().split(/\s+/).join(' ') === b.trim().split(/\s+/).join(' ');
}

/**
 * Judges a re-INVITE or UPDATE (RFC 3311) in one of our session or room dialogs and returns the
 * SDP of the 200, or null for a 200 without a body. The server keeps the session it negotiated:
 *
 * - a session refresh (UPDATE without a body, RFC 3311 §5.2; or an offer of the same MSRP media)
 *   is answered with our SDP as it stands: nothing changed on our side, so the o= line is the
 *   same, version included (RFC 3264 §8);
 * - a re-INVITE without a body gets our SDP as the offer (RFC 3261 §14.2), the same again;
 * - an offer we cannot take (no usable MSRP line, another a=path, a pass-through session) is 488
 *   with the reason, and the session goes on as it was (RFC 3261 §14.2, RFC 3264 §8);
 * - an offer while one of ours is still unanswered (our INVITE still ringing) is glare: 491
 *   (RFC 3261 §14.2, RFC 3311 §5.2); one while the peer's own offer still waits for our answer
 *   (an UPDATE from a caller whose INVITE rings) is 500 with Retry-After (RFC 3311 §5.2);
 * - a request older than the last one in the dialog is 500 (RFC 3261 §12.2.2).
 *
 * Session timers (RFC 4028) are not offered: `timer` is not in our Supported, so a
 * Session-Expires in the request is ignored and none is put in the 200 (RFC 4028 §9 leaves a UAS
 * without the extension exactly that), and `Require: timer` is 420. Answers never wait on
 * anything, so two offers from the peer never overlap (the 500 + Retry-After of RFC 3261 §14.2
 * cannot arise). Throws a SipError for every refusal.
 *
 * @example
 * const sdp = answerInDialogOffer(req, session.caller, session.callerMedia, null);
 * stack.reply(tx, 200, 'OK', sdp === null ? {} : { body: sdp, contentType: 'application/sdp' });
 */
export function answerInDialogOffer(req: SipRequest, dialog: Dialog | null, media: LegMedia | null, pending: 'ours' | 'theirs' | null): string | null {
  checkRequire(req);
  if (dialog !== null && !dialog.acceptRemoteSeq(req.cseq.seq)) throw new SipError(500, 'CSeq lower than the last request in this dialog');
  let answer: string | null;
  if (req.body.length === 0) {
    // an UPDATE without a body only refreshes; a re-INVITE without one asks for our offer
    answer = req.method === 'UPDATE' ? null : (media?.local ?? null);
    if (req.method === 'INVITE' && answer === null) throw new SipError(488, 'Session modification is not supported for a pass-through session');
  } else {
    // RFC 3261 §21.4.13: a body we cannot read is a 415 with what we accept
    if (mediaTypeOf(req.headers.get('content-type') ?? '') !== 'application/sdp') throw new SipError(415, 'Unsupported Media Type', { Accept: 'application/sdp' });
    if (pending === 'ours') throw new SipError(491, 'Request Pending');
    if (pending === 'theirs') throw new SipError(500, 'Your offer is still unanswered', { 'Retry-After': String(Math.floor(Math.random() * 11)) });
    if (media === null || media.local === null) throw new SipError(488, 'Session modification is not supported for a pass-through session');
    let offer;
    try {
      offer = readMsrpMedia(req.body.toString('utf8'));
    } catch (err) {
      if (err instanceof SdpError) throw new SipError(488, err.reason);
      throw err;
    }
    if (!samePath(offer.path, media.remotePath)) throw new SipError(488, 'The MSRP path of a session cannot change');
    answer = media.local;
  }
  // RFC 3261 §12.2.2: an accepted target refresh request moves the remote target
  dialog?.refreshTarget(contactOf(req));
  return answer;
}
