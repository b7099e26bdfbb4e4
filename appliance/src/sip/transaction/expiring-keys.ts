import { FifoExpiry } from './fifo-expiry.js';

/**
 * Keys remembered for a fixed time. For the client transactions' Timer K (RFC 3261
 * §17.1.2.2): a completed non-INVITE transaction over UDP only absorbs retransmissions of its
 * final response for T4, and its key says all that needs saying. Holding the whole transaction
 * (its request, the request's bytes, its timers) those 5 s kept every relayed MESSAGE's copy
 * alive past two young-generation collections, to be copied into the old one and collected there.
 */
export class ExpiringKeys extends FifoExpiry {
  private readonly expires = new Map<string, number>();

  get size(): number {
    return this.expires.size;
  }

  add(key: string, now = Date.now()): void {
    if (!this.expires.has(key)) this.enqueue(key);
    this.expires.set(key, now + this.holdMs);
  }

  has(key: string): boolean {
    return this.expires.has(key);
  }

  protected expiresAt(key: string): number | undefined {
    return this.expires.get(key);
  }

  protected expire(key: string): void {
    this.expires.delete(key);
  }

  protected forgetAll(): void {
    this.expires.clear();
  }
}
