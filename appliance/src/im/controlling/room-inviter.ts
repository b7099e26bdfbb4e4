import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server-transaction.js';
import type { SipStack } from '../../sip/stack.js';
import { SipError } from '../../sip/errors.js';
import type { Authenticator } from '../../core/authenticator.js';
import { authenticateSip } from '../../core/sip-authentication.js';
import { userOfUriPart } from '../../core/user-names.js';
import type { LocalDomain } from '../../core/local-domain.js';
import type { LocationService } from '../../core/location-service.js';
import type { OriginatingPolicy } from '../participating/originating-policy.js';
import type { MsrpEndpoint } from '../../msrp/msrp-endpoint.js';
import type { Logger } from '../../log.js';
import type { RoomCapture } from '../../history/room-capture.js';
import { newPublicId } from '../../history/conversation-store.js';
import { STORE_HEADER, storeRequest, storedAnswer, refusedAnswer } from '../../history/store-header.js';
import { sendBye } from '../session/call-legs.js';
import type { LegMedia } from '../session/in-dialog-offer.js';
import { inviteIntoRoom } from './room-invitation.js';
import { groupAdmits, type RoomAdmission } from './room-admission.js';
import type { RoomPolicy } from './room-policy.js';
import type { Participant, Room } from './room.js';

export interface InviterServices {
  stack: SipStack;
  domain: LocalDomain;
  auth: Authenticator;
  originating: OriginatingPolicy;
  location: LocationService;
  endpoint: MsrpEndpoint;
  log: Logger;
  /** what participants who asked (or store everything) see, into their conversations (H1) */
  capture?: RoomCapture;
}

/** An invitee who answered 2xx, with the dialog and MSRP leg the focus now holds for them (room-invitation.ts). */
export interface Seat {
  participant: Participant;
  callId: string;
  tag: string;
  media: LegMedia;
  /** the invitee waits for us to connect the leg (RFC 6135) */
  connect: boolean;
}

/** What the inviter asks of the focus: its room dialogs and rooms, and to hold an invitee who came in. */
export interface InviterFocus {
  /** the participation whose room dialog has this Call-ID and our tag */
  dialogOf(callId: string, tag: string): { room: Room; participant: Participant } | undefined;
  /** is the room still open (someone is in it)? */
  isOpen(room: Room): boolean;
  /** an invitee is in the room: the focus keeps their dialog, watches their leg, and connects it if they wait for us */
  seated(room: Room, seat: Seat): void;
}

/** How an invitation ended, as a SIP status and reason phrase (`byFocus`: our refusal, not the invitee's answer). */
type Outcome = { status: number; text: string; byFocus?: boolean };

/**
 * The focus's invitations into its rooms: each user an ad-hoc room's list names (RFC 5366) and
 * each user a participant's REFER names (RFC 4579 §5.5). An invitation is followed in the
 * room's invitations (room-invitations.ts) and sent by room-invitation.ts.
 */
export class RoomInviter {
  constructor(
    private readonly s: InviterServices,
    private readonly opts: { ringTimeoutMs: number },
    private readonly admission: RoomAdmission,
    private readonly policy: RoomPolicy,
    private readonly focus: InviterFocus,
  ) {}

  /**
   * One invitation into a room, followed in the room's invitations (RFC 4575 endpoint status):
   * pending, dialing-out, alerting, then joined or disconnected with the status below. The status
   * says how it ended (for the REFER's NOTIFY too): 200 joined; 403 not ours, blocked by them
   * (Y2) or without group chat (Y1); 404 no such user; 480 not reachable, disabled or politely
   * blocking; else the invitee's own final answer (486, 603 …), 408 unanswered, 486 room full.
   */
  async invite(room: Room, inviter: string, aor: string, history: string | null = null): Promise<{ status: number; text: string }> {
    if (room.invitations.get(aor.toLowerCase())?.status !== 'pending') room.invitations.begin(aor, inviter);
    const outcome = await this.bringIn(room, inviter, aor, history);
    if (outcome.status !== 200) room.invitations.fail(aor, outcome.status, outcome.text, outcome.byFocus);
    return outcome;
  }

  /** The checks and the INVITE of one invitation (invite()); its outcome as a SIP status and reason phrase. */
  private async bringIn(room: Room, inviter: string, aor: string, history: string | null): Promise<Outcome> {
    const refused = await this.policy.inviteeRefusal(aor, inviter);
    if (refused !== null) return refused;
    // H1: an invitee asks on its 2xx; our ACK names the conversation its membership is stored in
    let storeId: string | null = null;
    let asked = false;
    const ackHeaders = (res: SipResponse): Record<string, string> => {
      asked = storeRequest(res.headers) === 'on';
      if (this.s.capture === undefined || !this.s.capture.wants(aor, asked)) return {};
      // H3, Y1: past the quota (or not allowed storage), the ACK says so; joined() records nothing then
      const refused = this.s.capture.refusal(aor);
      if (refused !== null) return { [STORE_HEADER]: refusedAnswer(refused) };
      storeId = newPublicId();
      return { [STORE_HEADER]: storedAnswer(storeId) };
    };
    // Y3: the invitee's leg is offered, and held to, their own profile's limits (as a joiner's answer is)
    const limits = this.policy.legLimits(aor);
    const progress = (status: 'dialing-out' | 'alerting'): void => room.invitations.progress(aor, status);
    const joined = await inviteIntoRoom(this.s, { uri: room.uri, inviter, history }, aor, { ...this.opts, ...limits }, ackHeaders, progress).catch((err: unknown) => {
      this.s.log.warn({ err, aor, room: room.uri }, 'room invitation failed');
      return { failed: { status: 500, text: 'Server Internal Error' } };
    });
    if ('failed' in joined) return joined.failed;
    if (!this.focus.isOpen(room)) {
      // everyone left while this invitation rang
      sendBye(this.s.stack, joined.participant.dialog, 'The room has closed');
      joined.participant.leg.close();
      return { status: 480, text: 'The room has closed' };
    }
    if (room.isFull) {
      // filled up while this invitation rang: the invitee's dialog ends at once, saying why
      const full = `Room is full (${room.maxParticipants} participants)`;
      sendBye(this.s.stack, joined.participant.dialog, full);
      joined.participant.leg.close();
      return { status: 486, text: full, byFocus: true };
    }
    room.join(joined.participant);
    // a refusal the ACK told is told to the user too (joined() finds it again and records nothing)
    if (storeId !== null) this.s.capture?.joined(room, joined.participant, joined.callId, true, storeId);
    else this.s.capture?.joined(room, joined.participant, joined.callId, asked);
    this.focus.seated(room, joined);
    return { status: 200, text: 'OK' };
  }

  /**
   * Invite more (RFC 4579 §5.5, RFC 3515): a participant's REFER in their room dialog, with
   * Refer-To naming the user to invite. 202, then the focus invites them and reports the outcome
   * in one NOTIFY (Event: refer, message/sipfrag, subscription terminated). Out of a room
   * dialog: 403, the reason saying whether the sender may join at all. A user the room's group
   * does not admit: 403.
   */
  readonly handleRefer = async (req: SipRequest, tx: ServerTransaction): Promise<void> => {
    // in a room dialog the dialog says who it is (like a BYE); a REFER from outside is authenticated
    const entry = req.toTag === undefined ? undefined : this.focus.dialogOf(req.callId, req.toTag);
    if (entry === undefined) {
      if (req.toTag !== undefined) throw new SipError(481, 'Call/Transaction Does Not Exist');
      const sender = this.s.originating.identify(req, authenticateSip(this.s.auth, req, tx.source, false));
      const name = userOfUriPart(req.sipUri?.user ?? '');
      // 404 no such room, 403 not admitted, else 403 saying where a REFER belongs
      await this.admission.admit(name === null ? '' : this.s.domain.aor(name), sender.aor);
      throw new SipError(403, 'Join the room to invite others (REFER in the room dialog)');
    }
    const referTo = /<([^>]+)>/.exec(req.headers.get('refer-to') ?? '')?.[1] ?? req.headers.get('refer-to')?.trim();
    // RFC 3515 §2.4.1: exactly one Refer-To
    if (referTo === undefined || req.headers.all('refer-to').length !== 1) throw new SipError(400, 'Missing or repeated Refer-To');
    const name = /^sips?:([^@;>]+)@([^;>]+)$/i.exec(referTo);
    if (name === null || !this.s.domain.isLocal(name[2])) throw new SipError(403, 'Only users of this domain can be invited');
    const user = userOfUriPart(name[1]);
    if (user === null) throw new SipError(404, 'Not Found');
    const aor = this.s.domain.aor(user);
    const { room, participant } = entry;
    // an ad-hoc room takes whoever a participant invites; a group's room only whom the group admits
    const rule = await this.admission.ruleOf(room.uri);
    if (rule === null || (rule.group !== null && !groupAdmits(rule.group, aor))) throw new SipError(403, 'Not a member of this room');
    if (room.isFull) throw new SipError(486, `Room is full (${room.maxParticipants} participants)`);
    rule.invited?.add(aor.toLowerCase());
    this.s.stack.reply(tx, 202, 'Accepted');
    const outcome = await this.invite(room, participant.aor, aor);
    // RFC 3515 §2.4.5: the sipfrag is the status line of the invitation's final response, whatever
    // it was (404 for no such user, the invitee's own 486 or 603, the focus's 403 for a profile…)
    const frag = `SIP/2.0 ${outcome.status} ${outcome.text.replace(/[\r\n]+/g, ' ')}`;
    const notify = participant.dialog.request('NOTIFY', { event: 'refer', 'subscription-state': 'terminated;reason=noresource' }, { type: 'message/sipfrag', content: `${frag}\r\n` });
    this.s.stack.sendRequest(notify, participant.dialog.state.destination, { onFinal: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined });
  };
}
