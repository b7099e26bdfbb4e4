import type { Dialog } from '../../sip/dialog/dialog.js';
import type { SipStack } from '../../sip/stack.js';
import type { Logger } from '../../log.js';
import type { MsrpSession } from '../../msrp/msrp-session.js';
import type { MsrpSwitch } from './msrp-switch.js';
import type { SessionHistory } from './session-history.js';
import { sendBye } from './call-legs.js';
import type { SessionRecording } from '../../history/session-capture.js';
import type { LegMedia } from './in-dialog-offer.js';

/** Which side of a one-to-one session a request or a failure came from. */
export type Side = 'caller' | 'callee';

/**
 * One live session (S1, P4) as the session handler keeps it: the caller's dialog, the callee's
 * (none when a large message is being stored for an absent recipient), the MSRP switch or the
 * lone caller leg, and what the history row needs. `end` tears everything down once.
 */
export class OneToOneSession {
  callee: Dialog | null = null;
  /** what each dialog negotiated, for re-INVITE and UPDATE (null until it is negotiated) */
  callerMedia: LegMedia | null = null;
  calleeMedia: LegMedia | null = null;
  switch: MsrpSwitch | null = null;
  /** the caller's MSRP leg when there is no switch (stored large message) */
  loneLeg: MsrpSession | null = null;
  /** messages handled without a switch (stored large messages) */
  storedMessages = 0;
  /** their bytes (usage records) */
  storedBytes = 0;
  answeredAt = 0;
  /** the conversations this session is stored in (H1), when a side stores it */
  recording: SessionRecording | null = null;
  private ended = false;

  constructor(
    readonly kind: 'one-to-one' | 'large-message',
    readonly callerAor: string,
    readonly calleeAor: string,
    readonly caller: Dialog,
    readonly startedAt: number,
    private readonly stack: SipStack,
    private readonly history: SessionHistory,
    private readonly log: Logger,
    private readonly forget: (s: OneToOneSession) => void,
  ) {}

  get isEnded(): boolean {
    return this.ended;
  }

  /**
   * Ends the session: a BYE to every side that did not send one (RFC 3261 §15), with a Reason
   * (RFC 3326) when `why` says what the server saw, both MSRP legs closed, one history row written.
   */
  end(by: Side | 'server', reason: string, why?: { text: string; cause: number }): void {
    if (this.ended) return;
    this.ended = true;
    if (by !== 'caller' && this.answeredAt > 0) sendBye(this.stack, this.caller, why?.text, why?.cause);
    if (by !== 'callee' && this.callee !== null) sendBye(this.stack, this.callee, why?.text, why?.cause);
    this.switch?.close();
    this.loneLeg?.close();
    this.recording?.stop();
    this.forget(this);
    const endedAt = Date.now();
    this.history
      .record({
        kind: this.kind,
        caller: this.callerAor,
        callee: this.calleeAor,
        startedAt: this.startedAt,
        endedAt,
        durationMs: this.answeredAt === 0 ? 0 : endedAt - this.answeredAt,
        messageCount: (this.switch?.messages ?? 0) + this.storedMessages,
        // the caller's view: what they sent, what they received
        sentCount: (this.switch?.fromCaller ?? 0) + this.storedMessages,
        receivedCount: (this.switch?.messages ?? 0) - (this.switch?.fromCaller ?? 0),
        endReason: reason,
      }, (this.switch?.bytes ?? 0) + this.storedBytes)
      .catch((err: unknown) => this.log.warn({ err }, 'session history not written'));
  }
}
