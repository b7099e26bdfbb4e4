import { randomBytes } from 'node:crypto';
import { seededHash } from './completed-responses.js';

/**
 * The smallest table, in slots (a power of two); it never shrinks below this. Room for a few
 * hundred transactions at once, 20 kB: a table that went 64 → 128 → 64 slots as the calls in
 * flight went between 10 and 40 was made again every few milliseconds.
 */
const FIRST_SLOTS = 1024;
/** A probe run this long means keys made to collide: the hash is seeded anew and the table rebuilt. */
const CROWDED_PROBE = 64;

/**
 * The live transactions (and their branches) by key: a string-keyed table that lets go of an
 * entry the moment it is deleted.
 *
 * A V8 Map does not. When its table fills with deleted entries it is rehashed into a new one,
 * and the old table keeps its entries and points to the new one (for iterators that still walk
 * it). A Map that lives as long as the server has its table in the old generation, and V8
 * allocates each next table there too, so every transaction that passed through a table between
 * two rehashes stayed reachable from the old generation: each was copied out of the young one
 * and promoted with its key, to die in the next full collection. With ~40 calls in flight, that
 * was most of the ~1 kB per relayed call promoted (1.5 MB each scavenge at 6,000 calls/s), and
 * `Map.prototype.set` and `delete` were a fifth of what the sampling heap profiler found
 * surviving a scavenge (test/bench/README.md, "Session 35").
 *
 * Here the slots are two arrays (key, value) and the hashes beside them: open addressing with
 * linear probing, at most half full, deletion by backward shift (no tombstones). A deleted
 * entry's slots are emptied, so nothing but its own holder keeps it alive, and it dies young.
 * The arrays are made again only to grow or shrink, and the arrays let go of then are emptied
 * too: a dead array in the old generation is still scanned as the young one's roots until a
 * full collection, as a Map's old table was.
 *
 * The hash is seeded at random per table, and a probe run of CROWDED_PROBE slots (keys made to
 * collide by someone who guessed it) seeds it anew, as CompletedResponses does: keys come from
 * the network. At most once per half of the entries added since the last seed, so that keys
 * which collide under any seed (there are none, but a bug could make some) cost a rebuild now
 * and then, not at every add.
 */
export class LiveTable<V> {
  private keys: (string | undefined)[] = slots(FIRST_SLOTS);
  private values: (V | undefined)[] = slots(FIRST_SLOTS);
  private hashes = new Uint32Array(FIRST_SLOTS);
  private mask = FIRST_SLOTS - 1;
  private live = 0;
  private seed: number;
  private seedChanges = 0;
  /** entries added since the hash was last seeded */
  private addsSinceSeed = 0;

  /** `seed` fixes the first hash seed (for tests); by default it is random. */
  constructor(seed?: number) {
    this.seed = seed ?? randomSeed();
  }

  /** Entries held. */
  get size(): number {
    return this.live;
  }

  /** How often keys were made to collide and the hash was seeded anew (for tests). */
  get reseeds(): number {
    return this.seedChanges;
  }

  get(key: string): V | undefined {
    const at = this.find(key, seededHash(key, this.seed));
    return at < 0 ? undefined : this.values[at];
  }

  has(key: string): boolean {
    return this.find(key, seededHash(key, this.seed)) >= 0;
  }

  /** Adds `key`, or replaces its value if held. */
  set(key: string, value: V): void {
    const h = seededHash(key, this.seed);
    const keys = this.keys;
    let i = h & this.mask;
    let probe = 0;
    for (let k = keys[i]; k !== undefined; k = keys[i]) {
      if (this.hashes[i] === h && k === key) {
        this.values[i] = value;
        return;
      }
      i = (i + 1) & this.mask;
      probe++;
    }
    // (after a reseed nothing was added since, so the add that follows cannot reseed again)
    if (probe >= CROWDED_PROBE && 2 * this.addsSinceSeed >= this.live) {
      this.rebuild(this.keys.length, true);
      this.set(key, value);
      return;
    }
    keys[i] = key;
    this.values[i] = value;
    this.hashes[i] = h;
    this.live++;
    this.addsSinceSeed++;
    if (this.live * 2 > keys.length) this.rebuild(keys.length * 2, false);
  }

  /** Removes `key`; whether it was held. */
  delete(key: string): boolean {
    let i = this.find(key, seededHash(key, this.seed));
    if (i < 0) return false;
    const { keys, values, hashes, mask } = this;
    // backward shift: each entry after the hole that may sit in it (its home is not between
    // the hole and itself) moves back, so that a probe never meets a gap before its key
    for (let j = (i + 1) & mask; keys[j] !== undefined; j = (j + 1) & mask) {
      const home = hashes[j] & mask;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        keys[i] = keys[j];
        values[i] = values[j];
        hashes[i] = hashes[j];
        i = j;
      }
    }
    keys[i] = undefined;
    values[i] = undefined;
    this.live--;
    // a burst's table is given back once it is mostly empty (an eighth: no shrink-grow flapping)
    if (keys.length > FIRST_SLOTS && this.live * 8 < keys.length) this.rebuild(keys.length / 2, false);
    return true;
  }

  /** The slot that holds `key` (its hash `h`), or -1. */
  private find(key: string, h: number): number {
    const keys = this.keys;
    let i = h & this.mask;
    for (let k = keys[i]; k !== undefined; k = keys[i]) {
      if (this.hashes[i] === h && k === key) return i;
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  /** Puts every entry into `size` fresh slots, hashed under a new seed if `reseed`. */
  private rebuild(size: number, reseed: boolean): void {
    const { keys, values, hashes } = this;
    if (reseed) {
      this.seed = randomSeed();
      this.seedChanges++;
      this.addsSinceSeed = 0;
    }
    this.keys = slots(size);
    this.values = slots(size);
    this.hashes = new Uint32Array(size);
    this.mask = size - 1;
    for (let j = 0; j < keys.length; j++) {
      const key = keys[j];
      if (key === undefined) continue;
      const h = reseed ? seededHash(key, this.seed) : hashes[j];
      let i = h & this.mask;
      while (this.keys[i] !== undefined) i = (i + 1) & this.mask;
      this.keys[i] = key;
      this.values[i] = values[j];
      this.hashes[i] = h;
    }
    // the old arrays may be in the old generation: emptied, they keep no young entry alive
    keys.fill(undefined);
    values.fill(undefined);
  }

  /** Slots in the table (for tests). */
  get capacity(): number {
    return this.keys.length;
  }
}

/**
 * `n` empty slots, in an array of packed elements: `new Array(n)` makes a holey one, and past
 * 100,000 or so one that V8 keeps as a dictionary.
 */
function slots<T>(n: number): (T | undefined)[] {
  const a: (T | undefined)[] = [];
  for (let i = 0; i < n; i++) a.push(undefined);
  return a;
}

function randomSeed(): number {
  return randomBytes(4).readUInt32LE(0);
}
