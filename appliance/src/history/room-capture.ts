import type { Logger } from '../log.js';
import type { ConversationRow } from '../store/entities.js';
import type { ConversationStore } from './conversation-store.js';
import { newPublicId } from './conversation-store.js';
import type { RefusalHook } from './refusal-notices.js';
import type { StoresAll } from './pager-capture.js';
import type { Participant, PrivateRecipient } from '../im/controlling/room.js';

/** The capture key of one room membership: the room and the participant's dialog with the focus. */
export const roomKey = (roomUri: string, callId: string): string => `room:${roomUri.toLowerCase()}:${callId}`;

/** What the capture needs of a room: its URI, subject and who is in it. */
export interface CapturedRoom {
  readonly uri: string;
  readonly subject: string | null;
  readonly participants: ReadonlySet<Participant>;
}

/** One participant's recording: their conversation (once written), the peers seen, the writes in order. */
interface Recording {
  owner: string;
  row: Promise<ConversationRow | null>;
  /** the room URI first, then each participant seen, once (compared case-insensitively) */
  peers: string[];
  seen: Set<string>;
  chain: Promise<unknown>;
}

/**
 * Stores what a participant sees in a room (H1) when they asked on joining (`Conversation-Store:
 * on` on their INVITE to the room, or on their 2xx to the focus's invitation), prefer it, or the
 * site stores everything: every public message, theirs included, and the private messages to and
 * from them, each as the room sent it (message/cpim, RFC 3862), the CPIM From as the stored sender
 * and the CPIM To (the room, or the private recipient) as the recipient. The conversation is kind
 * 'room', its peers the room URI first, then the participants seen. Recording stops when they leave.
 */
export class RoomCapture {
  /** room URI (lower case) → its recording participants */
  private readonly rooms = new Map<string, Map<Participant, Recording>>();
  /** told when a message could not be stored for a user: past their quota, or their profile allows no storage (refusal-notices.ts) */
  onRefused: RefusalHook | null = null;

  constructor(
    private readonly store: ConversationStore,
    private readonly policy: StoresAll,
    private readonly log: Logger,
  ) {}

  /** Why nothing more would be stored for `aor` now (quota reached, or no storage in their profile), or null. */
  refusal(aor: string): 'quota' | 'profile' | null {
    return this.store.refusalFor(aor)?.refused ?? null;
  }

  /** Whether a participant joining with (or without) a request is to be recorded. */
  wants(aor: string, asked: boolean): boolean {
    return asked || this.policy.storesAll(aor);
  }

  /**
   * `p` has joined `room` by the dialog `callId`: starts their recording if they `wants` it and
   * returns the conversation's public id (for the 2xx), else null; when they want it but are past
   * their quota or their profile allows no storage (H3, Y1), no recording and the refusal (for
   * `Conversation-Store: refused;reason=…`, told like a session's). Every other recording in the
   * room now counts `p` among its peers.
   */
  joined(room: CapturedRoom, p: Participant, callId: string, asked: boolean, publicId = newPublicId()): string | { refused: 'quota' | 'profile' } | null {
    const key = room.uri.toLowerCase();
    for (const r of this.rooms.get(key)?.values() ?? []) this.addPeer(r, p.aor);
    if (!this.wants(p.aor, asked)) return null;
    const refusal = this.store.refusalFor(p.aor, room.uri);
    if (refusal !== null) {
      this.onRefused?.({ owner: p.aor, captureKey: roomKey(room.uri, callId), publicId: null, name: roomName(room) }, refusal);
      return { refused: refusal.refused };
    }
    const peers = [room.uri];
    const seen = new Set([room.uri.toLowerCase(), p.aor.toLowerCase()]);
    for (const o of room.participants) {
      if (seen.has(o.aor.toLowerCase())) continue;
      seen.add(o.aor.toLowerCase());
      peers.push(o.aor);
    }
    const row = this.store.start(p.aor, 'room', roomKey(room.uri, callId), [...peers], roomName(room), publicId).catch((err: unknown) => {
      this.log.warn({ err, owner: p.aor, room: room.uri }, 'room conversation not started');
      return null;
    });
    const recording: Recording = { owner: p.aor, row, peers, seen, chain: row };
    let inRoom = this.rooms.get(key);
    if (inRoom === undefined) this.rooms.set(key, (inRoom = new Map()));
    inRoom.set(p, recording);
    return publicId;
  }

  /**
   * The room relayed a message (`wrapped`, the CPIM the participants get): public ones into every
   * recording participant's conversation, private ones into the sender's and the recipient's; one
   * kept for a member who left (S8) into the sender's, the recipient named and counted among its
   * peers; none into the conversation of a participant in `skipped` (their profile took no copy).
   */
  message(room: CapturedRoom, from: Participant, privateTo: PrivateRecipient | null, wrapped: Buffer, skipped: ReadonlySet<Participant> = new Set()): void {
    const inRoom = this.rooms.get(room.uri.toLowerCase());
    if (inRoom === undefined) return;
    const at = Date.now();
    const departed = privateTo !== null && 'departed' in privateTo ? privateTo.departed : null;
    const to = privateTo === null ? null : 'departed' in privateTo ? null : privateTo;
    const m = { sender: from.aor, recipients: [departed ?? to?.aor ?? room.uri], contentType: 'message/cpim', body: wrapped };
    // a participant whose profile took no copy (Y3) keeps none either
    const owners = (privateTo === null ? [...inRoom.keys()] : to === null ? [from] : [from, to]).filter((p) => !skipped.has(p)).map((p) => inRoom.get(p)).filter((r): r is Recording => r !== undefined);
    for (const r of owners) {
      this.addPeer(r, from.aor);
      if (departed !== null) this.addPeer(r, departed);
      r.chain = r.chain.then(async () => {
        const row = await r.row;
        if (row === null) return;
        try {
          const stored = await this.store.append(row, m, at);
          if ('refused' in stored && (stored.refused === 'quota' || stored.refused === 'profile')) this.onRefused?.(row, stored);
        } catch (err) {
          this.log.warn({ err, owner: row.owner }, 'room message not stored');
        }
      });
    }
  }

  /** `p` left `room`: their recording stops (the conversation stays). */
  left(room: CapturedRoom, p: Participant): void {
    const key = room.uri.toLowerCase();
    const inRoom = this.rooms.get(key);
    const r = inRoom?.get(p);
    if (inRoom === undefined || r === undefined) return;
    inRoom.delete(p);
    if (inRoom.size === 0) this.rooms.delete(key);
    r.chain = r.chain.then(async () => {
      const row = await r.row;
      if (row !== null) await this.store.stop(row.owner, row.captureKey).catch((err: unknown) => this.log.warn({ err }, 'room recording not stopped'));
    });
  }

  /** A participant seen for the first time joins the recording's peers (written after what is queued). */
  private addPeer(r: Recording, aor: string): void {
    if (r.seen.has(aor.toLowerCase())) return;
    r.seen.add(aor.toLowerCase());
    r.peers.push(aor);
    const peers = [...r.peers];
    r.chain = r.chain.then(async () => {
      const row = await r.row;
      if (row !== null) await this.store.setPeers(row, peers).catch((err: unknown) => this.log.warn({ err }, 'room conversation peers not updated'));
    });
  }
}

/** A room conversation's name: the room's subject, or its URI. */
const roomName = (room: CapturedRoom): string => `Room ${room.subject ?? room.uri.replace(/^sips?:/, '')}`;
