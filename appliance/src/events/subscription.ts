import type { Dialog } from '../sip/dialog/dialog.js';
import type { QueuedTimer } from '../sip/transaction/timer-queues.js';

export type SubscriptionStatus = 'pending' | 'active' | 'terminated';

/**
 * One subscription (RFC 6665 §4): the dialog its NOTIFYs go in, who asked, what they watch, and
 * the package's own data. The pacing fields belong to the framework (`SubscriptionService`).
 */
export class Subscription<D = unknown> {
  state: SubscriptionStatus;
  expiresAt = 0;
  /** when the last NOTIFY left (ms), for the package's rate limit */
  lastSentAt = 0;
  /** the first NOTIFY (full state) has left */
  fullSent = false;
  /** a NOTIFY body is being built */
  rendering = false;
  /** something changed since the last NOTIFY was built */
  dirty = false;
  /** the next NOTIFY must carry the full state */
  wantFull = false;
  /** the next NOTIFY must not wait for the rate limit (a change of subscription state) */
  urgent = false;
  /** on the SIP stack's timer queues, as the transactions' timers (one node timer per duration, not one per subscription) */
  paceTimer: QueuedTimer | null = null;
  expiryTimer: QueuedTimer | null = null;
  /** the CSeq up to which NOTIFYs may go before the store must hear of a higher one */
  seqCeiling = 0;
  /** the Event header's id parameter, echoed in every NOTIFY (RFC 6665 §8.2.1) */
  eventId: string | null = null;

  constructor(
    /** the package that serves it (events/event-package.ts `kind`) */
    readonly kind: string,
    readonly event: string,
    readonly dialog: Dialog,
    /** the subscriber's AOR, as authenticated */
    readonly subscriber: string,
    /** the watched resource: an AOR or a list URI */
    readonly resource: string,
    state: 'pending' | 'active',
    public data: D,
  ) {
    this.state = state;
  }

  get id(): string {
    return this.dialog.id;
  }

  /** Seconds left, as written in Subscription-State (RFC 6665 §4.1.3). */
  remaining(now = Date.now()): number {
    return Math.max(0, Math.round((this.expiresAt - now) / 1000));
  }
}
