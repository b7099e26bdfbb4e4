import { performance } from 'node:perf_hooks';
import type { SipRequest } from './message/message.js';
import { nonceOf, type RawHead } from './message/raw-head.js';

export interface OverloadOptions {
  /** ms requests may wait in the receive queue before new work starts being refused */
  maxQueueDelay: number;
  /** seconds a refused client is asked to wait (Retry-After) */
  retryAfter: number;
  /** ms of queue delay past which new requests are stale (their client has retransmitted): T1 */
  staleAfter: number;
}

/** How often the admitted share is adjusted (the probe that measures the queue runs as often). */
const ADJUST_MS = 50;
/** The smallest share of new work admitted, so the controller always sees whether capacity came back. */
const MIN_SHARE = 0.02;
/** The longest wait after a cut before the next one (a queue delay beyond this is cut again anyway). */
const MAX_HOLD_MS = 1000;
/**
 * The least queue delay that shedding holds the queue to (unless `maxQueueDelay` itself is less):
 * a delay this small is a scavenge or a late timer on a busy machine, not a queue. Held to 2.5 ms
 * (half of a 5 ms bound), a process sharing its cores with other work was cut again and again by
 * that noise, and took longer than 10 s to admit everything again after a flood (CI, 2026-12-01).
 */
const NOISE_MS = 10;

/** How long the branch of a request dropped as stale is remembered (two generations of this): past T2, the longest retransmission interval (RFC 3261 §17.1.2.2). */
const DROP_MEMORY_MS = 4000;
/** Branches remembered at most per generation; beyond it stale requests are answered instead. */
const MAX_DROPPED = 100_000;

/** What the guard does with a request: serve it, answer it 503, or drop it unanswered (see `stale`). */
export type Verdict = 'admit' | 'refuse' | 'drop';

/**
 * Overload control for one process (RFC 3261 §21.5.4 503 + Retry-After; RFC 7339's idea of
 * shedding at the entry, before a request costs much).
 *
 * The measure is how long requests wait in the receive queue before we read them (`queueDelay`,
 * from the UDP transport's self-probe), or the event loop's lag when that is longer. The lag
 * alone would not do: under a UDP flood the loop's timers stay punctual while the backlog grows,
 * invisible, in the socket's receive buffer; but work that arrives over TCP, TLS or WebSocket
 * (or anything else that holds the loop) shows there and not in the UDP queue.
 *
 * What is refused is new work: requests that are not REGISTER, ACK, CANCEL or inside a dialog and
 * carry no credentials for a nonce we issued recently. That is the cheapest work to drop, and the
 * rest finishes what was begun: a call with digest is two transactions (the request, our 407;
 * the request with credentials, relayed), and refusing its second half would throw away the
 * challenge already paid for. "Recently" (64·T1, a client transaction's lifetime, RFC 3261
 * §17.1.2.2) and "ours" (held in the nonce table) keep a made-up or long-cached Authorization header from
 * passing a flood through. Only a share of new work is admitted, set by a feedback loop every
 * 50 ms: while the queue delay stays over `maxQueueDelay` the share is cut in proportion to the
 * overshoot (by a fifth at least), each cut waiting for the one before to show in the queue delay;
 * once shedding, the bound is `heldDelay`, half of `maxQueueDelay` (hysteresis, see `adjust`);
 * while the delay is under that the share grows back by steps (additive increase,
 * multiplicative decrease), so admissions settle where the process keeps up, instead of flapping
 * between all and nothing. When even the smallest share leaves the queue growing (4 × `maxQueueDelay`),
 * REGISTERs without credentials are refused too.
 *
 * Retransmissions of accepted requests are absorbed by their transactions before the guard is
 * asked, and a refused request gets a final response, so UDP clients stop retransmitting it:
 * refusing never feeds a retransmission storm.
 */
export class OverloadGuard {
  private share = 1;
  private lastAdjust = 0;
  /** consecutive adjustments that found the queue too slow */
  private slow = 0;
  /** until when a cut is waited for to show in the queue delay, and the delay it was made at */
  private holdUntil = 0;
  private delayAtCut = 0;
  /** the event loop's lag read at the last adjustment (ms) */
  private lag = 0;
  /** when an adjustment last found new work being refused (ms, `clock`) */
  private lastShedAt = -Infinity;
  /** the queue delay held to once shedding: half of `maxQueueDelay`, not under NOISE_MS unless it is */
  private readonly heldDelay: number;
  /** branches of requests dropped as stale, this generation and the one before (see `stale`) */
  private dropped = new Set<string>();
  private droppedBefore = new Set<string>();
  private droppedSince = 0;
  /** requests refused since start */
  readonly refused = { newWork: 0, registers: 0, dropped: 0 };
  /**
   * Whether a nonce is ours (held in the nonce table) and was issued at most `withinMs` ago: the
   * authenticator's check, set once it exists. Unset, any credentials count as finishing work.
   */
  nonceIssuedWithin: ((nonce: string, withinMs: number) => boolean) | null = null;

  /**
   * @param queueDelay ms the receive queue holds requests now (the UDP transport's probe)
   * @param clock ms, monotonic
   * @param loopLag ms the event loop was late since the previous call (each call starts a new window)
   */
  constructor(
    private readonly opts: OverloadOptions,
    private readonly queueDelay: () => number,
    private readonly clock: () => number = () => performance.now(),
    private readonly loopLag: () => number = () => 0,
  ) {
    const max = opts.maxQueueDelay;
    this.heldDelay = Math.max(max / 2, Math.min(max, NOISE_MS));
  }

  get state(): { admittedShare: number; queueDelayMs: number; loopLagMs: number; refused: { newWork: number; registers: number; dropped: number } } {
    return { admittedShare: Math.round(this.share * 1000) / 1000, queueDelayMs: Math.round(this.queueDelay()), loopLagMs: Math.round(this.lag), refused: { ...this.refused } };
  }

  get retryAfter(): number {
    return this.opts.retryAfter;
  }

  private adjust(): void {
    const now = this.clock();
    if (now - this.lastAdjust < ADJUST_MS) return;
    // shedding lasted until this adjustment, whatever it decides (`shedWithin` reads a share
    // below 1 itself, so this only needs to be right once it is back at 1)
    if (this.share < 1) this.lastShedAt = now;
    this.lastAdjust = now;
    this.lag = this.loopLag();
    const delay = Math.max(this.queueDelay(), this.lag);
    // Two bounds (hysteresis): shedding starts when the delay passes `maxQueueDelay`, and once it
    // has started the queue is held to half of that, where the share also grows back. Held at the
    // bound itself, its swings around it (each cut shows only a queue-length later) reached three
    // times the bound, and a digest call waits in the queue twice: past T1 in all, clients
    // retransmitted (about 4,000 copies in a 10 s step at 3x), each copy more to read and answer.
    // Only the entry bound applies to a process that keeps up, so a burst under full load does not
    // start shedding any sooner; and with no band between cutting and growing, shedding ends as
    // soon as the queue is under half the bound.
    const held = this.heldDelay;
    const bound = this.share < 1 ? held : this.opts.maxQueueDelay;
    this.slow = delay > bound ? this.slow + 1 : 0;
    // twice in a row (100 ms): one pause (a major GC) is not overload, a queue that stays is.
    // The cut is as deep as the overshoot (a queue at 5 × the bound keeps a fifth at most): a
    // flood at three times capacity fills the queue faster than a fixed step could follow.
    //
    // A cut shows in the queue delay only once the requests queued before it have been read, about
    // `delay` later: cutting again every 50 ms meanwhile took the share down to its floor at every
    // overload (measured: 2% admitted at 1.5x the capacity, the core then mostly refusing), and the
    // queue ran empty. So after a cut the next waits that long, unless the queue still grows
    // by half again (the cut was far too shallow).
    if (this.slow >= 2) {
      if (now >= this.holdUntil || delay > 1.5 * this.delayAtCut) {
        this.share = Math.max(MIN_SHARE, this.share * Math.min(0.8, bound / delay));
        this.holdUntil = now + Math.min(Math.max(2 * ADJUST_MS, delay), MAX_HOLD_MS);
        this.delayAtCut = delay;
      }
    }
    // growing back: quickly while the queue is near empty, carefully near the bound it is held to
    // (where cutting starts: no band where the share neither grows nor is cut)
    else if (delay < held / 2) this.share = Math.min(1, this.share + 0.1);
    else if (delay < held) this.share = Math.min(1, this.share + 0.03);
  }

  /**
   * Whether new work was refused at some time in the last `ms`: then our receive queue was long,
   * or overflowing, and an answer that did not come may have been lost in it.
   */
  shedWithin(ms: number): boolean {
    return this.share < 1 || this.clock() - this.lastShedAt <= ms;
  }

  /**
   * Whether new work should be dropped unanswered: the queue delay is already past the
   * client's first retransmission interval (T1, RFC 3261 §17.1.2.2 Timer E), so the client has
   * sent this request again and the copy queued behind will be answered; answering this one too
   * costs a send and saves nothing. No retransmission comes of dropping it: it has come already.
   *
   * Once per request (by its Via branch): the copy behind waited as long, and dropping it too
   * would drop every copy while the queue stays past T1, each drop bringing the client's next
   * retransmission (T1, 2·T1, 4·T1 …, Timer F): a retransmission storm made by the guard. The next
   * copy gets an answer (a 503, or the request is served), which stops the client's timers.
   * Only new work: requests that finish something always get their answer.
   */
  private stale(branch: string | null): boolean {
    if (branch === null || this.queueDelay() <= this.opts.staleAfter) return false;
    const now = this.clock();
    if (now - this.droppedSince >= DROP_MEMORY_MS) {
      this.droppedBefore = this.dropped;
      this.dropped = new Set();
      this.droppedSince = now;
    }
    if (this.dropped.has(branch) || this.droppedBefore.has(branch) || this.dropped.size >= MAX_DROPPED) return false;
    this.dropped.add(branch);
    this.refused.dropped++;
    return true;
  }

  /**
   * The one decision for a request read from its raw header section while shedding (UDP): admit,
   * refuse (503) or drop unanswered (new work gone stale in the queue, see `stale`; `branch`
   * is its top Via's).
   */
  judge(head: RawHead, branch: string | null): Verdict {
    this.adjust();
    if (this.share >= 1) return 'admit';
    const m = head.method;
    if (this.finishes(m, head.credentials, head.nonce, head.inDialog)) return 'admit';
    if (m !== 'REGISTER' && this.stale(branch)) return 'drop';
    return this.decideNew(m) ? 'admit' : 'refuse';
  }

  /** Whether anything is being refused now (the cheap check before looking at a request). */
  get shedding(): boolean {
    this.adjust();
    return this.share < 1;
  }

  /** Whether a new request (not a retransmission) may be processed now. */
  admits(req: SipRequest): boolean {
    this.adjust();
    if (this.share >= 1) return true;
    const credentials = req.headers.get('proxy-authorization') ?? req.headers.get('authorization');
    const nonce = credentials === undefined ? null : nonceOf(credentials);
    return this.finishes(req.method, credentials !== undefined, nonce, req.toTag !== undefined) || this.decideNew(req.method);
  }

  /**
   * Work that finishes something already begun, never refused: ACK and CANCEL, requests inside a
   * dialog, and the second half of a call (credentials for a nonce we issued within 64·T1).
   */
  private finishes(m: string, credentials: boolean, nonce: string | null, inDialog: boolean): boolean {
    if (m === 'ACK' || m === 'CANCEL' || inDialog) return true;
    if (!credentials) return false;
    const check = this.nonceIssuedWithin;
    return check === null || (nonce !== null && check(nonce, 64 * this.opts.staleAfter));
  }

  /** New work (or a REGISTER): admitted by the share, REGISTERs unless even the smallest share leaves the queue growing. */
  private decideNew(m: string): boolean {
    if (m === 'REGISTER') {
      if (this.share > MIN_SHARE || this.queueDelay() < 4 * this.opts.maxQueueDelay) return true;
      this.refused.registers++;
      return false;
    }
    if (this.share >= 1 || Math.random() < this.share) return true;
    this.refused.newWork++;
    return false;
  }
}
