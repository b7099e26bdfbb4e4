import type { QueuedTimer, TimerQueues } from './timer-queues.js';

/** RFC 3261 §17.1.1.1 base timers, in milliseconds (Table 4). */
export interface TimerValues {
  T1: number;
  T2: number;
  T4: number;
}

export const DEFAULT_TIMERS: TimerValues = { T1: 500, T2: 4000, T4: 5000 };

/**
 * The running timers of one transaction, by name, which it stops together when it ends. A
 * transaction runs at most three at once (a retransmission timer and a timeout, then its end;
 * an INVITE server transaction's 100 Trying before them), so they sit in three fixed slots.
 *
 * Slots rather than a list of `{ name, timer }` entries, each timer wrapped in a closure that took
 * its entry off the list when it fired: with that list, a relayed MESSAGE left ~11 KB of its
 * objects alive through two young-generation collections (promoted, to die in the next full one),
 * against ~2 KB with slots, and the collector paused ~1.1 s instead of ~0.35 s over 20,000 calls
 * (test/bench/README.md, "Session 10"). A fired timer needs no wrapper to leave its slot: its
 * `fn` is null once run, and the slot counts as free.
 */
export class TimerSet {
  private name0: string | null = null;
  private timer0: QueuedTimer | null = null;
  private name1: string | null = null;
  private timer1: QueuedTimer | null = null;
  private name2: string | null = null;
  private timer2: QueuedTimer | null = null;

  constructor(private readonly queues: TimerQueues) {}

  /** Starts `name`, stopping the timer of that name first if one runs. */
  start(name: string, ms: number, fn: () => void): void {
    this.stop(name);
    const timer = this.queues.start(ms, fn);
    if (isFree(this.timer0)) {
      this.name0 = name;
      this.timer0 = timer;
    } else if (isFree(this.timer1)) {
      this.name1 = name;
      this.timer1 = timer;
    } else if (isFree(this.timer2)) {
      this.name2 = name;
      this.timer2 = timer;
    } else {
      this.queues.stop(timer);
      throw new Error(`a transaction ran a fourth timer at once (${name})`);
    }
  }

  stop(name: string): void {
    if (this.name0 === name) {
      if (this.timer0 !== null) this.queues.stop(this.timer0);
      this.name0 = this.timer0 = null;
    } else if (this.name1 === name) {
      if (this.timer1 !== null) this.queues.stop(this.timer1);
      this.name1 = this.timer1 = null;
    } else if (this.name2 === name) {
      if (this.timer2 !== null) this.queues.stop(this.timer2);
      this.name2 = this.timer2 = null;
    }
  }

  clear(): void {
    if (this.timer0 !== null) this.queues.stop(this.timer0);
    if (this.timer1 !== null) this.queues.stop(this.timer1);
    if (this.timer2 !== null) this.queues.stop(this.timer2);
    this.name0 = this.timer0 = this.name1 = this.timer1 = this.name2 = this.timer2 = null;
  }
}

/** A slot is free when empty, or when its timer ran or was stopped (the queue nulls its `fn`). */
function isFree(timer: QueuedTimer | null): boolean {
  return timer === null || timer.fn === null;
}
