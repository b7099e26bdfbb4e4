import type { QueuedTimer, TimerQueues } from './timer-queues.js';

/** RFC 3261 §17.1.1.1 base timers, in milliseconds (Table 4). */
export interface TimerValues {
  T1: number;
  T2: number;
  T4: number;
}

export const DEFAULT_TIMERS: TimerValues = { T1: 500, T2: 4000, T4: 5000 };

/** The running timers of one transaction, by name, which it stops together when it ends. */
export class TimerSet {
  /** at most three or so at a time: a list is cheaper than a Map */
  private running: { name: string; timer: QueuedTimer }[] = [];

  constructor(private readonly queues: TimerQueues) {}

  start(name: string, ms: number, fn: () => void): void {
    this.stop(name);
    const entry = {
      name,
      timer: this.queues.start(ms, () => {
        this.running = this.running.filter((r) => r !== entry);
        fn();
      }),
    };
    this.running.push(entry);
  }

  stop(name: string): void {
    const i = this.running.findIndex((r) => r.name === name);
    if (i < 0) return;
    this.queues.stop(this.running[i].timer);
    this.running.splice(i, 1);
  }

  clear(): void {
    for (const r of this.running) this.queues.stop(r.timer);
    this.running = [];
  }
}
