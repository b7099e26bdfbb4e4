import type { MsrpSession, ReceivedMessage } from '../../msrp/msrp-session.js';

/** Messages per switch whose REPORT may still come back from the far end. */
const MAX_AWAITING_REPORTS = 256;

/** Where a message goes when the leg it is for has no connection (S8): the recipient's stored messages. */
export type Absent = (m: ReceivedMessage, to: 'caller' | 'callee') => Promise<void>;

/** A leg's bound MSRP connection closed without the session ending first (no BYE came). */
export type Lost = (side: 'caller' | 'callee') => void;

/**
 * The IM server's MSRP switch between the two legs of a one-to-one session (S1): each complete
 * message from one leg is sent, in order, on the other. The same Message-ID is used on both legs,
 * so that the far end's REPORT finds the message it reports on: a success report (RFC 4975
 * §7.1.2) is passed back to the sender when the far end sends one, a failure becomes the sender's
 * failure report. A message for a leg whose connection is gone goes to `absent` (deferred
 * storage), so nothing accepted is lost.
 */
export class MsrpSwitch {
  /** complete messages switched or stored, both ways (session history) */
  messages = 0;
  /** their body bytes (usage records) */
  bytes = 0;
  /** of those, the ones the caller sent (the rest the callee sent) */
  fromCaller = 0;
  /** told of each complete message taken from a leg, before it is switched (conversation storage, H1) */
  onComplete: ((m: ReceivedMessage, from: 'caller' | 'callee') => void) | null = null;
  /** called for each complete message taken from a leg to switch (metrics, wired in main.ts) */
  onSwitched: () => void = () => undefined;
  private readonly awaitingReport = new Map<string, ReceivedMessage>();
  private readonly everBound = new WeakSet<MsrpSession>();
  private readonly bindWaiters = new Map<MsrpSession, (() => void)[]>();

  constructor(
    readonly caller: MsrpSession,
    readonly callee: MsrpSession,
    private readonly absent: Absent,
    private readonly bindTimeoutMs: number,
    private readonly lost: Lost = () => undefined,
  ) {
    this.wire(caller, callee, 'callee');
    this.wire(callee, caller, 'caller');
  }

  private wire(from: MsrpSession, to: MsrpSession, toName: 'caller' | 'callee'): void {
    // the session cannot carry on without that leg (RFC 4975 §5.4 binds a session to one
    // connection); messages then on it fail with 408 and are stored below, as for an absent leg
    from.onDisconnect = () => this.lost(toName === 'callee' ? 'caller' : 'callee');
    from.onBound = () => {
      this.everBound.add(from);
      for (const w of this.bindWaiters.get(from) ?? []) w();
      this.bindWaiters.delete(from);
    };
    from.onMessage = (m) => void this.forward(m, to, toName);
    from.onReport = (r) => {
      const original = this.awaitingReport.get(r.messageId);
      if (original === undefined) return;
      this.awaitingReport.delete(r.messageId);
      original.report(r.status, r.comment);
    };
  }

  private async forward(m: ReceivedMessage, to: MsrpSession, toName: 'caller' | 'callee'): Promise<void> {
    this.messages++;
    this.bytes += m.body.length;
    if (toName === 'callee') this.fromCaller++;
    this.onComplete?.(m, toName === 'callee' ? 'caller' : 'callee');
    this.onSwitched();
    // the far end may not have connected yet (its a=setup:active connection follows its 200 OK)
    if (to.connection === null && !this.everBound.has(to) && !to.isClosed) await this.boundOrTimeout(to);
    if (to.connection === null || to.isClosed) {
      await this.absent(m, toName);
      return;
    }
    // the far end reports success when asked, and failure unless told not to (RFC 4975 §7.1.2)
    if (m.successReport || m.failureReport !== 'no') this.awaitReport(m);
    const outcome = await to.send(m.contentType, m.body, { successReport: m.successReport, messageId: m.messageId });
    if (outcome.status === 200) {
      // a message nobody asked a success report for needs no entry once it arrived
      if (!m.successReport && m.failureReport === 'partial') this.awaitingReport.delete(m.messageId);
      return;
    }
    this.awaitingReport.delete(m.messageId);
    // 408/481: the leg went away while the message was on it (S8): stored, not lost
    if (outcome.status === 408 || outcome.status === 481) {
      await this.absent(m, toName);
      return;
    }
    m.report(outcome.status, outcome.comment);
  }

  /**
   * Remembers a message the far end may still report on. Bounded: a peer that never reports
   * (most don't, for success) must not make the map grow; the oldest entry goes first.
   */
  private awaitReport(m: ReceivedMessage): void {
    if (this.awaitingReport.size >= MAX_AWAITING_REPORTS) this.awaitingReport.delete(this.awaitingReport.keys().next().value!);
    this.awaitingReport.set(m.messageId, m);
  }

  private boundOrTimeout(s: MsrpSession): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.bindTimeoutMs);
      const list = this.bindWaiters.get(s) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.bindWaiters.set(s, list);
    });
  }

  close(): void {
    this.caller.close();
    this.callee.close();
    for (const list of this.bindWaiters.values()) for (const w of list) w();
    this.bindWaiters.clear();
  }
}
