/**
 * Keys that all live the same time, so that they expire in the order they came: a FIFO swept by
 * one interval timer, instead of a timer each. What the subclass holds per key, and what goes
 * with a key when it expires, is its own (CompletedResponses: Timer J's answers; ExpiringKeys:
 * Timer K's keys). The timer runs only while something is held.
 */
export abstract class FifoExpiry {
  /** keys in arrival (= expiry) order; `head` is the first live position */
  private queue: string[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(protected readonly holdMs: number) {}

  /** How many keys are held. */
  abstract get size(): number;

  /** When `key` expires (its latest hold), or undefined when it is no longer held. */
  protected abstract expiresAt(key: string): number | undefined;

  /** Lets go of `key` and whatever goes with it. */
  protected abstract expire(key: string): void;

  /** Lets go of everything the subclass holds. */
  protected abstract forgetAll(): void;

  /** Queues a key the subclass has just started to hold (not again for one it already held). */
  protected enqueue(key: string): void {
    this.queue.push(key);
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), Math.min(1000, this.holdMs));
      this.timer.unref();
    }
  }

  sweep(now = Date.now()): void {
    while (this.head < this.queue.length) {
      const key = this.queue[this.head];
      const at = this.expiresAt(key);
      if (at !== undefined && at > now) break;
      if (at !== undefined) this.expire(key);
      this.head++;
    }
    // compact now and then, so the array does not grow for ever
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.size === 0) this.clear();
  }

  clear(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.forgetAll();
    this.queue = [];
    this.head = 0;
  }
}
