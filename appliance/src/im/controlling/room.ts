import type { Dialog } from '../../sip/dialog/dialog.js';
import type { MsrpSession, ReceivedMessage } from '../../msrp/msrp-session.js';
import { PreparedSend } from '../../msrp/prepared-send.js';
import { newIdent } from '../../msrp/msrp-serializer.js';
import { parseCpim, wrapCpim } from './cpim.js';

/** One member in a room: their identity, their SIP dialog with the focus, their MSRP leg. */
export interface Participant {
  aor: string;
  dialog: Dialog;
  leg: MsrpSession;
  /** messages handed to the leg and not yet answered (the bounded queue, S5) */
  queued: number;
}

export interface RoomHooks {
  /** may `from` reach `to` privately? false when `to` blocks `from` (Y2) */
  mayReach(toAor: string, fromAor: string): Promise<boolean>;
  /** a participant whose leg fell behind is dropped: the focus ends their dialog */
  drop(p: Participant, reason: string): void;
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
    // one sender's messages are relayed one after another: a private message waits for the
    // recipient's block list, and what the sender sent next must not overtake it (S4: in order)
    let previous: Promise<void> = Promise.resolve();
    p.leg.onMessage = (m) => {
      previous = previous.then(() => this.relay(p, m)).catch(() => m.report(500, 'Server Internal Error'));
    };
  }

  leave(p: Participant): void {
    this.participants.delete(p);
    p.leg.close();
  }

  private async relay(from: Participant, m: ReceivedMessage): Promise<void> {
    let contentType = m.contentType;
    let body = m.body;
    let privateTo: Participant | null = null;
    if (contentType.toLowerCase().startsWith('message/cpim')) {
      const cpim = parseCpim(body);
      if (cpim === null) {
        m.report(400, 'Malformed message/cpim');
        return;
      }
      contentType = cpim.contentType;
      body = Buffer.from(cpim.body);
      if (cpim.to !== null && cpim.to.toLowerCase() !== this.uri.toLowerCase()) {
        privateTo = [...this.participants].find((p) => p.aor.toLowerCase() === cpim.to!.toLowerCase() && p !== from) ?? null;
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
    const wrapped = wrapCpim(from.aor, privateTo?.aor ?? this.uri, contentType, body);
    // serialized once for every leg: each leg splices in its own transaction id and paths
    const prepared = new PreparedSend('message/cpim', wrapped, { messageId: newIdent(), chunkBytes: from.leg.chunkBytes });
    if (privateTo !== null) this.sendTo(privateTo, prepared);
    else for (const p of [...this.participants]) if (p !== from) this.sendTo(p, prepared);
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
    // Failure-Report yes (the default): the participant answers every chunk (RFC 4975 §7.1.2),
    // and those answers are how far behind the leg is
    p.leg.sendPrepared(prepared).then(
      () => void p.queued--,
      () => void p.queued--,
    );
  }
}
