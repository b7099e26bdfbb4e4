import type { SipResponse } from '../../sip/message/message.js';
import type { Dialog } from '../../sip/dialog/dialog.js';
import type { SipStack } from '../../sip/stack.js';
import { SipError } from '../../sip/errors.js';
import type { MsrpSession } from '../../msrp/msrp-session.js';
import { readMsrpMedia, SdpError, type MsrpMedia } from '../../msrp/msrp-sdp.js';
import type { ProfilePolicy } from '../participating/profile-policy.js';
import type { OneToOneSession } from './one-to-one-session.js';
import { sendBye } from './call-legs.js';

/** What a session between two users may carry (Y3): our offers and answers are narrowed to it. */
export interface SessionLimits {
  /** the a=max-size we offer and answer */
  maxMessageBytes: number;
  /** an offer or answer with only the types both users' profiles take */
  narrow: (m: MsrpMedia) => MsrpMedia;
  /** what the MSRP legs let through, message by message (null: everything) */
  policy: MsrpSession['policy'];
}

/**
 * The MSRP limits of a session between these users: our max-size and their service profiles
 * (Y3). Without profiles, our max-size alone and every type.
 */
export function limitsOf(profiles: ProfilePolicy | undefined, ourMaxBytes: number, users: string[]): SessionLimits {
  if (profiles === undefined) return { maxMessageBytes: ourMaxBytes, narrow: (m) => m, policy: null };
  return {
    maxMessageBytes: profiles.maxBytes(users, ourMaxBytes),
    narrow: (m) => profiles.narrowMedia(m, users, ourMaxBytes).media,
    policy: profiles.msrpPolicy(users),
  };
}

/**
 * The callee's SDP answer, when it leaves something both users may exchange; else the callee's
 * dialog ends (BYE) and the caller gets 488 with the reason (RFC 3264 §6, RFC 4975 §8.6).
 */
export function usableAnswer(stack: SipStack, res: SipResponse, limits: SessionLimits, calleeDlg: Dialog, session: OneToOneSession): MsrpMedia {
  try {
    const answer = readMsrpMedia(res.body.toString('utf8'));
    if (limits.narrow(answer).acceptTypes.length === 0) throw new SdpError('no content type both users may exchange');
    return answer;
  } catch (err) {
    sendBye(stack, calleeDlg, 'Unusable SDP answer');
    session.callee = null;
    throw new SipError(488, err instanceof SdpError ? `Callee's answer: ${err.reason}` : 'Callee answer unreadable');
  }
}
