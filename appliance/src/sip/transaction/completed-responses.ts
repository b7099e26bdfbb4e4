import type { Destination } from '../transport/transport-types.js';
import { branchOfKey } from '../message/raw-key.js';

interface Held {
  data: Buffer;
  dest: Destination;
  expires: number;
}

/**
 * The final responses of completed non-INVITE server transactions over UDP, kept for Timer J
 * (64 × T1, RFC 3261 §17.2.2) to answer retransmissions of their requests. One entry is a key,
 * the response's bytes and where they go: no transaction object, no timer. Every entry lives the
 * same time, so they expire in the order they came: a FIFO, swept by one timer, instead of one
 * setTimeout and one transaction object per request for 32 s (about 64,000 of them at 2,000
 * MESSAGE/s).
 */
export class CompletedResponses {
  private readonly held = new Map<string, Held>();
  /** the branches of the keys held: a cheap first look whether a datagram can be a retransmission */
  private readonly branches = new Set<string>();
  /** keys in arrival (= expiry) order; `head` is the first live position */
  private queue: string[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly holdMs: number) {}

  get size(): number {
    return this.held.size;
  }

  hold(key: string, data: Buffer, dest: Destination, now = Date.now()): void {
    if (!this.held.has(key)) this.queue.push(key);
    const branch = branchOfKey(key);
    if (branch !== null) this.branches.add(branch);
    this.held.set(key, { data, dest, expires: now + this.holdMs });
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), Math.min(1000, this.holdMs));
      this.timer.unref();
    }
  }

  /** The response to resend for a retransmitted request, if its transaction completed lately. */
  get(key: string): { data: Buffer; dest: Destination } | undefined {
    return this.held.get(key);
  }

  /**
   * Whether a key with this branch may be held (`get` decides). False means none is, except
   * when two keys shared a branch and one expired: a miss that only sends a retransmission
   * the ordinary way, where `get` finds it.
   */
  mayHoldBranch(branch: string): boolean {
    return this.branches.has(branch);
  }

  sweep(now = Date.now()): void {
    while (this.head < this.queue.length) {
      const key = this.queue[this.head];
      const h = this.held.get(key);
      if (h !== undefined && h.expires > now) break;
      if (h !== undefined) {
        this.held.delete(key);
        const branch = branchOfKey(key);
        if (branch !== null) this.branches.delete(branch);
      }
      this.head++;
    }
    // compact now and then, so the array does not grow for ever
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.held.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
      this.queue = [];
      this.head = 0;
      this.branches.clear();
    }
  }

  clear(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.held.clear();
    this.branches.clear();
    this.queue = [];
    this.head = 0;
  }
}
