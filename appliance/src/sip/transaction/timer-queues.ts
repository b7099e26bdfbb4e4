/**
 * The transactions' timers, one queue per duration. A relayed MESSAGE starts a handful of timers
 * (the client transaction's E, F and K, the fork's deadline), nearly all stopped within a
 * millisecond or two; as node timers that is a Timeout object, an async id and a list insertion
 * each, started and cleared thousands of times a second. RFC 3261's timers come in few durations
 * (T1, 64·T1, T4, …), and within one duration deadlines fall in the order the timers were started,
 * so a queue per duration is a FIFO with one node timer armed for its head. Stopping a timer only
 * empties its slot; the queue steps over it when its time comes.
 */
export interface QueuedTimer {
  /** when it is due, on performance.now()'s clock */
  readonly at: number;
  /** what to run; null once stopped */
  fn: (() => void) | null;
  /** the queue that holds it, told when it is stopped */
  readonly queue: { stopped(): void };
}

/** Stopped timers a queue tolerates before it drops them all at once (when they are also half of it). */
const STOPPED_BEFORE_COMPACTING = 1024;

class DelayQueue {
  private entries: QueuedTimer[] = [];
  /** the first entry not yet run or skipped */
  private head = 0;
  private armed: NodeJS.Timeout | null = null;
  /** entries from `head` on that were stopped: skipped when due, or dropped all at once by `stopped` */
  private stoppedCount = 0;

  constructor(
    private readonly ms: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  add(fn: () => void): QueuedTimer {
    const timer: QueuedTimer = { at: performance.now() + this.ms, fn, queue: this };
    this.entries.push(timer);
    if (this.armed === null) this.arm(this.ms);
    return timer;
  }

  private arm(delay: number): void {
    this.armed = setTimeout(() => this.run(), Math.max(1, Math.ceil(delay)));
    // like the transactions' own timers: pending ones never keep the process alive
    this.armed.unref();
  }

  private run(): void {
    this.armed = null;
    const now = performance.now();
    while (this.head < this.entries.length) {
      const timer = this.entries[this.head];
      if (timer.at > now) break;
      this.head++;
      const fn = timer.fn;
      timer.fn = null;
      if (fn === null) {
        this.stoppedCount--;
        continue;
      }
      try {
        fn();
      } catch (err) {
        // one failing timer must not hold back the others behind it
        this.onError(err);
      }
    }
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
      this.stoppedCount = 0;
    } else {
      // compact now and then, so the array does not grow for ever under steady load
      if (this.head > 4096 && this.head * 2 > this.entries.length) {
        this.entries = this.entries.slice(this.head);
        this.head = 0;
      }
      this.arm(this.entries[this.head].at - now);
    }
  }

  /**
   * One of this queue's timers was stopped. Nearly all are, within a millisecond or two of their
   * start (a transaction's Timer F when its response comes, a fork's deadline when it settles),
   * and a stopped one waited in the queue until its time: 32 s for Timer F, thousands of them at
   * a time, each outliving two young-generation collections and copied into the old one. Once
   * stopped timers are many and most of the queue, they are dropped in one pass, while young.
   */
  stopped(): void {
    this.stoppedCount++;
    if (this.stoppedCount > STOPPED_BEFORE_COMPACTING && this.stoppedCount * 2 > this.entries.length - this.head) {
      this.entries = this.entries.slice(this.head).filter((t) => t.fn !== null);
      this.head = 0;
      this.stoppedCount = 0;
    }
  }

  /** Live (not stopped) timers waiting, for tests and counts. */
  get pending(): number {
    let n = 0;
    for (let i = this.head; i < this.entries.length; i++) if (this.entries[i].fn !== null) n++;
    return n;
  }

  /** Entries still in the queue, stopped ones included (for tests). */
  get queued(): number {
    return this.entries.length - this.head;
  }
}

/**
 * The queues of one SIP stack, by duration (a handful: T1 and its doublings, 64·T1, T4, the
 * fork deadline). Each stack has its own, so that tests with fake clocks never share one.
 */
export class TimerQueues {
  private readonly queues = new Map<number, DelayQueue>();

  /** `onError` hears of a timer function that threw (the others due with it still run). */
  constructor(private readonly onError: (err: unknown) => void) {}

  /** Runs `fn` after `ms` milliseconds (rounded to whole ms), on the queue for that duration. */
  start(ms: number, fn: () => void): QueuedTimer {
    const duration = Math.max(0, Math.round(ms));
    let queue = this.queues.get(duration);
    if (queue === undefined) {
      queue = new DelayQueue(duration, this.onError);
      this.queues.set(duration, queue);
    }
    return queue.add(fn);
  }

  /** Stops a timer (a no-op for one that ran or was stopped already). */
  stop(timer: QueuedTimer): void {
    if (timer.fn === null) return;
    timer.fn = null;
    timer.queue.stopped();
  }

  /** Entries held over all durations, stopped ones not yet dropped included (for tests). */
  get queued(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.queued;
    return n;
  }

  /** How many timers wait, over all durations. */
  get pending(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.pending;
    return n;
  }
}
