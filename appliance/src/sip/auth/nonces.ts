import { randomFillSync } from 'node:crypto';

/** What the use of a nonce comes to: accepted, not ours or no longer held (stale), or a count used before. */
export type NonceUse = 'ok' | 'stale' | 'replay';

/**
 * The table's arrays, shared with the native UDP socket, which makes nonces in them as `make` does
 * when it answers a challenge itself (udp_gate.c, nonce_make): `made[0]` is the next serial.
 */
export interface SharedNonces {
  tokenHigh: Uint32Array;
  tokenLow: Uint32Array;
  issued: Uint32Array;
  counts: Uint32Array;
  made: Float64Array;
  lifetimeMs: number;
}

/** Random words drawn from the system's generator at once, two per nonce. */
const POOL_WORDS = 2048;

/**
 * Digest nonces (RFC 7616 §3.3, RFC 3261 §22.4), made, checked and counted in one table of
 * `slots` entries: 16 bytes each, allocated at start.
 *
 * A nonce is its serial number (one more for each nonce this table makes) and a 64-bit random
 * token, and lives in slot `serial % slots` with its token, its issue time and the highest
 * nonce-count accepted with it, until the nonce `slots` serials newer takes the slot. A nonce is
 * ours when its slot holds its very text: nothing can be forged without guessing 64 random
 * bits, and a nonce of another process or of an earlier run of this one is simply not found.
 *
 * Each nonce is accepted with each nonce-count once, in increasing order (a nonce without qop
 * once): captured credentials cannot be sent again. A nonce past `lifetimeSec`, or pushed out of
 * the table by newer ones, is refused as stale: the client takes a fresh challenge, and the bound
 * on memory never opens a replay. The window is counted in nonces made (every challenge takes a
 * slot, answered or not).
 *
 * Making one costs a slot's writes and three numbers written out, checking one a slot's
 * reads and one string comparison: no hash and no string kept, where the HMAC-signed nonces
 * this replaces took two SHA-256 runs to make, a Map of the ones not yet answered, and a second
 * table for the counts.
 *
 * @example
 *   const nonces = new NonceTable(300, 1_000_000);
 *   const n = nonces.create();
 *   nonces.use(n, 1) // 'ok'
 *   nonces.use(n, 1) // 'replay'
 *   nonces.use(n, 2) // 'ok': the client's next request on the same nonce
 */
export class NonceTable {
  private readonly tokenHigh: Uint32Array;
  private readonly tokenLow: Uint32Array;
  /** issue time, seconds since the epoch */
  private readonly issued: Uint32Array;
  /** the highest nonce-count accepted (0: none yet) */
  private readonly counts: Uint32Array;
  /** [0]: the next serial, the number of nonces made (here and by the native socket: `shared`) */
  private readonly state = new Float64Array(1);
  private readonly pool = new Uint32Array(POOL_WORDS);
  private poolAt = POOL_WORDS;

  constructor(
    private readonly lifetimeSec: number,
    private readonly slots: number,
  ) {
    this.tokenHigh = new Uint32Array(slots);
    this.tokenLow = new Uint32Array(slots);
    this.issued = new Uint32Array(slots);
    this.counts = new Uint32Array(slots);
  }

  /** Nonces held now (at most `slots`). */
  get size(): number {
    return Math.min(this.made, this.slots);
  }

  private get made(): number {
    return this.state[0];
  }

  /** The arrays the native socket makes nonces in (see SharedNonces). */
  shared(): SharedNonces {
    const { tokenHigh, tokenLow, issued, counts } = this;
    return { tokenHigh, tokenLow, issued, counts, made: this.state, lifetimeMs: this.lifetimeSec * 1000 };
  }

  create(now = Date.now()): string {
    return this.textOf(this.make(now));
  }

  /** Makes a nonce and gives its serial number (`text` writes it). */
  make(now = Date.now()): number {
    const serial = this.state[0]++;
    const slot = serial % this.slots;
    if (this.poolAt === POOL_WORDS) {
      randomFillSync(this.pool);
      this.poolAt = 0;
    }
    this.tokenHigh[slot] = this.pool[this.poolAt++];
    this.tokenLow[slot] = this.pool[this.poolAt++];
    this.issued[slot] = Math.floor(now / 1000);
    this.counts[slot] = 0;
    return serial;
  }

  /**
   * The nonce of serial number `serial` while this table holds it and it has time left, or null
   * (a newer one took its slot, or its lifetime is over): a challenge sent again (a retransmitted
   * request's, AtOnceMemo) carries the same nonce.
   */
  text(serial: number, now = Date.now()): string | null {
    if (!Number.isSafeInteger(serial) || serial < 0 || serial >= this.made || serial < this.made - this.slots) return null;
    if (now - this.issued[serial % this.slots] * 1000 > this.lifetimeSec * 1000) return null;
    return this.textOf(serial);
  }

  /** When a nonce this table holds was made (ms, to the second), or null when it holds no such nonce. */
  issuedAt(nonce: string): number | null {
    const slot = this.slotOf(nonce);
    return slot < 0 ? null : this.issued[slot] * 1000;
  }

  /**
   * Records a use of a nonce with nonce-count `nc` (null without qop). 'stale' for a nonce that
   * is not held (not ours, too old, pushed out) or past its lifetime; 'replay' for a count not
   * above the last one accepted, or a second use without qop.
   */
  use(nonce: string, nc: number | null, now = Date.now()): NonceUse {
    const slot = this.slotOf(nonce);
    if (slot < 0) return 'stale';
    const age = now - this.issued[slot] * 1000;
    // a nonce "from the future" by more than the second its time is cut to: the clock was set back
    if (age > this.lifetimeSec * 1000 || age < -5000) return 'stale';
    // without qop a nonce is good once (its count goes from 0 to 1); counts run from 1 (RFC 7616
    // §3.4: nc=00000001 first) to the 8 hex digits' last, anything else is no count of a use
    const count = nc ?? 1;
    if (!(Number.isInteger(count) && count >= 1 && count <= 0xffffffff) || count <= this.counts[slot]) return 'replay';
    this.counts[slot] = count;
    return 'ok';
  }

  /** The slot holding this very nonce, or -1. */
  private slotOf(nonce: string): number {
    const dot = nonce.indexOf('.');
    if (dot <= 0 || dot > 16) return -1;
    const serial = Number(nonce.slice(0, dot));
    // made, and not yet pushed out by the nonce `slots` serials newer: a slot keeps no serial, so
    // this is what stops an old serial from borrowing the random bits of the newer nonce in its slot
    if (!Number.isSafeInteger(serial) || serial < 0 || serial >= this.made || serial < this.made - this.slots) return -1;
    const slot = serial % this.slots;
    // the whole text compared, so "007.…", "0x7.…" or trailing bytes are not taken for serial 7's nonce
    return nonce === this.textOf(serial, slot) ? slot : -1;
  }

  /** Decimal: V8 writes a number in base 10 about five times faster than in base 36 or 16. */
  private textOf(serial: number, slot = serial % this.slots): string {
    return `${serial}.${this.tokenHigh[slot]}.${this.tokenLow[slot]}`;
  }
}
