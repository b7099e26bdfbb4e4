import { SipError } from '../../sip/errors.js';
import type { LocalDomain } from '../../core/local-domain.js';
import type { UserDirectory } from '../../core/user-directory.js';
import type { TerminatingPolicy } from '../participating/terminating-policy.js';
import type { ProfilePolicy } from '../participating/profile-policy.js';
import type { MessagePolicy } from '../../msrp/msrp-session.js';
import type { MsrpMedia } from '../../msrp/msrp-sdp.js';
import type { Refusal } from './room.js';

export interface RoomPolicyServices {
  domain: LocalDomain;
  terminating: TerminatingPolicy;
  /** our users: an invitee who is not one is refused 404 (without it, every name of our domain is taken as a user) */
  users?: UserDirectory;
}

/** What one participant's MSRP leg states and enforces (Y3): wrapped types and max-size in our SDP, the policy of their SENDs. */
export interface LegLimits {
  wrappedTypes: string[];
  maxMessageBytes: number;
  policy: MessagePolicy | null;
}

/**
 * The users' own rules as they apply in rooms (the room's rule is in room-admission.ts): who
 * can be invited (our directory, Y1 group chat, Y2 block lists), whom a participant can reach
 * privately (Y2), which room messages a participant's profile refuses and what their MSRP leg
 * takes (Y1/Y3). The profiles come from the focus, which is given them after it is made.
 */
export class RoomPolicy {
  constructor(
    private readonly s: RoomPolicyServices,
    /** the appliance's a=max-size, which a profile may only lower */
    private readonly maxMessageBytes: number,
    private readonly profiles: () => ProfilePolicy | null,
  ) {}

  /**
   * Why `aor` is not invited into a room by `inviter`, as a SIP status and reason phrase, or
   * null when the INVITE may leave: 403 not ours, blocked by them (Y2) or without group chat
   * (Y1); 404 no such user; 480 disabled or politely blocking.
   */
  async inviteeRefusal(aor: string, inviter: string): Promise<{ status: number; text: string } | null> {
    const user = this.s.domain.userOf(aor);
    if (user === null) return { status: 403, text: 'Only users of this domain can be invited' };
    const known = this.s.users === undefined ? { disabled: false } : this.s.users.get(user);
    if (known === undefined) return { status: 404, text: 'Not Found' };
    if (known.disabled) return { status: 480, text: 'Recipient is not available' };
    // Y1: a user without group chat is not invited into rooms (the reason the exploder gives, profile-policy.ts)
    const profiles = this.profiles();
    if (profiles !== null && !profiles.of(user).groupChat) return { status: 403, text: 'The recipient does not take group chat' };
    try {
      // a polite block looks like an absent invitee, as it does to a caller (session-request-handler.ts)
      if ((await this.s.terminating.check(user, inviter)) === 'discard') return { status: 480, text: 'Temporarily Unavailable' };
    } catch (err) {
      // blocked: the inviter cannot reach them through a room either (403, as a MESSAGE would get)
      return err instanceof SipError ? { status: err.status, text: err.reason } : { status: 500, text: 'Server Internal Error' };
    }
    return null;
  }

  /** May `fromAor` reach the participant `toAor` privately? Not when `toAor` blocks them (Y2), politely or not. */
  async mayReach(toAor: string, fromAor: string): Promise<boolean> {
    const user = this.s.domain.userOf(toAor);
    if (user === null) return false;
    try {
      return (await this.s.terminating.check(user, fromAor)) === 'deliver';
    } catch {
      return false; // block: the terminating policy's 403
    }
  }

  /** Y1/Y3: why the participant at `toAor` takes no copy of this content (their own profile), or null when they do. */
  refuses(toAor: string, contentType: string, body: Buffer): Refusal | null {
    const profiles = this.profiles();
    const user = profiles === null ? null : this.s.domain.userOf(toAor);
    return user === null ? null : profiles!.roomRecipientRefusal(user, contentType, body);
  }

  /**
   * The limits of one participant's leg from their own profile (Y3, RFC 4975 §8.6): the wrapped
   * types and max-size our SDP states (in our answer to a joiner, in our offer to an invitee),
   * and the policy that answers their SENDs outside them with MSRP 415/413.
   */
  legLimits(aor: string): LegLimits {
    const user = this.s.domain.userOf(aor);
    const profiles = this.profiles();
    if (profiles === null || user === null) return { wrappedTypes: ['*'], maxMessageBytes: this.maxMessageBytes, policy: null };
    const room: MsrpMedia = { protocol: 'TCP/MSRP', path: '', acceptTypes: ['message/cpim'], acceptWrappedTypes: ['*'], maxSize: null, setup: 'actpass', direction: 'sendrecv', chatroom: [] };
    const narrowed = profiles.narrowMedia(room, [user], this.maxMessageBytes);
    return { wrappedTypes: narrowed.media.acceptWrappedTypes, maxMessageBytes: narrowed.maxMessageBytes, policy: profiles.msrpPolicy([user]) };
  }
}
