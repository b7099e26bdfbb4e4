import type { Dialog } from '../../sip/dialog/dialog.js';
import type { MsrpSession, ReceivedMessage } from '../../msrp/msrp-session.js';
import type { NicknameRequest } from '../../msrp/msrp-nickname.js';
import { PreparedSend } from '../../msrp/prepared-send.js';
import { newIdent } from '../../msrp/msrp-serializer.js';
import { parseCpim, wrapCpim, type CpimMessage } from './cpim.js';
import { RoomNicknames } from './room-nicknames.js';
import { imdnRequestOf } from '../imdn/imdn-request.js';
import { RoomInvitations } from './room-invitations.js';

/** One member in a room: their identity, their SIP dialog with the focus, their MSRP leg. */
export interface Participant {
  aor: string;
  dialog: Dialog;
  leg: MsrpSession;
  /** messages handed to the leg and not yet answered (the bounded queue, S5) */
  queued: number;
  /** when they joined (ms); set by the room */
  joinedAt?: number;
  /** who asked the focus to invite them (they were dialled out, RFC 4575 joining-method) */
  invitedBy?: string;
  /** the nickname they reserved in the room (RFC 7701 NICKNAME), as the room writes it */
  nickname?: string;
  /** messages they sent that the room accepted, and messages the room handed to their leg (session history, H2) */
  sent?: number;
  received?: number;
}

/** How a participant left (RFC 4575 disconnection-method and its reason). */
export interface Departure {
  method: 'departed' | 'booted' | 'failed';
  reason?: string;
  at: number;
}

/** What changed in a room, for the conference event package (RFC 4575): a participant, or the invitation of `aor`. */
export type RoomChange =
  | { kind: 'joined'; p: Participant }
  | { kind: 'renamed'; p: Participant }
  | { kind: 'left'; p: Participant; departure: Departure }
  | { kind: 'invitation'; aor: string };

/** A private message for someone who left the room (S8): where it goes, and what the sender is told. */
export type AbsentRecipient = (toAor: string, from: Participant, contentType: string, body: Buffer) => Promise<{ status: number; comment?: string }>;

/** Whom a private message is for: a participant, or a member who left (their AOR, S8). */
export type PrivateRecipient = Participant | { departed: string };

export interface RoomHooks {
  /** may `from` reach `to` privately? false when `to` blocks `from` (Y2) */
  mayReach(toAor: string, fromAor: string): Promise<boolean>;
  /** a participant whose leg fell behind is dropped: the focus ends their dialog */
  drop(p: Participant, reason: string): void;
  /** told of every join, rename and departure */
  changed?(room: Room, change: RoomChange): void;
  /** a private message to a member who left (S8); without it, such a message is refused like any to a non-participant */
  absent?: AbsentRecipient;
  /** a message was accepted and handed to its recipients' legs (metrics) */
  relayed?(): void;
  /**
   * a message is being relayed as `wrapped` (CPIM), to the room (null) or privately: to a
   * participant, or kept for a member who left (S8) (conversation storage, H1); `skipped` got no copy
   */
  message?(room: Room, from: Participant, privateTo: PrivateRecipient | null, wrapped: Buffer, skipped?: ReadonlySet<Participant>): void;
  /**
   * Why the user at `toAor` takes no copy of this content (their service profile, Y1/Y3), or null
   * when they do; `contentType` and `body` are what the sender's CPIM carries. Asked for each
   * participant a message goes to, and for a member who left before their message is stored (S8).
   * Without it everyone takes everything.
   */
  refuses?(toAor: string, contentType: string, body: Buffer): Refusal | null;
}

/** A status and reason for the sender's REPORT (RFC 4975 §7.1.2). */
export interface Refusal {
  status: number;
  reason: string;
}

/**
 * A chat room's MSRP switch (S4): each message from one participant goes to every other, in
 * order, wrapped in message/cpim whose From is the sender and To the room (RFC 7701 §7). A
 * message/cpim whose To names one participant is a private message (RFC 7701 §8) and goes to
 * them alone, unless they block the sender (403 to the sender). A participant whose leg holds
 * `maxQueue` unanswered messages is dropped rather than stall the others (S5).
 */
export class Room {
  readonly participants = new Set<Participant>();
  /** the room's subject (a group's display name, an ad-hoc room's Subject), for conference-info */
  subject: string | null = null;
  private readonly nicknames = new RoomNicknames<Participant>();
  /** AORs (lower case) of members who were here and left, for private messages to them (S8) */
  private readonly departed = new Set<string>();
  private readonly gone = new WeakSet<Participant>();
  /** the users the focus was asked to invite who are not in the room: pending, ringing or failed (RFC 4575 §5.6.4) */
  readonly invitations = new RoomInvitations((aor) => this.hooks.changed?.(this, { kind: 'invitation', aor }));

  constructor(
    readonly uri: string,
    readonly maxParticipants: number | null,
    private readonly maxQueue: number,
    private readonly hooks: RoomHooks,
  ) {}

  get isFull(): boolean {
    return this.maxParticipants !== null && this.participants.size >= this.maxParticipants;
  }

  join(p: Participant): void {
    this.participants.add(p);
    p.joinedAt ??= Date.now();
    this.departed.delete(p.aor.toLowerCase());
    // an invitee (or one invited earlier who now dials in) is a participant: the join says so
    this.invitations.settle(p.aor);
    p.leg.onNickname = (n) => this.rename(p, n);
    // one sender's messages are relayed one after another: a private message waits for the
    // recipient's block list, and what the sender sent next must not overtake it (S4: in order)
    let previous: Promise<void> = Promise.resolve();
    p.leg.onMessage = (m) => {
      previous = previous.then(() => this.relay(p, m)).catch(() => m.report(500, 'Server Internal Error'));
    };
    this.hooks.changed?.(this, { kind: 'joined', p });
  }

  /** The participant is out (once): their nickname is free, their leg closed. */
  leave(p: Participant, departure: Omit<Departure, 'at'> = { method: 'departed' }): void {
    if (this.gone.has(p)) return;
    this.gone.add(p);
    this.participants.delete(p);
    this.nicknames.release(p);
    if (![...this.participants].some((o) => o.aor.toLowerCase() === p.aor.toLowerCase())) this.departed.add(p.aor.toLowerCase());
    p.leg.close();
    this.hooks.changed?.(this, { kind: 'left', p, departure: { ...departure, at: Date.now() } });
  }

  /**
   * A NICKNAME (RFC 7701): 200 and the nickname is theirs in this room, 425 when someone else
   * holds it (compared case-insensitively, RFC 8266), 424 when it may not be used. A refusal
   * changes nothing for anyone.
   */
  private rename(p: Participant, n: NicknameRequest): void {
    if (!this.participants.has(p)) {
      n.respond(403, 'Not a participant of this room');
      return;
    }
    const outcome = this.nicknames.reserve(p, p.aor, n.nickname);
    n.respond(outcome.status, outcome.comment);
    if (outcome.status !== 200 || (outcome.nickname ?? undefined) === p.nickname) return;
    p.nickname = outcome.nickname ?? undefined;
    this.hooks.changed?.(this, { kind: 'renamed', p });
  }

  private async relay(from: Participant, m: ReceivedMessage): Promise<void> {
    let contentType = m.contentType;
    let body = m.body;
    let privateTo: Participant | null = null;
    // what the sender's CPIM carries beyond From and To (IMDN headers, RFC 5438 §6) goes on unchanged
    let sent: { dateTime: string | null; passOn: CpimMessage['passOn'] } = { dateTime: null, passOn: { headers: [], contentHeaders: [] } };
    if (contentType.toLowerCase().startsWith('message/cpim')) {
      const cpim = parseCpim(body);
      if (cpim === null) {
        m.report(400, 'Malformed message/cpim');
        return;
      }
      sent = cpim;
      contentType = cpim.contentType;
      body = Buffer.from(cpim.body);
      if (cpim.to !== null && cpim.to.toLowerCase() !== this.uri.toLowerCase()) {
        privateTo = [...this.participants].find((p) => p.aor.toLowerCase() === cpim.to!.toLowerCase() && p !== from) ?? null;
        // S8: to a member who left, it waits in their deferred storage (their block list first, Y2)
        if (privateTo === null && this.hooks.absent && this.departed.has(cpim.to.toLowerCase())) {
          if (!(await this.hooks.mayReach(cpim.to, from.aor))) {
            m.report(403, 'Forbidden');
            return;
          }
          // Y1/Y3: stored only if their profile would take it live
          const refusal = this.hooks.refuses?.(cpim.to, contentType, body) ?? null;
          if (refusal !== null) {
            m.report(refusal.status, refusal.reason);
            return;
          }
          // RFC 5438 §7.2.1: one that asks for notifications keeps its CPIM envelope in storage, so the
          // pushed MESSAGE carries the imdn.Message-ID and DateTime the recipient's notification
          // names, and its From (the sender, as the room writes it) is where that notification goes
          const asks = imdnRequestOf(m.contentType, m.body) !== null;
          const wrapped = wrapCpim(from.aor, cpim.to, contentType, body, sent.dateTime ?? new Date(), from.nickname, sent.passOn);
          const stored = await this.hooks.absent(cpim.to, from, asks ? 'message/cpim' : contentType, asks ? wrapped : body);
          // H1: kept for them, it is a private message sent; the sender's recording gets it as the room would have relayed it
          if (stored.status < 300) this.hooks.message?.(this, from, { departed: cpim.to }, wrapped);
          m.report(stored.status, stored.comment);
          return;
        }
        // RFC 7701 §8: a private message to someone not in the room
        if (privateTo === null) {
          m.report(403, 'Not a participant of this room');
          return;
        }
        if (!(await this.hooks.mayReach(privateTo.aor, from.aor))) {
          m.report(403, 'Forbidden');
          return;
        }
      }
    }
    // Y1/Y3: each recipient's profile (group chat, size, type) decides whether their leg gets a copy
    const to = privateTo !== null ? [privateTo] : [...this.participants].filter((p) => p !== from);
    const skipped = new Set<Participant>();
    let first: Refusal | null = null;
    if (this.hooks.refuses !== undefined) {
      for (const p of to) {
        const refusal = this.hooks.refuses(p.aor, contentType, body);
        if (refusal === null) continue;
        skipped.add(p);
        first ??= refusal;
      }
    }
    // RFC 4975 §7.1.2: the REPORT has one status for the whole message. The focus is the endpoint
    // of the sender's session (RFC 7701: the MSRP switch terminates each participant's session; no
    // RFC 4976 relay sits between), so its report says what became of the message here:
    // taken by the room when any recipient's leg gets it (who else did not is theirs to know, not
    // the sender's), refused with the recipient's reason when nobody could take it
    if (first !== null && skipped.size === to.length) {
      m.report(first.status, privateTo !== null ? first.reason : `No participant accepts this message (${first.reason})`);
      return;
    }
    const wrapped = wrapCpim(from.aor, privateTo?.aor ?? this.uri, contentType, body, sent.dateTime ?? new Date(), from.nickname, sent.passOn);
    // serialized once for every leg: each leg splices in its own transaction id and paths
    const prepared = new PreparedSend('message/cpim', wrapped, { messageId: newIdent(), chunkBytes: from.leg.chunkBytes });
    from.sent = (from.sent ?? 0) + 1;
    this.hooks.message?.(this, from, privateTo, wrapped, skipped);
    for (const p of to) if (!skipped.has(p)) this.sendTo(p, prepared);
    this.hooks.relayed?.();
    m.report(200);
  }

  /** Queues one message on a leg (the session sends them in order); a full queue drops the leg. */
  private sendTo(p: Participant, prepared: PreparedSend): void {
    if (!this.participants.has(p)) return;
    if (p.queued >= this.maxQueue) {
      this.participants.delete(p);
      this.hooks.drop(p, `Too slow: ${this.maxQueue} messages waiting`);
      return;
    }
    p.queued++;
    p.received = (p.received ?? 0) + 1;
    // Failure-Report yes (the default): the participant answers every chunk (RFC 4975 §7.1.2),
    // and those answers are how far behind the leg is
    p.leg.sendPrepared(prepared).then(
      () => void p.queued--,
      () => void p.queued--,
    );
  }
}
