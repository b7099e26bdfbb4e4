import type { SipStack } from '../sip/stack.js';
import { subscriptionState, type TerminationReason } from '../sip/event-header.js';
import type { Logger } from '../log.js';
import type { EventPackage, NotifyBody } from './event-package.js';
import type { Subscription } from './subscription.js';

/** NOTIFYs sent per turn of the event loop in a fan-out (see `flush`). */
const FANOUT_SLICE = 200;
/**
 * Pacing waits are rounded up to this many ms, so that they fall on a few of the stack's timer
 * queues (one per duration) rather than one node timer per subscription; a NOTIFY may leave up
 * to this much later than the package's least interval, never sooner.
 */
const PACE_STEP = 50;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyPackage = EventPackage<any>;

/** What the sender asks of the subscription service. */
export interface NotifyHooks {
  /** the subscription's 2xx has not left yet: its NOTIFYs wait */
  held(sub: Subscription): boolean;
  /** the subscription is over (NOTIFY failed, or its state could not be read) */
  gone(sub: Subscription, reason: TerminationReason): void;
  /** a NOTIFY is about to leave (the service keeps its CSeq ceiling) */
  sent(sub: Subscription): void;
}

/**
 * The NOTIFY side of the subscription framework (RFC 6665 §4.2.2): when each subscription's
 * next NOTIFY leaves (the package's rate), building its body at that moment, sending it in its
 * dialog, slicing fan-outs, and ending the subscription when a NOTIFY fails.
 */
export class NotifySender {
  constructor(
    private readonly stack: SipStack,
    private readonly packageOf: (kind: string) => AnyPackage | undefined,
    private readonly defaultInterval: number,
    private readonly log: Logger,
    private readonly hooks: NotifyHooks,
  ) {}

  /** Drops whatever is waiting (the process stops). */
  clear(): void {
    this.due.clear();
  }

  /**
   * Schedules the next NOTIFY. The body is built when it leaves, so changes that come faster
   * than the package's rate (RFC 6665 §7.2.6; RFC 3856 §6.4 for presence) fold into one NOTIFY
   * with the latest state. A change of subscription state (`urgent`) does not wait.
   */
  kick(sub: Subscription, how: { full: boolean; urgent: boolean }): void {
    if (sub.state === 'terminated') return;
    sub.dirty = true;
    sub.wantFull ||= how.full;
    sub.urgent ||= how.urgent;
    if (sub.rendering || this.hooks.held(sub)) return;
    const interval = this.packageOf(sub.kind)?.minNotifyInterval ?? this.defaultInterval;
    const wait = sub.urgent || !sub.fullSent ? 0 : sub.lastSentAt + interval - Date.now();
    if (wait <= 0) {
      if (sub.paceTimer) this.stack.timerQueues.stop(sub.paceTimer);
      sub.paceTimer = null;
      this.enqueue(sub);
      return;
    }
    if (sub.paceTimer) return;
    sub.paceTimer = this.stack.timerQueues.start(Math.ceil(wait / PACE_STEP) * PACE_STEP, () => {
      sub.paceTimer = null;
      this.enqueue(sub);
    });
  }

  /** NOTIFYs due now, sent in slices (see `flush`). */
  private readonly due = new Set<Subscription>();
  private flushing = false;

  private enqueue(sub: Subscription): void {
    this.due.add(sub);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(this.flush);
    }
  }

  /**
   * Sends the due NOTIFYs, FANOUT_SLICE per turn of the event loop: one PUBLISH to thousands of
   * watchers then never holds the loop for the whole fan-out, the 200s coming back are read
   * between slices (so their transactions end before any retransmission), and no receiver is
   * flooded with thousands of datagrams at once.
   */
  private readonly flush = (): void => {
    let n = 0;
    for (const sub of this.due) {
      this.due.delete(sub);
      void this.deliver(sub);
      if (++n === FANOUT_SLICE) break;
    }
    if (this.due.size > 0) setImmediate(this.flush);
    else this.flushing = false;
  };

  /**
   * Builds and sends the next NOTIFY. When its body cannot be built (the store failed), the
   * subscription cannot go on: it is ended with `deactivated` (RFC 6665 §4.2.2: subscribe again)
   * and the failure is logged, or thrown to the caller with `rethrow`.
   */
  async deliver(sub: Subscription, rethrow = false): Promise<void> {
    const pkg = this.packageOf(sub.kind);
    if (pkg === undefined || sub.state === 'terminated' || !sub.dirty) return;
    const full = sub.wantFull || !sub.fullSent;
    sub.rendering = true;
    sub.dirty = sub.wantFull = sub.urgent = false;
    let body: NotifyBody | null;
    try {
      body = await pkg.render(sub, full);
    } catch (err) {
      sub.rendering = false;
      if (!ended(sub)) {
        this.hooks.gone(sub, 'deactivated');
        this.send(sub, subscriptionState('terminated', { reason: 'deactivated' }), null);
      }
      if (rethrow) throw err;
      this.log.error({ err, event: sub.event }, 'NOTIFY body could not be built: subscription ended');
      return;
    }
    sub.rendering = false;
    // ended while its body was being built: the final NOTIFY has gone (or goes) instead
    if (ended(sub)) return;
    const state = subscriptionState(sub.state, { expires: sub.remaining() });
    this.send(sub, state, body);
    sub.fullSent ||= full;
    sub.lastSentAt = Date.now();
    if (sub.dirty) {
      sub.dirty = false;
      this.kick(sub, { full: false, urgent: false });
    }
  }

  send(sub: Subscription, state: string, body: NotifyBody | null): void {
    const headers: Record<string, string> = { Event: sub.eventId === null ? sub.event : `${sub.event};id=${sub.eventId}`, 'Subscription-State': state };
    if (this.stack.userAgent) headers['User-Agent'] = this.stack.userAgent;
    const notify = sub.dialog.request('NOTIFY', headers, body ?? undefined);
    this.hooks.sent(sub);
    this.stack.sendRequest(notify, sub.dialog.state.destination, {
      onFinal: (res) => {
        // RFC 6665 §4.2.2: a 481, or any other failure response, to a NOTIFY ends the subscription
        if (res.status >= 300) this.lost(sub);
      },
      onTimeout: () => this.lost(sub),
      onTransportError: () => this.lost(sub),
    });
  }

  /** The subscriber is gone (RFC 6665 §4.2.2: NOTIFY failed or timed out): no final NOTIFY. */
  private lost(sub: Subscription): void {
    if (sub.state === 'terminated') return;
    this.log.debug({ event: sub.event, resource: sub.resource }, 'subscription ended: NOTIFY failed');
    this.hooks.gone(sub, 'timeout');
  }
}

function ended(sub: Subscription): boolean {
  return sub.state === 'terminated';
}
