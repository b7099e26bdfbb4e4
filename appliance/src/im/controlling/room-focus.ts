import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server-transaction.js';
import type { SipStack } from '../../sip/stack.js';
import { SipError } from '../../sip/errors.js';
import { mediaTypeOf } from '../../sip/message/media-type.js';
import type { Authenticator } from '../../core/authenticator.js';
import { authenticateSip } from '../../core/sip-authentication.js';
import { userOfUriPart } from '../../core/user-names.js';
import type { LocalDomain } from '../../core/local-domain.js';
import type { ListResolver } from '../../xdms/list-resolver.js';
import type { OriginatingPolicy } from '../participating/originating-policy.js';
import type { TerminatingPolicy } from '../participating/terminating-policy.js';
import type { MsrpEndpoint } from '../../msrp/msrp-endpoint.js';
import type { MessagePolicy } from '../../msrp/msrp-session.js';
import { readMsrpMedia, SdpError, type MsrpMedia } from '../../msrp/msrp-sdp.js';
import type { Logger } from '../../log.js';
import type { LocationService } from '../../core/location-service.js';
import type { UserDirectory } from '../../core/user-directory.js';
import { randomBytes } from 'node:crypto';
import { readRecipientList } from './recipient-list.js';
import { historyList } from './copy-control.js';
import { inviteIntoRoom } from './room-invitation.js';
import { callerDialog, ownContact, sendBye } from '../session/call-legs.js';
import { answerFor, legTransport } from '../session/session-sdp.js';
import { answerInDialogOffer, type LegMedia } from '../session/in-dialog-offer.js';
import { refuseIfExploded } from './loop-guard.js';
import type { ProfilePolicy } from '../participating/profile-policy.js';
import { Room, type AbsentRecipient, type Departure, type Participant, type RoomChange } from './room.js';
import type { SessionHistory } from '../session/session-history.js';
import type { RoomCapture } from '../../history/room-capture.js';
import { newPublicId } from '../../history/conversation-store.js';
import { STORE_HEADER, storeRequest, storedAnswer, refusedAnswer } from '../../history/store-header.js';

export interface FocusOptions {
  /** the conference factory's user part: INVITEs to it with an RFC 5366 URI list make ad-hoc rooms */
  factoryUser: string;
  /** invitees one ad-hoc room may have */
  maxRecipients: number;
  ringTimeoutMs: number;
  /** our a=max-size */
  maxMessageBytes: number;
  /** messages waiting on one participant's leg before that participant is dropped (S5) */
  maxQueuePerLeg: number;
  /** the operator's cap on any room's participants; a group's max-participant-count may only lower it */
  maxParticipants: number;
}

export interface FocusServices {
  stack: SipStack;
  domain: LocalDomain;
  auth: Authenticator;
  originating: OriginatingPolicy;
  terminating: TerminatingPolicy;
  lists: ListResolver;
  endpoint: MsrpEndpoint;
  location: LocationService;
  log: Logger;
  /** our users: an invitee who is not one is reported 404 (without it, every name of our domain is taken as a user) */
  users?: UserDirectory;
  /** where a private message to a member who left goes (S8, room-deferred.ts) */
  absent?: AbsentRecipient;
  /** one row per room membership when it ends (H2) */
  history?: SessionHistory;
  /** what participants who asked (or store everything) see, into their conversations (H1) */
  capture?: RoomCapture;
}

/**
 * The conference focus for pre-defined rooms (S3): a group URI of the shared XDMS is a chat room.
 * An INVITE to it joins the room (the focus is the UAS, RFC 4579 §5; the MSRP leg ends here),
 * within the group's rules: a private group admits its members only (403), the group's
 * max-participant-count is the room's limit (486 with the limit in the reason), and a request
 * another list service already expanded is refused (482, S6). BYE leaves. Rooms live in this
 * node's memory while anyone is in them (docs/architecture.md, state and scale).
 */
export class RoomFocus {
  private readonly rooms = new Map<string, Room>();
  /** ad-hoc rooms: who may join (the creator and the invited); group rooms follow the group */
  private readonly adHoc = new Map<string, Set<string>>();
  /** our dialogs by Call-ID and our tag, with what each negotiated (for re-INVITE and UPDATE) */
  private readonly dialogs = new Map<string, { room: Room; participant: Participant; media: LegMedia }>();
  /** told of every join, rename and departure in every room (the conference event package) */
  onRoomChange: (room: Room, change: RoomChange) => void = () => undefined;
  /** the users' service profiles (Y1): a room is group chat, for who joins and who is invited */
  profiles: ProfilePolicy | null = null;

  constructor(
    private readonly s: FocusServices,
    private readonly opts: FocusOptions,
  ) {}

  /** Is this request for the focus: an INVITE to a group URI, or a BYE in one of our dialogs? */
  async claims(req: SipRequest): Promise<boolean> {
    if (req.toTag !== undefined) return this.dialogs.has(`${req.callId}|${req.toTag}`);
    const part = req.sipUri?.user ?? null;
    const name = part === null ? null : userOfUriPart(part);
    if (name === null) return false;
    const uri = this.s.domain.aor(name);
    if (req.method !== 'BYE' && (name === this.opts.factoryUser || this.adHoc.has(uri))) return true;
    return (await this.s.lists.groupMembers(uri)) !== null;
  }

  /** a room message was accepted and relayed to the other participants (metrics) */
  onMessageRelayed: (() => void) | null = null;

  /** Rooms with anyone in them. */
  get roomCount(): number {
    return this.rooms.size;
  }

  /** Live participants in every room (status). */
  get size(): number {
    return this.dialogs.size;
  }

  readonly handleInvite = async (req: SipRequest, tx: ServerTransaction): Promise<void> => {
    const { domain } = this.s;
    if (req.toTag !== undefined) return this.handleInDialog(req, tx);
    const sender = this.s.originating.identify(req, authenticateSip(this.s.auth, req, tx.source, false));
    refuseIfExploded(req);
    // Y1: joining or creating a room is group chat (403 without it)
    this.profiles?.requireGroupChat(sender.username, 'sender');
    const name = userOfUriPart(req.sipUri!.user!)!;
    if (name === this.opts.factoryUser) return this.createAdHoc(req, tx, sender.aor);
    const roomUri = domain.aor(name);
    const invited = this.adHoc.get(roomUri);
    const group = invited === undefined ? await this.s.lists.groupMembers(roomUri) : null;
    if (invited === undefined && group === null) throw new SipError(404, 'Not Found');
    const mayJoin = invited !== undefined ? invited.has(sender.aor.toLowerCase()) : admits(group!, sender.aor);
    if (!mayJoin) throw new SipError(403, 'Only members may join this room');
    const offer = readOffer(req);
    this.join(req, tx, sender.aor, this.roomFor(roomUri, group?.maxParticipants ?? null, group?.displayName ?? null), offer);
  };

  /**
   * An ad-hoc room (S2, RFC 5366): the INVITE to the factory carries the creator's MSRP offer and
   * an RFC 5366 URI list (multipart/mixed, `recipient-list`). The creator joins a new room at once
   * (its URI in our Contact, marked `isfocus`, RFC 4579 §3.1), and the focus invites each listed
   * user who does not block the creator. Every invitee is in the room's conference-info from the
   * start (pending), and who could not be brought in shows there as disconnected with why: the
   * 200 says nothing about them, and RFC 5366 §3.1 sends the creator to the conference event
   * package to learn it (room-invitations.ts). A list with RFC 5364 copy control puts its to/cc
   * entries in every invitation (copy-control.ts).
   */
  private async createAdHoc(req: SipRequest, tx: ServerTransaction, creator: string): Promise<void> {
    const list = await readRecipientList(req, this.s.lists);
    if (mediaTypeOf(list.contentType) !== 'application/sdp') throw new SipError(415, 'Unsupported Media Type', { Accept: 'application/sdp' });
    const offer = readOffer(req, list.payload);
    const invitees = [...new Set(list.members.map((m) => m.uri.toLowerCase()))].filter((u) => u !== creator.toLowerCase());
    if (invitees.length === 0) throw new SipError(400, 'The list names no one to invite');
    if (invitees.length > this.opts.maxRecipients) throw new SipError(403, `Too many invitees (at most ${this.opts.maxRecipients})`);
    const roomUri = this.s.domain.aor(`chat-${randomBytes(6).toString('hex')}`);
    this.adHoc.set(roomUri, new Set([creator.toLowerCase(), ...invitees]));
    const room = this.roomFor(roomUri, null, req.headers.get('subject')?.trim() || null);
    // the first conference-info anyone gets shows every invitee, pending until their INVITE leaves
    for (const aor of invitees) room.invitations.begin(aor, creator);
    this.join(req, tx, creator, room, offer);
    // RFC 5364 copy control: each invitation shows the list's to and cc entries, never its bcc
    const history = historyList(list.members);
    for (const aor of invitees) void this.invite(room, creator, aor, history);
  }

  /**
   * One invitation into a room, followed in the room's invitations (RFC 4575 endpoint status):
   * pending, dialing-out, alerting, then joined or disconnected with the status below. The status
   * says how it ended (for the REFER's NOTIFY too): 200 joined; 403 not ours, blocked by them
   * (Y2) or without group chat (Y1); 404 no such user; 480 not reachable, disabled or politely
   * blocking; else the invitee's own final answer (486, 603 …), 408 unanswered, 486 room full.
   */
  private async invite(room: Room, inviter: string, aor: string, history: string | null = null): Promise<{ status: number; text: string }> {
    if (room.invitations.get(aor.toLowerCase())?.status !== 'pending') room.invitations.begin(aor, inviter);
    const outcome = await this.bringIn(room, inviter, aor, history);
    if (outcome.status !== 200) room.invitations.fail(aor, outcome.status, outcome.text, outcome.byFocus);
    return outcome;
  }

  /** The checks and the INVITE of one invitation (invite()); its outcome as a SIP status and reason phrase. */
  private async bringIn(room: Room, inviter: string, aor: string, history: string | null): Promise<{ status: number; text: string; byFocus?: boolean }> {
    const user = this.s.domain.userOf(aor);
    if (user === null) return { status: 403, text: 'Only users of this domain can be invited' };
    const known = this.s.users === undefined ? { disabled: false } : this.s.users.get(user);
    if (known === undefined) return { status: 404, text: 'Not Found' };
    if (known.disabled) return { status: 480, text: 'Recipient is not available' };
    // Y1: a user without group chat is not invited into rooms (the reason the exploder gives, profile-policy.ts)
    if (this.profiles !== null && !this.profiles.of(user).groupChat) return { status: 403, text: 'The recipient does not take group chat' };
    try {
      // a polite block looks like an absent invitee, as it does to a caller (session-request-handler.ts)
      if ((await this.s.terminating.check(user, inviter)) === 'discard') return { status: 480, text: 'Temporarily Unavailable' };
    } catch (err) {
      // blocked: the inviter cannot reach them through a room either (403, as a MESSAGE would get)
      return err instanceof SipError ? { status: err.status, text: err.reason } : { status: 500, text: 'Server Internal Error' };
    }
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
    const limits = this.legLimits(aor);
    const progress = (status: 'dialing-out' | 'alerting'): void => room.invitations.progress(aor, status);
    const joined = await inviteIntoRoom(this.s, { uri: room.uri, inviter, history }, aor, { ...this.opts, ...limits }, ackHeaders, progress).catch((err: unknown) => {
      this.s.log.warn({ err, aor, room: room.uri }, 'room invitation failed');
      return { failed: { status: 500, text: 'Server Internal Error' } };
    });
    if ('failed' in joined) return joined.failed;
    if (!this.rooms.has(room.uri)) {
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
    this.dialogs.set(`${joined.callId}|${joined.tag}`, { room, participant: joined.participant, media: joined.media });
    this.watch(joined.participant);
    if (joined.connect) this.connect(joined.participant);
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
    const entry = req.toTag === undefined ? undefined : this.dialogs.get(`${req.callId}|${req.toTag}`);
    if (entry === undefined) {
      if (req.toTag !== undefined) throw new SipError(481, 'Call/Transaction Does Not Exist');
      const sender = this.s.originating.identify(req, authenticateSip(this.s.auth, req, tx.source, false));
      const name = userOfUriPart(req.sipUri?.user ?? '');
      const uri = name === null ? '' : this.s.domain.aor(name);
      const invited = this.adHoc.get(uri);
      const group = invited === undefined ? await this.s.lists.groupMembers(uri) : null;
      if (invited === undefined && group === null) throw new SipError(404, 'Not Found');
      if (!(invited?.has(sender.aor.toLowerCase()) ?? admits(group!, sender.aor))) throw new SipError(403, 'Only members may join this room');
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
    const invited = this.adHoc.get(room.uri);
    if (invited === undefined) {
      const group = await this.s.lists.groupMembers(room.uri);
      if (group === null || !admits(group, aor)) throw new SipError(403, 'Not a member of this room');
    }
    if (room.isFull) throw new SipError(486, `Room is full (${room.maxParticipants} participants)`);
    invited?.add(aor.toLowerCase());
    this.s.stack.reply(tx, 202, 'Accepted');
    const outcome = await this.invite(room, participant.aor, aor);
    // RFC 3515 §2.4.5: the sipfrag is the status line of the invitation's final response, whatever
    // it was (404 for no such user, the invitee's own 486 or 603, the focus's 403 for a profile…)
    const frag = `SIP/2.0 ${outcome.status} ${outcome.text.replace(/[\r\n]+/g, ' ')}`;
    const notify = participant.dialog.request('NOTIFY', { event: 'refer', 'subscription-state': 'terminated;reason=noresource' }, { type: 'message/sipfrag', content: `${frag}\r\n` });
    this.s.stack.sendRequest(notify, participant.dialog.state.destination, { onFinal: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined });
  };

  private roomFor(roomUri: string, maxParticipants: number | null, subject: string | null): Room {
    const { domain } = this.s;
    let room = this.rooms.get(roomUri);
    if (room === undefined) {
      // the group owner's limit applies under the operator's, never above it
      const limit = Math.min(maxParticipants ?? this.opts.maxParticipants, this.opts.maxParticipants);
      room = new Room(roomUri, limit, this.opts.maxQueuePerLeg, {
        mayReach: async (to, from) => {
          const user = domain.userOf(to);
          if (user === null) return false;
          try {
            return (await this.s.terminating.check(user, from)) === 'deliver';
          } catch {
            return false; // block: the terminating policy's 403
          }
        },
        drop: (p, reason) => this.end(p, reason),
        changed: (r, change) => {
          if (change.kind === 'left') this.membershipEnded(r, change.p, change.departure);
          this.onRoomChange(r, change);
        },
        absent: this.s.absent,
        relayed: () => this.onMessageRelayed?.(),
        message: (r, from, to, wrapped, skipped) => this.s.capture?.message(r, from, to, wrapped, skipped),
        // Y1/Y3: a participant's own profile decides what their leg is given (group chat, size, type)
        refuses: (to, contentType, body) => {
          const user = this.profiles === null ? null : domain.userOf(to);
          return user === null ? null : this.profiles!.roomRecipientRefusal(user, contentType, body);
        },
      });
      room.subject = subject;
      this.rooms.set(roomUri, room);
    }
    return room;
  }

  /** The caller joins: our MSRP leg answers their offer, and the 200 carries the room URI (isfocus). */
  private join(req: SipRequest, tx: ServerTransaction, aor: string, room: Room, offer: MsrpMedia): void {
    const { stack, endpoint } = this.s;
    // RFC 4579 §5.2 leaves the refusal to the focus: 486 says "busy", the reason says why
    if (room.isFull) throw new SipError(486, `Room is full (${room.maxParticipants} participants)`);
    const tag = stack.newId();
    const contact = ownContact(stack, tx.source.transport, room.uri.slice(4, room.uri.indexOf('@')));
    const leg = endpoint.create(legTransport(tx.source.transport, offer.protocol));
    leg.remotePath = offer.path;
    const participant: Participant = { aor, dialog: callerDialog(req, tx, tag, contact), leg, queued: 0 };
    // Y3: what the joiner sends is held to their own profile (MSRP 413/415), and our answer says so
    const limits = this.legLimits(aor);
    leg.policy = limits.policy;
    // RFC 7701: the focus says it takes nicknames and private messages (a=chatroom)
    const ours = answerFor(leg, offer, ['message/cpim'], limits.wrappedTypes, limits.maxMessageBytes, endpoint, undefined, ['nickname', 'private-messages']);
    room.join(participant);
    // H1: a participant asks with Conversation-Store: on on the INVITE; the 200 names the conversation
    const storeId = this.s.capture?.joined(room, participant, req.callId, storeRequest(req.headers) === 'on') ?? null;
    this.dialogs.set(`${req.callId}|${tag}`, { room, participant, media: { local: ours.sdp, remotePath: offer.path } });
    this.watch(participant);
    // RFC 3261 §13.3.1.4: resent until the ACK; without one the participant is dropped with a BYE
    const onAckTimeout = (): void => this.end(participant, 'No ACK for the 200 OK', 'failed', 408);
    const headers: Record<string, string> = { Contact: `${contact};isfocus` };
    if (storeId !== null) headers[STORE_HEADER] = typeof storeId === 'string' ? storedAnswer(storeId) : refusedAnswer(storeId.refused);
    stack.reply(tx, 200, 'OK', { toTag: tag, headers, body: Buffer.from(ours.sdp), contentType: 'application/sdp', onAckTimeout });
    // RFC 6135: where the participant waits for us (a=setup:passive), we connect
    if (ours.setup === 'active') this.connect(participant);
  }

  /**
   * The limits of one participant's leg from their own profile (Y3, RFC 4975 §8.6): the wrapped
   * types and max-size our SDP states (in our answer to a joiner, in our offer to an invitee),
   * and the policy that answers their SENDs outside them with MSRP 415/413.
   */
  private legLimits(aor: string): { wrappedTypes: string[]; maxMessageBytes: number; policy: MessagePolicy | null } {
    const user = this.s.domain.userOf(aor);
    if (this.profiles === null || user === null) return { wrappedTypes: ['*'], maxMessageBytes: this.opts.maxMessageBytes, policy: null };
    const room: MsrpMedia = { protocol: 'TCP/MSRP', path: '', acceptTypes: ['message/cpim'], acceptWrappedTypes: ['*'], maxSize: null, setup: 'actpass', direction: 'sendrecv', chatroom: [] };
    const narrowed = this.profiles.narrowMedia(room, [user], this.opts.maxMessageBytes);
    return { wrappedTypes: narrowed.media.acceptWrappedTypes, maxMessageBytes: narrowed.maxMessageBytes, policy: this.profiles.msrpPolicy([user]) };
  }

  /**
   * A participant whose MSRP connection closes without a BYE has left: the leg leaves the room
   * (the others no longer get copies for it) and their dialog ends with a BYE saying why (RFC 3326).
   */
  private watch(p: Participant): void {
    p.leg.onDisconnect = () => this.end(p, 'MSRP connection lost', 'failed', 480);
  }

  private connect(p: Participant): void {
    this.s.endpoint.connect(p.leg).then(
      (status) => {
        if (status !== 200) this.end(p, `MSRP connection failed (${status})`, 'failed');
      },
      () => this.end(p, 'MSRP connection failed', 'failed'),
    );
  }

  /**
   * A re-INVITE (RFC 3261 §14.2) or UPDATE (RFC 3311) in a room dialog: a refresh or a re-offer
   * of the same MSRP media gets our SDP as it stands; anything else is refused and the
   * participant stays in the room as they were (in-dialog-offer.ts).
   */
  readonly handleInDialog = (req: SipRequest, tx: ServerTransaction): void => {
    const entry = this.dialogs.get(`${req.callId}|${req.toTag ?? ''}`);
    if (entry === undefined) throw new SipError(481, 'Call/Transaction Does Not Exist');
    const sdp = answerInDialogOffer(req, entry.participant.dialog, entry.media, null);
    const body = sdp === null ? {} : { body: sdp, contentType: 'application/sdp' };
    const onAckTimeout = req.method === 'INVITE' ? (): void => this.end(entry.participant, 'No ACK for the 200 OK', 'failed', 408) : undefined;
    this.s.stack.reply(tx, 200, 'OK', { headers: { Contact: entry.participant.dialog.state.localContact }, ...body, onAckTimeout });
  };

  readonly handleBye = (req: SipRequest, tx: ServerTransaction): void => {
    const entry = this.dialogs.get(`${req.callId}|${req.toTag ?? ''}`);
    if (entry === undefined) throw new SipError(481, 'Call/Transaction Does Not Exist');
    this.s.stack.reply(tx, 200, 'OK');
    this.leave(entry.participant);
  };

  /** The focus ends a participant's dialog (a BYE with the reason, RFC 3326) and their leg. */
  private end(p: Participant, reason: string, method: Departure['method'] = 'booted', cause = 200): void {
    // gone already (left with BYE, or dropped for another reason): one BYE is enough
    if (![...this.dialogs.values()].some((e) => e.participant === p)) return;
    this.s.log.info({ aor: p.aor, reason }, 'participant dropped from room');
    sendBye(this.s.stack, p.dialog, reason, cause);
    this.leave(p, { method, reason });
  }

  private leave(p: Participant, departure?: Omit<Departure, 'at'>): void {
    for (const [key, entry] of this.dialogs) {
      if (entry.participant !== p) continue;
      this.dialogs.delete(key);
      entry.room.leave(p, departure);
      if (entry.room.participants.size === 0) {
        this.rooms.delete(entry.room.uri);
        this.adHoc.delete(entry.room.uri);
      }
    }
  }

  /**
   * A membership ended (H2): the participant's recording stops and one history row says who, which
   * room, when they joined and left, what they sent and received, and why they left.
   */
  private membershipEnded(room: Room, p: Participant, departure: Departure): void {
    this.s.capture?.left(room, p);
    if (this.s.history === undefined) return;
    const joinedAt = p.joinedAt ?? departure.at;
    const why = departure.method === 'departed' && departure.reason === undefined ? 'departed' : `${departure.method}${departure.reason ? `: ${departure.reason}` : ''}`;
    this.s.history
      .record({
        kind: 'room',
        caller: p.aor,
        callee: room.uri,
        startedAt: joinedAt,
        endedAt: departure.at,
        durationMs: departure.at - joinedAt,
        messageCount: (p.sent ?? 0) + (p.received ?? 0),
        sentCount: p.sent ?? 0,
        receivedCount: p.received ?? 0,
        endReason: why,
      })
      .catch((err: unknown) => this.s.log.warn({ err }, 'room membership history not written'));
  }

  /** The live room at a URI, if anyone is in it. */
  roomOf(uri: string): Room | undefined {
    return this.rooms.get(uri);
  }

  /**
   * Who may watch a room's participants (RFC 4575 §3.5 leaves authorisation to the focus's policy): whoever
   * may join it (an ad-hoc room's creator and invitees, a group's admitted users) and whoever is
   * in it. `unknown`: no room at that URI.
   */
  async mayWatch(uri: string, aor: string): Promise<'yes' | 'no' | 'unknown'> {
    const room = this.rooms.get(uri);
    if (room !== undefined && [...room.participants].some((p) => p.aor.toLowerCase() === aor.toLowerCase())) return 'yes';
    const invited = this.adHoc.get(uri);
    if (invited !== undefined) return invited.has(aor.toLowerCase()) ? 'yes' : 'no';
    const group = await this.s.lists.groupMembers(uri);
    if (group === null) return 'unknown';
    return admits(group, aor) ? 'yes' : 'no';
  }

  /** The participation whose dialog an in-dialog request belongs to (Call-ID, our tag, theirs). */
  participationOf(req: SipRequest): { room: Room; participant: Participant } | undefined {
    const entry = this.dialogs.get(`${req.callId}|${req.toTag ?? ''}`);
    return entry !== undefined && entry.participant.dialog.state.remoteTag === req.fromTag ? entry : undefined;
  }

  /** Ends every participation (shutdown). */
  close(): void {
    for (const { participant } of [...this.dialogs.values()]) this.end(participant, 'shutdown');
  }
}

/** The participant's MSRP offer: 415 for a body that is not SDP, 488 for one without a usable MSRP line. */
function readOffer(req: SipRequest, sdp?: Buffer): MsrpMedia {
  const body = sdp ?? req.body;
  if (body.length === 0) throw new SipError(488, 'An SDP offer with an MSRP media line is required');
  if (sdp === undefined && mediaTypeOf(req.headers.get('content-type') ?? '') !== 'application/sdp') throw new SipError(415, 'Unsupported Media Type', { Accept: 'application/sdp' });
  try {
    return readMsrpMedia(body.toString('utf8'));
  } catch (err) {
    if (err instanceof SdpError) throw new SipError(488, err.reason);
    throw err;
  }
}

/** Does a group's rule let `aor` in: anyone for a public group, members for a private one. */
function admits(group: { membersOnly: boolean; members: { uri: string }[] }, aor: string): boolean {
  return !group.membersOnly || group.members.some((m) => m.uri.toLowerCase() === aor.toLowerCase());
}
