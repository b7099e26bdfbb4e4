import type { Destination } from '../transport/transport-types.js';
import { CompletedResponses } from './completed-responses.js';

const NOTHING = Buffer.alloc(0);
const NOWHERE: Destination = { transport: 'UDP', address: '', port: 0 };

/**
 * Keys remembered for a fixed time. For the client transactions' Timer K (RFC 3261
 * §17.1.2.2): a completed non-INVITE transaction over UDP only absorbs retransmissions of its
 * final response for T4, and its key says all that needs saying. Holding the whole transaction
 * (its request, the request's bytes, its timers) those 5 s kept every relayed MESSAGE's copy
 * alive past two young-generation collections, to be copied into the old one and collected there;
 * so the keys are held as Timer J's responses are, outside the heap (CompletedResponses, with
 * no response and no destination).
 */
export class ExpiringKeys {
  private readonly keys: CompletedResponses;

  constructor(holdMs: number) {
    this.keys = new CompletedResponses(holdMs);
  }

  get size(): number {
    return this.keys.size;
  }

  /** Holds `key` for its time from `now` (ms, monotonic), again when it was held already. */
  add(key: string, now = performance.now()): void {
    this.keys.hold(key, false, NOTHING, NOWHERE, now);
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  sweep(now = performance.now()): void {
    this.keys.sweep(now);
  }

  clear(): void {
    this.keys.clear();
  }
}
