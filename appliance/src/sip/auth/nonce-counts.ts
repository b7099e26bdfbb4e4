/**
 * Replay protection for digest credentials (RFC 7616 §3.3 and §5.3, RFC 3261 §22.4):
 * a nonce is accepted with each nonce-count once, and only in increasing order, so a
 * captured Authorization header cannot be sent again. Without qop there is no nonce-count:
 * such a nonce is good for one request.
 *
 * Memory stays bounded: an entry is kept only while its nonce is fresh (older nonces are
 * answered stale anyway, so they need no entry), and never more than `maxEntries`. When the
 * table is full the oldest entry goes and every nonce issued up to then is refused as stale
 * from that moment: clients just take a fresh challenge, and nothing can be replayed.
 *
 * @example
 *   const counts = new NonceCounts(300_000, 200_000);
 *   counts.accept(nonce, issued, 1) // true
 *   counts.accept(nonce, issued, 1) // false: a replay
 *   counts.accept(nonce, issued, 2) // true: the client's next request on the same nonce
 */
import { nonceIssueTime } from './digest.js';
import { detached } from '../../util/detached.js';

export class NonceCounts {
  /** nonce -> highest nonce-count accepted; Map order is first-use order, close to issue order */
  private readonly highest = new Map<string, number>();
  /** nonces issued before this time (ms) are no longer tracked, so they are refused */
  private floor = 0;
  /** when the front of the table was last checked for expired entries */
  private lastSweep = 0;

  constructor(
    private readonly lifetimeMs: number,
    private readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.highest.size;
  }

  /**
   * Records a use of a fresh nonce whose MAC was checked (`issued` is its issue time).
   * `nc` is the nonce-count (null without qop). Returns false for a replay: a count not above
   * the last one accepted, a second use of a nonce without qop, or a nonce older than what the
   * table still remembers.
   */
  accept(nonce: string, issued: number, nc: number | null, now = Date.now()): boolean {
    if (issued < this.floor) return false;
    this.forgetExpired(now);
    const count = nc ?? 1;
    const last = this.highest.get(nonce);
    if (last !== undefined && (nc === null || count <= last)) return false;
    if (last === undefined && this.highest.size >= this.maxEntries) this.evictOldest();
    // a new entry's key is copied: the nonce was cut from its request's header text, which it
    // would otherwise keep alive for as long as the entry lives (util/detached.ts)
    this.highest.set(last === undefined ? detached(nonce) : nonce, count);
    return true;
  }

  /** Drops entries from the front while their nonces have expired (they are stale now); once a second at most. */
  private forgetExpired(now: number): void {
    if (now - this.lastSweep < 1000) return;
    this.lastSweep = now;
    for (const nonce of this.highest.keys()) {
      const issued = nonceIssueTime(nonce);
      if (issued !== null && now - issued <= this.lifetimeMs) return;
      this.highest.delete(nonce);
    }
  }

  private evictOldest(): void {
    const oldest = this.highest.keys().next();
    if (oldest.done) return;
    const issued = nonceIssueTime(oldest.value) ?? 0;
    this.highest.delete(oldest.value);
    // everything issued up to that nonce's second is forgotten from now on: refuse it
    this.floor = Math.max(this.floor, issued + 1000);
  }
}
