/** How many SUBSCRIBEs one subscriber may send: a burst, then a steady rate. */
export interface SubscribeRateOptions {
  burst: number;
  perSecond: number;
}

/**
 * A token bucket per subscriber (AOR), so one watcher's SUBSCRIBE storm is refused (503 +
 * Retry-After, RFC 3261 §21.5.4) while everyone else is served. Buckets that are full again are
 * forgotten on the next sweep, so memory follows the active subscribers only.
 */
export class SubscribeRate {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep = Date.now();

  constructor(private readonly opts: SubscribeRateOptions) {}

  /** Takes one token for `key`; returns 0 when allowed, else the seconds until one is free. */
  take(key: string, now = Date.now()): number {
    this.sweep(now);
    const b = this.buckets.get(key) ?? { tokens: this.opts.burst, at: now };
    b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.at) / 1000) * this.opts.perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.opts.perSecond));
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    const refill = (this.opts.burst / this.opts.perSecond) * 1000;
    for (const [k, b] of this.buckets) if (now - b.at > refill) this.buckets.delete(k);
  }
}
