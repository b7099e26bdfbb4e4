import type { Destination } from '../transport/transport-types.js';
import { FifoExpiry } from './fifo-expiry.js';

interface Held {
  /** the branch the key starts with (null: an RFC 2543 key), kept so it is not cut from the key again */
  branch: string | null;
  data: Buffer;
  dest: Destination;
  expires: number;
}

/**
 * The final responses of completed non-INVITE server transactions over UDP, kept for Timer J
 * (64 × T1, RFC 3261 §17.2.2) to answer retransmissions of their requests. One entry is a key,
 * the response's bytes and where they go: no transaction object, no timer. Every entry lives the
 * same time, so they expire in the order they came (FifoExpiry), instead of one setTimeout and
 * one transaction object per request for 32 s (about 64,000 of them at 2,000 MESSAGE/s).
 */
export class CompletedResponses extends FifoExpiry {
  private readonly held = new Map<string, Held>();
  /** the branches of the keys held: a cheap first look whether a datagram can be a retransmission */
  private readonly branches = new Set<string>();

  get size(): number {
    return this.held.size;
  }

  /** Holds the final response of the transaction `key`, whose branch is `branch` (null: none, an RFC 2543 key). */
  hold(key: string, branch: string | null, data: Buffer, dest: Destination, now = Date.now()): void {
    if (!this.held.has(key)) this.enqueue(key);
    if (branch !== null) this.branches.add(branch);
    this.held.set(key, { branch, data, dest, expires: now + this.holdMs });
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

  protected expiresAt(key: string): number | undefined {
    return this.held.get(key)?.expires;
  }

  protected expire(key: string): void {
    const branch = this.held.get(key)?.branch ?? null;
    this.held.delete(key);
    if (branch !== null) this.branches.delete(branch);
  }

  protected forgetAll(): void {
    this.held.clear();
    this.branches.clear();
  }
}
