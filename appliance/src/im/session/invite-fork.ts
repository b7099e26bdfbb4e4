import type { SipResponse } from '../../sip/message/message.js';
import type { SipStack } from '../../sip/stack.js';
import type { ClientTransaction } from '../../sip/transaction/client-transaction.js';
import type { Branch } from '../../core/forker.js';

/** How forking an INVITE ended. */
export type InviteOutcome =
  | { answered: SipResponse; branch: Branch }
  | {
      answered?: undefined;
      /** the best final response (RFC 3261 §16.7 step 6), or null when none came */
      best: SipResponse | null;
      /** every branch failed as "not reachable now" (408, 480, 503, timeout, transport error) */
      unavailable: boolean;
      /** the caller cancelled, or nobody answered in the ring time */
      cancelled: 'caller' | 'timeout' | false;
    };

const UNAVAILABLE = new Set([408, 480, 503]);

/**
 * An INVITE forked to every device of the callee (RFC 3261 §16.7, as a UAC per branch since we are
 * a B2BUA): the first 2xx wins and the other branches are CANCELled (§9.1); a 2xx that arrives
 * after the winner is ACKed and ended with a BYE (§13.2.2.4); nobody answering within the ring
 * time is a cancel too. Provisional responses are reported so the caller hears ringing.
 */
export class InviteFork {
  private readonly txs = new Map<ClientTransaction, Branch>();
  private settled = false;
  private cancelled: 'caller' | 'timeout' | false = false;
  private timer: NodeJS.Timeout | null = null;
  private pending = 0;
  private best: SipResponse | null = null;
  private unavailable = true;
  private resolve: (o: InviteOutcome) => void = () => undefined;
  private winner: ClientTransaction | null = null;
  private readonly cancelSent = new Set<ClientTransaction>();

  constructor(
    private readonly stack: SipStack,
    private readonly onProvisional: (res: SipResponse) => void,
    /** ACK (and, when `bye`, BYE for a losing 2xx) are built by the session, which knows the dialog */
    private readonly ackAndBye: (res: SipResponse, branch: Branch, bye: boolean) => void,
  ) {}

  run(branches: Branch[], ringTimeoutMs: number): Promise<InviteOutcome> {
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.pending = branches.length;
      if (branches.length === 0) return this.finish();
      this.timer = setTimeout(() => this.cancel('timeout'), ringTimeoutMs);
      for (const b of branches) {
        const tx = this.stack.sendRequest(b.request, b.destination, {
          onProvisional: (res) => {
            // RFC 3261 §9.1: a branch that had no provisional response when the fork settled is
            // CANCELled now that it has one
            if (this.settled) return this.cancelBranch(tx);
            if (res.status > 100) this.onProvisional(res);
          },
          onFinal: (res) => this.onFinal(tx, res),
          onTimeout: () => this.failed(null),
          onTransportError: () => this.failed(null),
        });
        this.txs.set(tx, b);
      }
    });
  }

  /** The caller gave up (CANCEL) or the ring time passed: every pending branch is CANCELled. */
  cancel(why: 'caller' | 'timeout'): void {
    if (this.settled) return;
    this.cancelled = why;
    for (const tx of this.txs.keys()) if (tx.state === 'proceeding') this.cancelBranch(tx);
    // the branches answer 487 (or nothing): settle now, the caller is not kept waiting
    this.finish();
  }

  private onFinal(tx: ClientTransaction, res: SipResponse): void {
    const branch = this.txs.get(tx)!;
    if (res.status >= 200 && res.status < 300) {
      // RFC 3261 §13.2.2.4: each retransmission of the winner's 2xx (it has not seen our ACK yet)
      // gets the ACK again, and the dialog goes on
      if (tx === this.winner) {
        this.ackAndBye(res, branch, false);
        return;
      }
      if (this.settled) {
        // a second device answered too, or one answered after a cancel: it gets its ACK and a BYE
        this.ackAndBye(res, branch, true);
        return;
      }
      this.settled = true;
      this.clearTimer();
      this.winner = tx;
      for (const other of this.txs.keys()) if (other !== tx && other.state === 'proceeding') this.cancelBranch(other);
      this.resolve({ answered: res, branch });
      return;
    }
    this.failed(res);
  }

  /** CANCELs one branch once (RFC 3261 §9.1: only after it has sent a provisional response). */
  private cancelBranch(tx: ClientTransaction): void {
    if (tx === this.winner || this.cancelSent.has(tx) || tx.state !== 'proceeding') return;
    this.cancelSent.add(tx);
    this.stack.cancel(tx, { onFinal: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined });
  }

  private failed(res: SipResponse | null): void {
    if (res !== null) {
      if (!UNAVAILABLE.has(res.status)) this.unavailable = false;
      if (this.best === null || rank(res.status) < rank(this.best.status)) this.best = res;
    }
    if (--this.pending <= 0) this.finish();
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.clearTimer();
    this.resolve({ best: this.best, unavailable: this.unavailable, cancelled: this.cancelled });
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** RFC 3261 §16.7 step 6: 6xx first, then 4xx/5xx ordered, with the unhelpful 408 and 503 last. */
function rank(status: number): number {
  if (status >= 600) return 0;
  if (status === 408 || status === 503) return 900;
  return status;
}
