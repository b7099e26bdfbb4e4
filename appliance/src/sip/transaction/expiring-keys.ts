/**
 * Keys remembered for a fixed time, all for the same time, so that they expire in the order
 * they came: a FIFO swept by one timer. For the client transactions' Timer K (RFC 3261
 * §17.1.2.2): a completed non-INVITE transaction over UDP only absorbs retransmissions of its
 * final response for T4, and its key says all that needs saying. Holding the whole transaction
 * (its request, the request's bytes, its timers) those 5 s kept every relayed MESSAGE's copy
 * alive past two young-generation collections, to be copied into the old one and collected there.
 */
export class ExpiringKeys {
  private readonly expires = new Map<string, number>();
  /** keys in arrival (= expiry) order; `head` is the first live position */
  private queue: string[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly holdMs: number) {}

  get size(): number {
    return this.expires.size;
  }

  add(key: string, now = Date.now()): void {
    if (!this.expires.has(key)) this.queue.push(key);
    this.expires.set(key, now + this.holdMs);
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), Math.min(1000, this.holdMs));
      this.timer.unref();
    }
  }

  has(key: string): boolean {
    return this.expires.has(key);
  }

  sweep(now = Date.now()): void {
    while (this.head < this.queue.length) {
      const key = this.queue[this.head];
      const at = this.expires.get(key);
      if (at !== undefined && at > now) break;
      this.expires.delete(key);
      this.head++;
    }
    // compact now and then, so the array does not grow for ever
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.expires.size === 0) this.clear();
  }

  clear(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.expires.clear();
    this.queue = [];
    this.head = 0;
  }
}
