import { performance } from 'node:perf_hooks';
import type { SipRequest } from './message/message.js';
import { nonceOf, type RawHead } from './message/raw-head.js';
import type { AdmissionGate } from './transport/udp.js';

/** What /health shows of overload control (OverloadGuard.state). */
export interface OverloadState {
  admittedShare: number;
  admitRate: number | null;
  queueDelayMs: number;
  receiveBufferFill: number;
  loopLagMs: number;
  refused: { newWork: number; registers: number; dropped: number };
  /** the native socket's challenges owed an answer and the most it lets be owed (null: that bound does not apply) */
  challengesOwed: { owed: number; limit: number } | null;
}

export interface OverloadOptions {
  /** ms requests may wait in the receive queue before new work starts being refused */
  maxQueueDelay: number;
  /** seconds a refused client is asked to wait (Retry-After) */
  retryAfter: number;
  /** ms of queue delay past which new requests are stale (their client has retransmitted): T1 */
  staleAfter: number;
}

/** How often the admitted rate is adjusted (the probe that measures the queue runs as often). */
const ADJUST_MS = 50;
/**
 * The smallest admitted rate, as a share of the rate new work was read at when shedding began (and
 * never under MIN_RATE): the controller always sees whether capacity came back.
 */
const MIN_SHARE = 0.02;
const MIN_RATE = 10;
/** The first cut admits at most this share of the rate new work was read at while the queue grew. */
const FIRST_CUT = 0.5;
/**
 * Each adjustment with a short queue raises the admitted rate by at least this share of the rate
 * shedding began at (half as much near the held bound) ...
 */
const GROW_STEP = 0.01;
/** ... or by this share of the admitted rate itself, whichever is more. */
const GROW_SHARE = 0.02;
/** ... or by this share of itself for each share of the last window the event loop sat idle, if more. */
const IDLE_GAIN = 0.5;
/** A cut while shedding keeps this share of the admitted rate (0.7 while the delay is over 4 times its bound). */
const CUT = 0.85;
/** A queue delay that fell under this share of the one 50 ms before is draining: no further cut. */
const DRAINING = 0.9;
/**
 * The share of a loop turn the native socket gives held new work, once everything that had come was
 * read and what finishes something was served (ms): the turn's length, and so the wait of what
 * comes during it, without new work starving between turns (see udp_gate.c, admit_held).
 */
const TURN_BUDGET_MS = 4;
/** ms with no new work refused that end shedding. */
const CALM_TO_END_MS = 500;
/** A burst the admission bucket lets through at once: this many ms of the admitted rate. */
const BURST_MS = 20;
const MIN_BURST = 5;
/** The longest wait after a cut before the next one (a queue delay beyond this is cut again anyway). */
const MAX_HOLD_MS = 1000;
/**
 * The queue delay shedding holds the queue to (`maxQueueDelay` if that is less). Short, because a
 * call's state lives as long as it waits in the queue, twice: held to 50 ms, it outlived the young
 * generation's collections (20 ms each instead of 2, session 18). Not shorter: held to 10 ms, cuts
 * came on noise (a scavenge, a late timer) and the core idled while new work was refused.
 */
const HELD_MS = 20;

/** The share of the UDP receive buffer that, held unread, counts as overload whatever the queue delay read (see `adjust`). */
const FULL_BUFFER = 0.5;
/**
 * A receive buffer that filled by FILLING_STEP of itself over each of the last two 50 ms windows,
 * with the event loop on time, and is now FILLING_FROM full, is a flood arriving faster than the
 * process reads: shedding starts there, without waiting for half full (see `adjust`). The fill is
 * read only while the probe is past the held bound (20 ms) and counts as 0 otherwise, so the
 * first window read after one that was not counts its whole fill as the rise.
 */
const FILLING_FROM = 0.2;
const FILLING_STEP = 0.08;

/** How long the branch of a request dropped as stale is remembered (two generations of this): past T2, the longest retransmission interval (RFC 3261 §17.1.2.2). */
const DROP_MEMORY_MS = 4000;
/** Branches remembered at most per generation; beyond it stale requests are answered instead. */
const MAX_DROPPED = 100_000;

/**
 * The admission bucket's depth at a rate: BURST_MS of it, and a few at least (at the floor, 10/s,
 * a single token made a client sending ten a second be refused every time it sent one early).
 */
function burstOf(limit: number): number {
  return Math.max(MIN_BURST, (limit * BURST_MS) / 1000);
}

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
 * (or anything else that holds the loop) shows there and not in the UDP queue. A third input
 * is how full the kernel holds the UDP socket's receive buffer (`bufferFill`): the probe learns of
 * a growing queue only as it reads it, and half full, with the probe past the held bound, counts
 * as twice the entry bound; a fifth full and filling by 8% of itself in each of two 50 ms
 * windows, the loop on time, starts shedding too (a flood, caught before half full).
 *
 * What is refused is new work: requests that are not REGISTER, ACK, CANCEL or inside a dialog and
 * carry no credentials for a nonce we issued recently. That is the cheapest work to drop, and the
 * rest finishes what was begun: a call with digest is two transactions (the request, our 407;
 * the request with credentials, relayed), and refusing its second half would throw away the
 * challenge already paid for. "Recently" (64·T1, a client transaction's lifetime, RFC 3261
 * §17.1.2.2) and "ours" (held in the nonce table) keep a made-up or long-cached Authorization header from
 * passing a flood through.
 *
 * Over UDP on the native socket, new work is held there and starts as the process gets through
 * what finishes work begun (see `useGate`). Everywhere else (TCP, TLS, WebSocket, node's dgram),
 * new work is admitted at a rate (a token bucket), set by a feedback loop every 50 ms; RFC 7415's
 * rate-based control, with the rate found by the queue delay rather than signalled by a peer.
 * A rate, not a share of what is read: while a backlog drains, new work is read far faster than it
 * is offered, and a share of it let in a burst of calls just as the queue had emptied (measured:
 * the share swung between 2% and 68% every half second, the queue between 0 and 300 ms, and
 * clients retransmitted; goodput at 2× the capacity fell to a third). When the queue delay passes
 * `maxQueueDelay` twice in a row (or the receive buffer is half full), the rate
 * starts at half of what new work was served at (over the last 100 ms, or the last half second if
 * more: what the process got through before it fell behind) or less, in proportion to the
 * overshoot. Once shedding, the queue is held to `heldDelay`, 20 ms (hysteresis, see `adjust`):
 * over it the rate is cut by 15%, each cut waiting for the one before to show and for a queue that
 * is no longer draining; under it the rate grows back, quickly to near the rate the last run of
 * cuts began at and by steps past it, larger the longer the event loop sat idle, so admissions
 * settle where the process keeps up. Shedding ends once nothing has been refused here for 500 ms. When
 * even the smallest rate leaves the queue growing (4 × `maxQueueDelay`), REGISTERs without
 * credentials are refused too.
 *
 * Retransmissions of accepted requests are absorbed by their transactions before the guard is
 * asked, and a refused request gets a final response, so UDP clients stop retransmitting it:
 * refusing never feeds a retransmission storm.
 */
export class OverloadGuard {
  /** new work admitted per second while shedding (Infinity: everything is admitted) */
  private limit = Infinity;
  /** the admission bucket: tokens left, and when it was last filled (ms, `clock`) */
  private tokens = 0;
  private tokensAt = 0;
  /** new work per second read (and served) just before shedding began: what the steps are shares of */
  private scale = 0;
  /** new work read since the last adjustment (`noteNewWork`), and its rate per second, smoothed */
  private newSinceAdjust = 0;
  private readRate = 0;
  /** the same over about the last half second (the stack's count smoothed by a tenth a window) */
  private servedRate = 0;
  /** new work judged and admitted while shedding, since the last adjustment, and the share admitted over the last window */
  private judgedSinceAdjust = 0;
  private admittedSinceAdjust = 0;
  private share = 1;
  private lastAdjust = 0;
  /** the admitted rate the first cut of the last run of cuts was made at, and the delay the last adjustment read */
  private rateAtCut = 0;
  /** whether the rate grew (the queue under the held bound) since the last cut: the next cut starts a new run */
  private grewSinceCut = false;
  private lastDelay = 0;
  /** since when no new work has been refused (ms, `clock`, the start of the first such window; null: not so now) */
  private calmSince: number | null = null;
  /** a cut found the rate at its floor already: only then are REGISTERs refused */
  private floored = false;
  private refusedSinceAdjust = 0;
  /** consecutive adjustments that found the queue too slow */
  private slow = 0;
  /** until when a cut is waited for to show in the queue delay, and the delay it was made at */
  private holdUntil = 0;
  private delayAtCut = 0;
  /** when the last cut (or the start of shedding) was made (ms, `clock`) */
  private lastCutAt = -Infinity;
  /** the receive buffer's fill the last adjustment read (0 when the probe was under the held bound and it was not asked) */
  private lastFill = 0;
  /** consecutive adjustments that found the buffer filling fast with the loop on time (see `adjust`) */
  private filling = 0;
  /** the event loop's lag read at the last adjustment (ms) */
  private lag = 0;
  /** when an adjustment last found the guard shedding (ms, `clock`) */
  private lastShedAt = -Infinity;
  /** the queue delay held to once shedding: HELD_MS, or `maxQueueDelay` if less */
  private readonly heldDelay: number;
  /** branches of requests dropped as stale, this generation and the one before (see `stale`) */
  private dropped = new Set<string>();
  private droppedBefore = new Set<string>();
  private droppedSince = 0;
  /** requests refused since start */
  readonly refused = { newWork: 0, registers: 0, dropped: 0 };
  /**
   * The native UDP socket, when it holds UDP new work (`useGate`): it admits and refuses that
   * itself. Its counts are kept apart from ours (the rate's feedback loop is about what is judged
   * here) and shown beside them: /health's share and rate, the refusals, `shedWithin`.
   */
  private gate: AdmissionGate | null = null;
  private readonly gateCounts = new Float64Array(7);
  /** the socket's challenges owed an answer and the most it lets be owed, when it last told (null: not bounded) */
  private gateOwed: OverloadState['challengesOwed'] = null;
  /** new work the socket admitted and refused since the last adjustment */
  private gateAdmittedSinceAdjust = 0;
  private gateRefusedSinceAdjust = 0;
  /** over the last window: whether the socket refused any, what it admitted per second, and its admitted share */
  private gateRefused = false;
  private gateAdmitRate = 0;
  private gateShare = 1;
  /** new work this guard judged in the last adjustment window */
  private judgedLastWindow = 0;
  private ticker: NodeJS.Timeout | null = null;
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
    /** the share of the time since the previous call the event loop sat idle (each call starts a new window) */
    private readonly loopIdle: () => number = () => 0,
    /** the share of the UDP receive buffer the kernel holds unread (0–1; asked of the kernel at each call) */
    private readonly bufferFill: () => number = () => 0,
  ) {
    this.heldDelay = Math.min(opts.maxQueueDelay, HELD_MS);
  }

  /**
   * What /health shows: the share of new work admitted over the last adjustment window (1 while
   * not shedding, never 1 while shedding), the rate new work is admitted at (null: all of it; the
   * guard's rate while it is set, else what the native socket admitted per second while it
   * refused), the queue delay, how full the receive buffer is, the loop's lag, what was refused
   * since start, and the native socket's challenges owed an answer against the most it lets be
   * owed before held new work waits (null while that bound does not apply: not holding, or no
   * challenge sent lately).
   */
  get state(): OverloadState {
    // brought up to date first: adjustments otherwise happen as requests come, and a process
    // nothing reaches any more would show the last flood's state for ever; and the socket's
    // refusals counted up to now, not to the last adjustment
    this.adjust();
    this.drainGate();
    // the guard's own (what it judges) while its rate is set and it judged something lately; else
    // the socket's, while it refuses (a rate nothing reaches says nothing of what is admitted)
    const own = this.limit < Infinity && (this.judgedLastWindow > 0 || !this.gateRefused);
    const shedding = this.limit < Infinity || this.gateRefused;
    const share = own ? this.share : this.gateShare;
    return {
      admittedShare: shedding ? Math.min(0.999, Math.round(share * 1000) / 1000) : 1,
      admitRate: own ? Math.round(this.limit) : shedding ? Math.round(this.gateAdmitRate) : null,
      queueDelayMs: Math.round(this.queueDelay()),
      receiveBufferFill: Math.round(this.bufferFill() * 100) / 100,
      loopLagMs: Math.round(this.lag),
      refused: { ...this.refused },
      challengesOwed: this.gateOwed,
    };
  }

  /** Counts a request of new work read and served (the stack tells): the rate shedding starts from. */
  noteNewWork(): void {
    this.newSinceAdjust++;
  }

  get retryAfter(): number {
    return this.opts.retryAfter;
  }

  /**
   * Has the native UDP socket hold new work back while what finishes work begun goes first, and
   * answer 503 itself to what waited past `maxQueueDelay` (udp_gate.c, admit_held). New work
   * starts there as the process gets through the rest, turn by turn: no rate is estimated for it.
   * The rate (this guard's feedback loop) set it before session 28 and could only learn what a call
   * costs from its second half, which comes back late when clients are busy: at 3× the sustained
   * rate it swung in a 1.5 s sawtooth and lost datagrams in a full receive buffer at each peak.
   * Holding, goodput at 2× and 3× rose by 11–12%, and 0–37 datagrams a step were lost in the
   * receive buffer instead of 25–5,090 (test/bench/README.md, session 28).
   * The rate still applies to what this guard judges itself (TCP, TLS, WebSocket; a line the socket
   * does not read); the socket's refusals show as shedding (/health, `shedWithin`). Adjustments
   * then run on a timer of their own (they otherwise run as requests are judged).
   */
  useGate(gate: AdmissionGate): void {
    this.gate = gate;
    // held at most as long as a request may wait in the queue before new work is refused (a
    // millisecond at least: 0 would turn holding off)
    gate.defer(Math.max(this.opts.maxQueueDelay, 1), TURN_BUDGET_MS);
    this.ticker ??= setInterval(() => this.adjust(), ADJUST_MS);
    this.ticker.unref();
  }

  /** Stops the timer `useGate` started. */
  stop(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
  }

  private adjust(): void {
    const now = this.clock();
    if (now - this.lastAdjust < ADJUST_MS) return;
    this.drainGate();
    this.adjustWindow(now);
  }

  /** What the socket admitted and refused since it was last asked (its refusals count in /health's at once). */
  private drainGate(): void {
    const gate = this.gate;
    if (gate === null) return;
    const counts = this.gateCounts;
    // a binary from before the owed figures leaves them as they are: not bounded, then
    counts.fill(-1, 4);
    gate.drain(counts);
    this.refused.newWork += counts[2];
    this.gateAdmittedSinceAdjust += counts[1];
    this.gateRefusedSinceAdjust += counts[2];
    this.gateOwed = counts[4] < 0 ? null : { owed: counts[4], limit: Math.round(counts[5]) };
    // new work the socket challenged itself is new work read and served, as `noteNewWork` counts it
    if (counts[6] > 0) this.newSinceAdjust += counts[6];
  }

  private adjustWindow(now: number): void {
    const since = now - this.lastAdjust;
    const windowStart = this.lastAdjust;
    this.lastAdjust = now;
    const shedding = this.limit < Infinity;
    // the socket refusing what it held counts as shedding too (it answers for UDP, see `useGate`)
    this.gateRefused = this.gateRefusedSinceAdjust > 0;
    this.gateAdmitRate = (1000 * this.gateAdmittedSinceAdjust) / Math.max(since, 1);
    this.gateShare = this.gateRefused ? this.gateAdmittedSinceAdjust / (this.gateAdmittedSinceAdjust + this.gateRefusedSinceAdjust) : 1;
    this.gateAdmittedSinceAdjust = 0;
    this.gateRefusedSinceAdjust = 0;
    // shedding lasted until this adjustment, whatever it decides (`shedWithin` reads the limit
    // itself, so this only needs to be right once shedding has ended)
    if (shedding || this.gateRefused) this.lastShedAt = now;
    // the rate new work was read at, over about the last 100 ms
    // (a longer gap counts as four windows: a rate read over it would say little of now)
    const rate = (1000 * this.newSinceAdjust) / Math.min(since, 4 * ADJUST_MS);
    this.readRate = 0.5 * this.readRate + 0.5 * rate;
    this.servedRate = 0.9 * this.servedRate + 0.1 * rate;
    this.newSinceAdjust = 0;
    if (this.judgedSinceAdjust > 0) this.share = this.admittedSinceAdjust / this.judgedSinceAdjust;
    this.judgedLastWindow = this.judgedSinceAdjust;
    this.judgedSinceAdjust = 0;
    this.admittedSinceAdjust = 0;
    const refused = this.refusedSinceAdjust;
    this.refusedSinceAdjust = 0;
    this.lag = this.loopLag();
    const idle = this.loopIdle();
    // A receive buffer half full is about to drop datagrams, whatever the probe has read yet: it
    // learns of a growing queue only as it reads it (under a flood at 3× what the process serves,
    // the oldest probe not yet read is a third as old as the wait of a request arriving now), and
    // the buffer overflowed before the probe said 100 ms (13,000 datagrams lost in a 3× step's
    // first second, each back as a retransmission 500 ms later). Counted as twice the entry bound:
    // shedding starts, or is cut deeper.
    // Only with the probe past the held bound too: where net.core.rmem_max is left at Debian's
    // default the buffer is 416 KiB, half of it ~90 datagrams, and a burst or a scavenge fills
    // it without any overload.
    // (asked of the kernel only then: one read of /proc/net/udp)
    const probed = this.queueDelay();
    const fill = probed > this.heldDelay ? this.bufferFill() : 0;
    const full = fill >= FULL_BUFFER;
    const fillBefore = this.lastFill;
    this.lastFill = fill;
    const delay = Math.max(probed, this.lag, full ? 2 * this.opts.maxQueueDelay : 0);
    // the end: nothing refused for 500 ms (the rate is past what is offered, or nothing comes any
    // more), timed from the start of the first such window: after a quiet spell one adjustment
    // ends it. The queue delay is not asked: a rate that refuses nothing holds nothing back, and a
    // queue that stays long starts shedding again by the entry bound. Asked to be within the held
    // bound too, a process on a machine shared with other work (CI, a 5 ms bound) stayed shedding
    // for over 10 s after a flood, its probe's noise resetting the wait (2026-12-02).
    if (shedding && refused === 0) {
      this.calmSince ??= windowStart;
      if (now - this.calmSince >= CALM_TO_END_MS) {
        // nothing was refused since the calm began: that is when shedding last mattered
        // (unless the socket refused in this window: then that is when)
        this.lastShedAt = this.gateRefused ? now : this.calmSince;
        this.limit = Infinity;
        this.share = 1;
        this.calmSince = null;
        this.floored = false;
        this.slow = 0;
        return;
      }
    } else this.calmSince = null;
    // Two bounds (hysteresis): shedding starts when the delay passes `maxQueueDelay`, and once it
    // has started the queue is held to `heldDelay` (20 ms), where the rate also grows back. A
    // digest call waits in the queue twice: held at the entry bound itself, its swings around it
    // took calls past T1, and their clients retransmitted, each copy more to read and answer. Only
    // the entry bound applies to a process that keeps up, so a burst under full load does not
    // start shedding any sooner.
    const held = this.heldDelay;
    const bound = shedding ? held : this.opts.maxQueueDelay;
    this.slow = delay > bound ? this.slow + 1 : 0;
    // twice in a row (100 ms): one pause (a major GC) is not overload, a queue that stays is. A
    // half-full receive buffer starts it at once: at 3× the sustained rate the second look came
    // after the buffer (8 MiB, ~2.3 KB a datagram on loopback: ~190 ms of 19,200/s) had
    // overflowed (13,000 datagrams lost in a step's first second, each back 500 ms later). One
    // look past the bound with the event loop on time was tried as that signal and dropped: the
    // burst at the start of a step near the sustained rate passes the bound for a moment, and
    // shedding began there (31% refused at 5,500/s on a fast machine, 2026-12-02), while a burst
    // of that size fills a third of the buffer at most.
    const before = this.lastDelay;
    this.lastDelay = delay;
    // A buffer filling fast while the loop keeps time is read as fast as the process can and still
    // outrun: a flood. At 3× the sustained rate half full came about 200 ms in (a trace, session
    // 21), and the calls admitted meanwhile (each second half and 200 still to come, never
    // refused) kept the process behind while the buffer overflowed (13,868 datagrams lost in one
    // 3× step, each back as a retransmission, 2026-12-02). A pause does not count: its lag shows
    // (a major collection at the sustained rate fills a fifth of the buffer). Nor does one window:
    // a stall shorter than the lag bound (a scavenge, a slow moment of the machine) fills a few
    // percent and drains after, while a flood fills window after window. Counted from one window,
    // a full run's search failed steps at 0.83–0.90 cores busy with 6–36% refused (2026-12-02);
    // whether the rule or the machine did it was not settled, and two windows cost 50 ms.
    this.filling = fill - fillBefore >= FILLING_STEP && this.lag < this.heldDelay ? this.filling + 1 : 0;
    if (this.slow >= 2 || ((full || (this.filling >= 2 && fill >= FILLING_FROM)) && !shedding)) {
      if (!shedding) {
        // what the process read and served while it fell behind is about what it can serve (or
        // what it served over the last half second, if more: a stall, a major collection or a
        // table rebuilt, reads nothing for its length, and a rate taken from just then refused
        // half of a load the process carries); less, to drain the backlog, and less again the
        // further the queue is past its bound
        this.scale = Math.max(this.readRate, this.servedRate, MIN_RATE);
        this.rateAtCut = this.scale;
        // the first cut while shedding starts a run of its own: the rate read before is no measure
        this.grewSinceCut = true;
        this.floored = false;
        this.limit = Math.max(this.floor, this.scale * Math.min(FIRST_CUT, bound / delay));
        this.tokens = 0;
        this.tokensAt = now;
        this.share = 0.999;
        this.cutAt(now, delay);
      } else if ((now >= this.holdUntil && delay >= DRAINING * before) || delay > Math.max(1.5 * this.delayAtCut, 4 * bound) || (full && now - this.lastCutAt >= 2 * ADJUST_MS && fill >= DRAINING * fillBefore)) {
        // A cut shows in the queue delay only once the requests queued before it have been read,
        // and the second halves of the calls admitted before it have come back and been read too:
        // about twice `delay` later. Cutting again every 50 ms meanwhile took the rate to its
        // floor at every overload, and the queue ran empty. So after a cut the next waits that
        // long, and for a queue that is not draining anyway, unless the queue still grows by half
        // again (the cut was far too shallow) and is many times the bound: from a delay just over
        // the bound, half as much again is soon reached while the cut has not yet shown, and at 3×
        // four cuts in 400 ms took the rate to 43% of where the queue had begun to grow (a
        // sawtooth averaging 70% of it, 2026-12-02). The queue held is short, so a delay over it
        // means the rate is somewhat past what the process keeps up with, not far: a fixed, mild
        // cut (cut in proportion to the delay, a rate just past capacity was halved and the core
        // idled); deeper only while the delay is many times the bound.
        //
        //
        // A receive buffer half full, and not emptying, waits 100 ms for the last cut, not twice
        // the delay: it is losing datagrams, or about to, and each comes back as a retransmission. Waiting twice
        // the delay (700 ms at a 350 ms queue), a 3× flood kept the buffer 75–90% full for 2.3 s
        // after shedding began, the rate cut by 30% every 0.7 s while the core read
        // retransmissions; cut every 50 ms, the rate fell to 3% of its start before the buffer
        // had drained (2026-12-02).
        // The rate growth aims back at is the one the first cut of this run of cuts was made at,
        // where the queue began to grow: what the process carried just before, as it is now (a
        // rate remembered from an earlier run of cuts may be out of date). Aimed at the last cut's
        // rate, a deep run of cuts was climbed back by small steps, a second or more each time.
        if (this.grewSinceCut) this.rateAtCut = this.limit;
        this.grewSinceCut = false;
        this.floored = this.limit <= this.floor;
        this.limit = Math.max(this.floor, this.limit * (delay > 4 * bound ? 0.7 : CUT));
        this.cutAt(now, delay);
      }
      return;
    }
    if (!shedding) return;
    // growing back while the queue is short: quickly up to just under the rate the last run of cuts
    // began at (a third of the way each time), and past it by a share of itself that is larger
    // the longer the loop sat idle (a core left idle while new work is refused is goodput
    // thrown away: held to small fixed steps, the rate took seconds to climb back after each cut,
    // the core 10–20% idle through a 2× flood); half that near the bound the queue is held to
    // (where cutting starts: no band where the rate neither grows nor is cut). The queue held is
    // short, so each step shows within an adjustment or two.
    const step = Math.max(GROW_STEP * this.scale, Math.max(GROW_SHARE, IDLE_GAIN * idle) * this.limit);
    const below = 0.95 * this.rateAtCut - this.limit;
    if (delay < held / 2) this.limit += Math.max(step, below / 3);
    else if (delay < held) this.limit += step / 2;
    if (delay < held) this.grewSinceCut = true;
  }

  /** the smallest rate new work is admitted at while shedding */
  private get floor(): number {
    return Math.max(MIN_RATE, MIN_SHARE * this.scale);
  }

  private cutAt(now: number, delay: number): void {
    this.lastCutAt = now;
    this.holdUntil = now + Math.min(Math.max(2 * ADJUST_MS, 2 * delay), MAX_HOLD_MS);
    this.delayAtCut = delay;
  }

  /**
   * Whether new work was refused at some time in the last `ms`: then our receive queue was long,
   * or overflowing, and an answer that did not come may have been lost in it.
   */
  shedWithin(ms: number): boolean {
    this.adjust();
    return this.limit < Infinity || this.gateRefused || this.clock() - this.lastShedAt <= ms;
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
    if (this.limit === Infinity) return 'admit';
    const m = head.method;
    if (this.finishes(m, head.credentials, head.nonce, head.inDialog)) return 'admit';
    if (m !== 'REGISTER' && this.stale(branch)) return 'drop';
    return this.decideNew(m) ? 'admit' : 'refuse';
  }

  /** Whether anything is being refused now (the cheap check before looking at a request). */
  get shedding(): boolean {
    this.adjust();
    return this.limit < Infinity;
  }

  /** Whether a new request (not a retransmission) may be processed now. */
  admits(req: SipRequest): boolean {
    this.adjust();
    if (this.limit === Infinity) return true;
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

  /** New work (or a REGISTER): admitted by the rate, REGISTERs unless even the smallest rate leaves the queue growing. */
  private decideNew(m: string): boolean {
    if (m === 'REGISTER') {
      if (!this.floored || this.limit > this.floor || this.queueDelay() < 4 * this.opts.maxQueueDelay) return true;
      this.refused.registers++;
      this.refusedSinceAdjust++;
      return false;
    }
    if (this.limit === Infinity) return true;
    this.judgedSinceAdjust++;
    if (this.take()) {
      this.admittedSinceAdjust++;
      return true;
    }
    this.refused.newWork++;
    this.refusedSinceAdjust++;
    return false;
  }

  /** A token from the admission bucket, which fills at `limit` per second up to BURST_MS of it. */
  private take(): boolean {
    const now = this.clock();
    const burst = burstOf(this.limit);
    this.tokens = Math.min(burst, this.tokens + ((now - this.tokensAt) * this.limit) / 1000);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
