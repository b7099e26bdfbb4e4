/**
 * Replay protection for digest credentials (RFC 7616 §3.3 and §5.3, RFC 3261 §22.4):
 * a nonce is accepted with each nonce-count once, and only in increasing order, so a
 * captured Authorization header cannot be sent again. Without qop there is no nonce-count:
 * such a nonce is good for one request.
 *
 * Memory is fixed: `maxEntries` slots (12 bytes each), for the last `maxEntries` nonces made.
 * Older nonces are forgotten, and refused from then on: clients just take a fresh challenge, and
 * nothing can be replayed. Nonces past their lifetime are answered stale before this is asked.
 *
 * @example
 *   const counts = new NonceCounts(200_000);
 *   counts.accept(serial, 1) // true
 *   counts.accept(serial, 1) // false: a replay
 *   counts.accept(serial, 2) // true: the client's next request on the same nonce
 */
/** An empty slot's serial: below every serial a factory makes. */
const EMPTY = -1;

/**
 * The table is indexed by the nonce's serial number (NonceFactory.serialOf: one more for each
 * nonce the process makes), so it is two typed arrays of `maxEntries` slots: serial `s` lives in
 * slot `s % maxEntries` until serial `s + maxEntries` is used. No string is hashed or kept. A
 * Map keyed by the nonces, up to 200,000 strings for 300 s each, cost a cache-missing lookup
 * and an insertion for every authenticated request, and a major GC marking them all.
 */
export class NonceCounts {
  /** the serial each slot holds (EMPTY for none); Float64: serials pass 2^31 in days at 10,000/s */
  private readonly serials: Float64Array;
  /** the highest nonce-count accepted for that serial */
  private readonly counts: Uint32Array;
  /** the highest serial accepted: serials up to `maxEntries` below it are still held */
  private newest = EMPTY;
  private used = 0;

  constructor(private readonly maxEntries: number) {
    this.serials = new Float64Array(maxEntries).fill(EMPTY);
    this.counts = new Uint32Array(maxEntries);
  }

  /** Nonces whose counts are held now (at most `maxEntries`). */
  get size(): number {
    return this.used;
  }

  /**
   * Records a use of a fresh nonce of ours whose MAC was checked: `serial` is its serial number,
   * `nc` its nonce-count (null without qop). Returns false for a replay: a count not above the
   * last one accepted, a second use of a nonce without qop, or a nonce older than what the table
   * still holds (`maxEntries` serials below the newest used).
   */
  accept(serial: number, nc: number | null): boolean {
    if (serial <= this.newest - this.maxEntries) return false;
    const count = nc ?? 1;
    const slot = serial % this.maxEntries;
    const held = this.serials[slot];
    if (held === serial) {
      if (nc === null || count <= this.counts[slot]) return false;
      this.counts[slot] = count;
      return true;
    }
    // the slot is empty or holds an older serial (`maxEntries` or more below this one): it goes
    if (held === EMPTY) this.used++;
    this.serials[slot] = serial;
    this.counts[slot] = count;
    if (serial > this.newest) this.newest = serial;
    return true;
  }
}
