import type { Logger } from '../log.js';
import type { ConversationStore } from './conversation-store.js';
import type { ConversationRow } from '../store/entities.js';
import { newPublicId } from './conversation-store.js';
import type { StoresAll } from './pager-capture.js';
import type { RefusalHook, StorageRefusal } from './refusal-notices.js';

/** Which side of a one-to-one session. */
export type SessionSide = 'caller' | 'callee';

/** One side of a session as storage sees it: the user, their dialog's Call-ID, whether they asked. */
export interface SessionParty {
  aor: string;
  /** the Call-ID of this user's dialog with us (the B2BUA's two dialogs have their own) */
  callId: string;
  /** `Conversation-Store: on` on their INVITE (caller) or on their 2xx (callee) */
  asked: boolean;
}

/** The capture key of a session conversation: the owner's dialog. */
export const sessionKey = (callId: string): string => `session:${callId}`;

/** A session conversation's name: who it is with. */
const sessionName = (peer: string): string => `Session with ${peer.replace(/^sips?:/, '')}`;

/**
 * Stores one-to-one MSRP sessions (S1) through our switch into the conversations of the users who
 * asked (H1), or prefer it, or all by site policy: every complete message, both ways, stamped by
 * the server, until the session ends. Each side that stores has a conversation of its own (kind
 * 'session', capture key per its dialog, peers the other party).
 */
export class SessionCapture {
  /** told when a message (or a whole session, at set-up) could not be stored for a user: past their quota, or their profile allows no storage (refusal-notices.ts) */
  onRefused: RefusalHook | null = null;

  constructor(
    private readonly store: ConversationStore,
    private readonly policy: StoresAll,
    private readonly log: Logger,
  ) {}

  /** Whether a side that asked (or did not) wants its session stored: asked, or stores everything. */
  wants(aor: string, asked: boolean): boolean {
    return asked || this.policy.storesAll(aor);
  }

  /**
   * Starts recording for each side that asked or stores everything. The public ids are known at
   * once (for the 2xx and the ACK); the rows are being written when this returns, and `ready`
   * resolves once they are.
   */
  begin(caller: SessionParty, callee: SessionParty): SessionRecording | null {
    const sides: Partial<Record<SessionSide, { party: SessionParty; peer: string; publicId: string }>> = {};
    const refused: Record<SessionSide, StorageRefusal['refused'] | null> = { caller: null, callee: null };
    const want = (side: SessionSide, party: SessionParty, peer: string): void => {
      if (!this.wants(party.aor, party.asked)) return;
      // H3, Y1: already past the quota (or not allowed storage): no conversation, and the answer says so
      const refusal = this.store.refusalFor(party.aor, peer);
      if (refusal === null) {
        sides[side] = { party, peer, publicId: newPublicId() };
        return;
      }
      refused[side] = refusal.refused;
      this.onRefused?.({ owner: party.aor, captureKey: sessionKey(party.callId), publicId: null, name: sessionName(peer) }, refusal);
    };
    want('caller', caller, callee.aor);
    want('callee', callee, caller.aor);
    if (sides.caller === undefined && sides.callee === undefined && refused.caller === null && refused.callee === null) return null;
    const started = async (side: SessionSide): Promise<ConversationRow | null> => {
      const s = sides[side];
      if (s === undefined) return null;
      try {
        return await this.store.start(s.party.aor, 'session', sessionKey(s.party.callId), [s.peer], sessionName(s.peer), s.publicId);
      } catch (err) {
        this.log.warn({ err, owner: s.party.aor }, 'session conversation not started');
        return null;
      }
    };
    const ready = Promise.all([started('caller'), started('callee')]).then(([c, e]) => ({ caller: c, callee: e }));
    return new SessionRecording(this.store, this.log, { caller: caller.aor, callee: callee.aor }, { caller: sides.caller?.publicId ?? null, callee: sides.callee?.publicId ?? null }, refused, ready, (c, r) =>
      this.onRefused?.(c, r),
    );
  }
}

/** A live session's recording: what the switch tells it, in order, until `stop`. */
export class SessionRecording {
  private stopped = false;
  /** appends and the stop, one after another (stored order is the switch's order) */
  private chain: Promise<unknown>;

  constructor(
    private readonly store: ConversationStore,
    private readonly log: Logger,
    private readonly aors: Record<SessionSide, string>,
    /** the conversations' public ids (null for a side that does not store) */
    readonly publicIds: Record<SessionSide, string | null>,
    /** why a side that wanted its session stored was refused at set-up (null: not refused) */
    readonly refused: Record<SessionSide, StorageRefusal['refused'] | null>,
    /** the rows, once written (null for a side that does not store, or whose row failed) */
    readonly ready: Promise<Record<SessionSide, ConversationRow | null>>,
    private readonly onRefused: RefusalHook,
  ) {
    this.chain = ready;
  }

  /**
   * A complete message from `from` went through the switch: into each storing side's conversation,
   * sender and recipient as the session's two users. Appends run one after another behind `ready`,
   * so the stored order is the order the switch took them.
   */
  message(from: SessionSide, contentType: string, body: Buffer): void {
    if (this.stopped) return;
    const at = Date.now();
    const to: SessionSide = from === 'caller' ? 'callee' : 'caller';
    const m = { sender: this.aors[from], recipients: [this.aors[to]], contentType, body: Buffer.from(body) };
    this.chain = this.chain.then(async () => {
      const rows = await this.ready;
      for (const row of [rows.caller, rows.callee]) {
        if (row === null) continue;
        try {
          const stored = await this.store.append(row, m, at);
          if ('refused' in stored && (stored.refused === 'quota' || stored.refused === 'profile')) this.onRefused(row, stored);
        } catch (err) {
          this.log.warn({ err, owner: row.owner }, 'session message not stored');
        }
      }
    });
  }

  /** The session ended: no more messages are recorded (the conversations stay). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.chain = this.chain.then(async () => {
      const rows = await this.ready;
      for (const row of [rows.caller, rows.callee]) {
        if (row === null) continue;
        await this.store.stop(row.owner, row.captureKey).catch((err: unknown) => this.log.warn({ err }, 'session recording not stopped'));
      }
    });
  }
}
