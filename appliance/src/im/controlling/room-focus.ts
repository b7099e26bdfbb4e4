import type { SipRequest } from '../../sip/message/message.js';
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
import type { MsrpMedia } from '../../msrp/msrp-sdp.js';
import type { Logger } from '../../log.js';
import type { LocationService } from '../../core/location-service.js';
import type { UserDirectory } from '../../core/user-directory.js';
import { randomBytes } from 'node:crypto';
import { readRecipientList } from './recipient-list.js';
import { historyList } from './copy-control.js';
import { RoomAdmission } from './room-admission.js';
import { RoomPolicy } from './room-policy.js';
import { RoomInviter } from './room-inviter.js';
import { callerDialog, ownContact, sendBye } from '../session/call-legs.js';
import { answerFor, legTransport, readOffer } from '../session/session-sdp.js';
import { answerInDialogOffer, type LegMedia } from '../session/in-dialog-offer.js';
import { refuseIfExploded } from './loop-guard.js';
import type { ProfilePolicy } from '../participating/profile-policy.js';
import { Room, type AbsentRecipient, type Departure, type Participant, type RoomChange } from './room.js';
import type { SessionHistory } from '../session/session-history.js';
import type { RoomCapture } from '../../history/room-capture.js';
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
 * node's memory while anyone is in them (docs/architecture.md, state and scale). Who may join is
 * decided in room-admission.ts, what the users' own rules allow in room-policy.ts; invitations
 * (an ad-hoc room's list, a participant's REFER) are sent and followed by room-inviter.ts.
 */
export class RoomFocus {
  private readonly rooms = new Map<string, Room>();
  private readonly admission: RoomAdmission;
  private readonly policy: RoomPolicy;
  private readonly inviter: RoomInviter;
  /** our dialogs by Call-ID and our tag, with what each negotiated (for re-INVITE and UPDATE) */
  private readonly dialogs = new Map<string, { room: Room; participant: Participant; media: LegMedia }>();
  /** told of every join, rename and departure in every room (the conference event package) */
  onRoomChange: (room: Room, change: RoomChange) => void = () => undefined;
  /** the users' service profiles (Y1): a room is group chat, for who joins and who is invited */
  profiles: ProfilePolicy | null = null;

  constructor(
    private readonly s: FocusServices,
    private readonly opts: FocusOptions,
  ) {
    this.admission = new RoomAdmission(s.lists);
    this.policy = new RoomPolicy(s, opts.maxMessageBytes, () => this.profiles);
    this.inviter = new RoomInviter(s, opts, this.admission, this.policy, {
      dialogOf: (callId, tag) => this.dialogs.get(`${callId}|${tag}`),
      isOpen: (room) => this.rooms.has(room.uri),
      seated: (room, seat) => {
        this.dialogs.set(`${seat.callId}|${seat.tag}`, { room, participant: seat.participant, media: seat.media });
        this.watch(seat.participant);
        if (seat.connect) this.connect(seat.participant);
      },
    });
  }

  /** Is this request for the focus: an INVITE to a group URI, or a BYE in one of our dialogs? */
  async claims(req: SipRequest): Promise<boolean> {
    if (req.toTag !== undefined) return this.dialogs.has(`${req.callId}|${req.toTag}`);
    const part = req.sipUri?.user ?? null;
    const name = part === null ? null : userOfUriPart(part);
    if (name === null) return false;
    const uri = this.s.domain.aor(name);
    if (req.method !== 'BYE' && (name === this.opts.factoryUser || this.admission.isAdHoc(uri))) return true;
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
    if (req.toTag !== undefined) return this.handleInDialog(req, tx);
    const sender = this.s.originating.identify(req, authenticateSip(this.s.auth, req, tx.source, false));
    refuseIfExploded(req);
    // Y1: joining or creating a room is group chat (403 without it)
    this.profiles?.requireGroupChat(sender.username, 'sender');
    const name = userOfUriPart(req.sipUri!.user!)!;
    if (name === this.opts.factoryUser) return this.createAdHoc(req, tx, sender.aor);
    const roomUri = this.s.domain.aor(name);
    const { group } = await this.admission.admit(roomUri, sender.aor);
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
    this.admission.openAdHoc(roomUri, [creator, ...invitees]);
    const room = this.roomFor(roomUri, null, req.headers.get('subject')?.trim() || null);
    // the first conference-info anyone gets shows every invitee, pending until their INVITE leaves
    for (const aor of invitees) room.invitations.begin(aor, creator);
    this.join(req, tx, creator, room, offer);
    // RFC 5364 copy control: each invitation shows the list's to and cc entries, never its bcc
    const history = historyList(list.members);
    for (const aor of invitees) void this.inviter.invite(room, creator, aor, history);
  }

  /** Invite more: a participant's REFER in their room dialog (RFC 4579 §5.5, room-inviter.ts). */
  readonly handleRefer = (req: SipRequest, tx: ServerTransaction): Promise<void> => this.inviter.handleRefer(req, tx);

  private roomFor(roomUri: string, maxParticipants: number | null, subject: string | null): Room {
    let room = this.rooms.get(roomUri);
    if (room === undefined) {
      // the group owner's limit applies under the operator's, never above it
      const limit = Math.min(maxParticipants ?? this.opts.maxParticipants, this.opts.maxParticipants);
      room = new Room(roomUri, limit, this.opts.maxQueuePerLeg, {
        mayReach: (to, from) => this.policy.mayReach(to, from),
        drop: (p, reason) => this.end(p, reason),
        changed: (r, change) => {
          if (change.kind === 'left') this.membershipEnded(r, change.p, change.departure);
          this.onRoomChange(r, change);
        },
        absent: this.s.absent,
        relayed: () => this.onMessageRelayed?.(),
        message: (r, from, to, wrapped, skipped) => this.s.capture?.message(r, from, to, wrapped, skipped),
        // Y1/Y3: a participant's own profile decides what their leg is given (group chat, size, type)
        refuses: (to, contentType, body) => this.policy.refuses(to, contentType, body),
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
    const limits = this.policy.legLimits(aor);
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
        this.admission.closed(entry.room.uri);
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

  /** Who may watch a room's participants: whoever may join it or is in it (room-admission.ts). `unknown`: no room at that URI. */
  mayWatch(uri: string, aor: string): Promise<'yes' | 'no' | 'unknown'> {
    return this.admission.mayWatch(uri, aor, this.rooms.get(uri));
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
