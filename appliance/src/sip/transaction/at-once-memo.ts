import { randomBytes } from 'node:crypto';
import { seededHash } from './completed-responses.js';

/** Ways per set: a branch lives in one of the two slots of its set, side by side in memory (`remember` is written for two). */
const WAYS = 2;
/** numbers per slot: [expires, the branch's hash · 2^KEY_BITS + the key's low KEY_BITS bits, To tag number, token] */
const STRIDE = 4;
const EXPIRES = 0;
const HASHES = 1;
const TAG = 2;
const TOKEN = 3;
/** bits of the key's hash kept beside the branch's 32: 53 in all, what a double holds exactly */
const KEY_BITS = 21;
const KEY_SCALE = 2 ** KEY_BITS;

/**
 * What makes an answer given at once (SipStack.answerAtOnce, nearly always a digest challenge)
 * again, for Timer J (64·T1, RFC 3261 §17.2.2): the number its To tag was made from and the token
 * its maker returned (the challenge's nonce serial), 32 bytes a request instead of the answer's
 * bytes. A retransmission of the request is answered anew from its own fields with the same two,
 * so it gets the same response byte for byte while its nonce is still held; RFC 3261 §8.2.7 asks
 * a stateless server for the same To tag for the same request, and SIPp takes a second challenge
 * with another nonce for an unexpected message.
 *
 * A fixed table of sets of two slots, chosen by the branch's seeded hash (keys are chosen by whoever
 * sends us requests, so the seed is per process): nothing grows, nothing is swept, an expired slot
 * is simply written over. A request whose set is full of live ones pushes out the one that expires
 * first; its retransmission, if one comes, gets a fresh challenge (another nonce, another tag),
 * which is still a right answer to it. With 2^19 sets, at 15,000 challenges a second (480,000 held
 * for 32 s) that befalls about one request in a hundred within the half second before a first
 * retransmission.
 *
 * `mayHoldBranch`'s no is exact, as CompletedResponses' is: a branch is only ever in its own set.
 */
export class AtOnceMemo {
  private readonly slots: Float64Array;
  private readonly setMask: number;
  private readonly seed: number;

  constructor(
    private readonly holdMs: number,
    setBits = 19,
    seed?: number,
  ) {
    // fresh memory: a page is touched only once a set in it is written
    this.slots = new Float64Array((1 << setBits) * WAYS * STRIDE);
    this.setMask = (1 << setBits) - 1;
    this.seed = seed ?? randomBytes(4).readUInt32LE(0);
  }

  /** Whether a request with this branch may have been answered at once lately; no is exact. */
  mayHoldBranch(branch: string, now = performance.now()): boolean {
    const b = seededHash(branch, this.seed);
    const at = (b & this.setMask) * WAYS * STRIDE;
    return this.liveWith(at, b, now) || this.liveWith(at + STRIDE, b, now);
  }

  /** The slot remembering the answer to the request of this branch and key, or -1. */
  find(branch: string, key: string, now = performance.now()): number {
    const b = seededHash(branch, this.seed);
    const hashes = b * KEY_SCALE + (seededHash(key, this.seed) & (KEY_SCALE - 1));
    const at = (b & this.setMask) * WAYS * STRIDE;
    for (let w = 0; w < WAYS; w++) {
      const i = at + w * STRIDE;
      if (this.slots[i + EXPIRES] > now && this.slots[i + HASHES] === hashes) return i;
    }
    return -1;
  }

  /** The To tag number of the answer `find` found. */
  tagOf(slot: number): number {
    return this.slots[slot + TAG];
  }

  /** The token of the answer `find` found. */
  tokenOf(slot: number): number {
    return this.slots[slot + TOKEN];
  }

  /** Remembers an answer until `holdMs` from `now`: in the request's own slot, else the one of its set that expires first (an unused or expired one first of all). */
  remember(branch: string, key: string, tag: number, token: number, now = performance.now()): void {
    const b = seededHash(branch, this.seed);
    const hashes = b * KEY_SCALE + (seededHash(key, this.seed) & (KEY_SCALE - 1));
    const at = (b & this.setMask) * WAYS * STRIDE;
    const second = at + STRIDE;
    let into: number;
    if (this.slots[at + HASHES] === hashes) into = at;
    else if (this.slots[second + HASHES] === hashes) into = second;
    else into = this.slots[second + EXPIRES] < this.slots[at + EXPIRES] ? second : at;
    this.slots[into + EXPIRES] = now + this.holdMs;
    this.slots[into + HASHES] = hashes;
    this.slots[into + TAG] = tag;
    this.slots[into + TOKEN] = token;
  }

  private liveWith(i: number, branchHash: number, now: number): boolean {
    return this.slots[i + EXPIRES] > now && Math.floor(this.slots[i + HASHES] / KEY_SCALE) === branchHash;
  }
}
