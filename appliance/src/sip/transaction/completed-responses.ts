import { randomBytes } from 'node:crypto';
import type { Destination, TransportName } from '../transport/transport-types.js';

/** Bytes of one chunk of held responses; a record never spans two. */
const CHUNK_BYTES = 1 << 20;
/**
 * Chunks let go of and kept for reuse: a fresh one is fresh memory, and every 4 kB page of it
 * faulted in on first write cost the process a trap (a fifth of `hold`'s time under load). Steady
 * traffic lets go of chunks as fast as it fills them, in the sweep once a second: about four a
 * second at 3,000 calls/s; eight kept (8 MB) cover twice that.
 */
const SPARE_CHUNKS = 8;
const TRANSPORTS: readonly TransportName[] = ['UDP', 'TCP', 'TLS', 'WS', 'WSS'];
/** record flags */
const HAS_BRANCH = 1;
const WIDE_KEY = 2;
/** the sizes the tables start at (and go back to when everything is let go of) */
const FIRST_RING = 1024;
const FIRST_SLOTS = 2048;
const FIRST_BRANCH_BITS = 13;
/** A probe run this long means keys made to collide: the hash is seeded anew (see `reseed`). */
const CROWDED_PROBE = 128;
/** '|', which ends a key's branch (serverKeyOf) */
const BAR = 124;

/** murmur3's finaliser: every bit of the FNV state reaches the low bits the table is indexed by. */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Writes `text` into `chunk` at `at`, one byte a character; false (what was written is of no use) when one is beyond Latin-1. */
function writeLatin1(text: string, chunk: Buffer, at: number): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 255) return false;
    chunk[at + i] = c;
  }
  return true;
}

/** The hash of `text` under `seed`: FNV-1a over its UTF-16 code units from the seed, then `mix`. */
export function seededHash(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return mix(h);
}

/**
 * The final responses of completed non-INVITE server transactions over UDP, kept for Timer J
 * (64 × T1, RFC 3261 §17.2.2) to answer retransmissions of their requests: a key, the response's
 * bytes and where they go, with no transaction object and no timer each.
 *
 * At 3,000 calls/s that is about 190,000 responses held at any time (the 407 and the relayed
 * answer of each call, 32 s). Held as JavaScript objects (a Map entry, the key, a Buffer, the
 * destination), every one outlived two young-generation collections, was copied into the old
 * generation and marked there until it died: a third of the process's collection work, for data
 * that is only ever read again on a retransmission. So they live outside the heap:
 *
 * - the bytes (key, address, response) in 1 MB chunks, appended in arrival order;
 * - what each record needs besides (hashes, expiry, lengths, port) in typed arrays, a ring
 *   indexed by the record's sequence number;
 * - the key → record index, an open-addressing table of sequence numbers (linear probing,
 *   deletion by backward shift), at most half full;
 * - the branches held, a counting filter with two positions per branch, for the cheap first look
 *   (`mayHoldBranch`): it may say yes for a branch it does not hold, never no for one it does.
 *
 * Keys are chosen by whoever sends us requests, so the hash is seeded per process (a Map's is too)
 * and a probe run that grows long anyway, keys made to collide, seeds it anew.
 *
 * Every record lives the same time, so they expire in the order they came: one sweep walks the
 * ring from its oldest record and drops chunks nothing live is in any more (up to eight are kept
 * to be written into again). Time is the monotonic clock, so a wall clock set back stops nothing
 * from expiring.
 */
export class CompletedResponses {
  // the ring of records, indexed by sequence number & ringMask
  private ringMask = FIRST_RING - 1;
  private expires = new Float64Array(FIRST_RING);
  private keyHash = new Uint32Array(FIRST_RING);
  private branchHash = new Uint32Array(FIRST_RING);
  private flags = new Uint8Array(FIRST_RING);
  private transport = new Uint8Array(FIRST_RING);
  private port = new Uint16Array(FIRST_RING);
  /** where the record's bytes start, counted over all chunks ever made */
  private bytePos = new Float64Array(FIRST_RING);
  private keyLength = new Uint32Array(FIRST_RING);
  private addressLength = new Uint16Array(FIRST_RING);
  private dataLength = new Uint32Array(FIRST_RING);
  /** the oldest record not yet swept, and the next to be made */
  private oldest = 0;
  private next = 0;

  /** key → sequence number + 1 (0: empty slot) */
  private slots = new Float64Array(FIRST_SLOTS);
  private live = 0;
  /** branch counts, two positions per branch; as many as four slots each, so few false yeses */
  private branchCounts = new Uint16Array(1 << FIRST_BRANCH_BITS);
  private branchBits = FIRST_BRANCH_BITS;

  /** chunks[0] is chunk number `firstChunk`; bytes go at `writePos` (counted over all chunks) */
  private chunks: Buffer[] = [];
  /** chunks let go of by `sweep`, for `place` to use again (at most SPARE_CHUNKS) */
  private spare: Buffer[] = [];
  private firstChunk = 0;
  private writePos = 0;

  private seed: number;
  /** a probe run reached CROWDED_PROBE since the last hold; and holds since the last new seed */
  private crowded = false;
  private holdsSinceSeed = 0;
  private seedChanges = 0;
  /** the branch hash of the last key hashed by `hashKey` (-1: the key has no '|') */
  private lastBranchHash = -1;

  private timer: NodeJS.Timeout | null = null;

  /** `seed` fixes the hash's seed (tests); by default it is random, per instance. */
  constructor(
    private readonly holdMs: number,
    seed?: number,
  ) {
    this.seed = seed ?? randomBytes(4).readUInt32LE(0);
  }

  /** How often the hash was seeded anew (a sign of keys made to collide). */
  get reseeds(): number {
    return this.seedChanges;
  }

  /** How many keys are held. */
  get size(): number {
    return this.live;
  }

  /**
   * Holds the final response of the transaction `key` until `holdMs` from `now` (ms, monotonic).
   * With `branched`, the key starts with its transaction's branch, up to its first '|' (as
   * serverKeyOf writes it; an RFC 2543 key has none), which `mayHoldBranch` then knows. Holding a
   * key again replaces its response and starts its time again. Only a datagram's destination is
   * kept (transport, address, port): Timer J is zero over reliable transports (RFC 3261 §17.2.2).
   */
  hold(key: string, branched: boolean, data: Buffer, dest: Destination, now = performance.now()): void {
    const address = dest.address;
    // a UDP response is under 64 kB, its key under twice that: larger is not a datagram's. Not
    // held, and not answered with an older response either
    if (2 * key.length + address.length + data.length > CHUNK_BYTES) {
      this.forget(key);
      return;
    }
    if (this.next - this.oldest > this.ringMask) this.growRing();
    // the usual key is Latin-1, one byte a character; another is written again after it as
    // UTF-16 (what the first try wrote is left behind)
    let pos = this.place(key.length + address.length + data.length);
    let chunk = this.chunkAt(pos);
    let at = pos % CHUNK_BYTES;
    const wide = !writeLatin1(key, chunk, at);
    if (wide) {
      pos = this.place(2 * key.length + address.length + data.length);
      chunk = this.chunkAt(pos);
      at = pos % CHUNK_BYTES;
      chunk.write(key, at, 'utf16le');
      at += 2 * key.length;
    } else at += key.length;
    // an IP literal: anything else is not an address we send datagrams to
    if (!writeLatin1(address, chunk, at)) {
      this.forget(key);
      return;
    }
    chunk.set(data, at + address.length);
    const h = this.hashKey(key);
    const branch = branched ? this.lastBranchHash : -1;
    const seq = this.next++;
    const r = seq & this.ringMask;
    this.expires[r] = now + this.holdMs;
    this.keyHash[r] = h;
    this.branchHash[r] = branch < 0 ? 0 : branch;
    this.flags[r] = (branch < 0 ? 0 : HAS_BRANCH) | (wide ? WIDE_KEY : 0);
    this.transport[r] = TRANSPORTS.indexOf(dest.transport);
    this.port[r] = dest.port;
    this.bytePos[r] = pos;
    this.keyLength[r] = key.length;
    this.addressLength[r] = address.length;
    this.dataLength[r] = data.length;

    const i = this.findSlot(key, h);
    if (this.slots[i] !== 0) {
      // held again: the older record is now only bytes to sweep past; its branch count goes with it
      const old = (this.slots[i] - 1) & this.ringMask;
      if (this.flags[old] & HAS_BRANCH) this.countBranch(this.branchHash[old], -1);
      this.slots[i] = seq + 1;
    } else {
      this.slots[i] = seq + 1;
      this.live++;
    }
    if (branch >= 0) this.countBranch(branch, 1);
    this.holdsSinceSeed++;
    if (2 * this.live > this.slots.length) this.growIndex();
    else if (this.crowded && 2 * this.holdsSinceSeed >= this.live) this.reseed();
    this.crowded = false;
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), Math.min(1000, this.holdMs));
      this.timer.unref();
    }
  }

  /** Whether `key` is held (until its record is swept). */
  has(key: string): boolean {
    return this.live > 0 && this.slots[this.findSlot(key, this.hashKey(key))] !== 0;
  }

  /** The response to resend for a retransmitted request, if its transaction completed lately. */
  get(key: string): { data: Buffer; dest: Destination } | undefined {
    if (this.live === 0) return undefined;
    const i = this.findSlot(key, this.hashKey(key));
    if (this.slots[i] === 0) return undefined;
    const r = (this.slots[i] - 1) & this.ringMask;
    const pos = this.bytePos[r];
    const chunk = this.chunkAt(pos);
    const addressAt = (pos % CHUNK_BYTES) + (this.flags[r] & WIDE_KEY ? 2 : 1) * this.keyLength[r];
    const dataAt = addressAt + this.addressLength[r];
    return {
      // a copy, so that a send queue holding it does not hold the whole chunk past its records' time
      data: Buffer.from(chunk.subarray(dataAt, dataAt + this.dataLength[r])),
      dest: { transport: TRANSPORTS[this.transport[r]], address: chunk.toString('latin1', addressAt, dataAt), port: this.port[r] },
    };
  }

  /**
   * Whether a key with this branch may be held (`get` decides). False means none is; true may
   * be wrong, about once in twenty, and then only costs the raw key's read.
   */
  mayHoldBranch(branch: string): boolean {
    if (this.live === 0) return false;
    const h = seededHash(branch, this.seed);
    return this.branchCounts[h & ((1 << this.branchBits) - 1)] > 0 && this.branchCounts[this.secondPosition(h)] > 0;
  }

  /** Lets go of every response held past its time (`now`: ms, monotonic). */
  sweep(now = performance.now()): void {
    while (this.oldest < this.next && this.expires[this.oldest & this.ringMask] <= now) this.expire(this.oldest++);
    if (this.oldest === this.next) {
      this.clear();
      return;
    }
    const firstLive = Math.floor(this.bytePos[this.oldest & this.ringMask] / CHUNK_BYTES);
    if (firstLive > this.firstChunk) {
      const done = firstLive - this.firstChunk;
      for (let c = 0; c < done && this.spare.length < SPARE_CHUNKS; c++) this.spare.push(this.chunks[c]);
      this.chunks = this.chunks.slice(done);
      this.firstChunk = firstLive;
    }
  }

  /** Lets go of everything, and stops the sweeping; tables grown by a burst go back to their first size. */
  clear(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.live = 0;
    this.oldest = this.next;
    this.chunks = [];
    this.spare = [];
    if (this.ringMask + 1 > FIRST_RING) this.resizeRing(FIRST_RING);
    if (this.slots.length > FIRST_SLOTS) {
      this.slots = new Float64Array(FIRST_SLOTS);
      this.branchBits = FIRST_BRANCH_BITS;
      this.branchCounts = new Uint16Array(1 << FIRST_BRANCH_BITS);
    } else {
      this.slots.fill(0);
      this.branchCounts.fill(0);
    }
  }

  /** `seededHash` of the key, its branch's in lastBranchHash. */
  private hashKey(key: string): number {
    let h = this.seed;
    this.lastBranchHash = -1;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c === BAR && this.lastBranchHash < 0) this.lastBranchHash = mix(h);
      h = Math.imul(h ^ c, 16777619);
    }
    return mix(h);
  }

  /** The key of record r, read back from its bytes (for a new seed: rare, so a string is fine). */
  private storedKey(r: number): string {
    const pos = this.bytePos[r];
    const at = pos % CHUNK_BYTES;
    const wide = (this.flags[r] & WIDE_KEY) !== 0;
    return this.chunkAt(pos).toString(wide ? 'utf16le' : 'latin1', at, at + (wide ? 2 : 1) * this.keyLength[r]);
  }

  /** Where `length` bytes go: after the last record, or at the start of a new chunk when they do not fit. */
  private place(length: number): number {
    const offset = this.writePos % CHUNK_BYTES;
    if (offset + length > CHUNK_BYTES) this.writePos += CHUNK_BYTES - offset;
    const pos = this.writePos;
    const chunkNumber = Math.floor(pos / CHUNK_BYTES);
    if (this.chunks.length === 0) this.firstChunk = chunkNumber;
    if (chunkNumber >= this.firstChunk + this.chunks.length) this.chunks.push(this.spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES));
    this.writePos += length;
    return pos;
  }

  /** The chunk that holds byte `pos` (counted over all chunks ever made). */
  private chunkAt(pos: number): Buffer {
    return this.chunks[Math.floor(pos / CHUNK_BYTES) - this.firstChunk];
  }

  /** The slot that holds `key` (hash `h`), or the empty one where it would go. */
  private findSlot(key: string, h: number): number {
    const mask = this.slots.length - 1;
    let i = h & mask;
    for (let probes = 0; ; probes++) {
      const s = this.slots[i];
      if (s === 0) {
        if (probes >= CROWDED_PROBE) this.crowded = true;
        return i;
      }
      const r = (s - 1) & this.ringMask;
      if (this.keyHash[r] === h && this.keyLength[r] === key.length && this.sameKey(r, key)) return i;
      i = (i + 1) & mask;
    }
  }

  private sameKey(r: number, key: string): boolean {
    const pos = this.bytePos[r];
    const chunk = this.chunkAt(pos);
    let at = pos % CHUNK_BYTES;
    if (this.flags[r] & WIDE_KEY) {
      for (let i = 0; i < key.length; i++, at += 2) if (key.charCodeAt(i) !== (chunk[at] | (chunk[at + 1] << 8))) return false;
    } else {
      for (let i = 0; i < key.length; i++, at++) if (key.charCodeAt(i) !== chunk[at]) return false;
    }
    return true;
  }

  /** Stops holding `key`, if it is held. */
  private forget(key: string): void {
    if (this.live === 0) return;
    const i = this.findSlot(key, this.hashKey(key));
    if (this.slots[i] !== 0) this.deleteSlot(i);
  }

  /** The record `seq` has had its time: its key goes, unless a later hold of the same key took its slot. */
  private expire(seq: number): void {
    const r = seq & this.ringMask;
    const mask = this.slots.length - 1;
    let i = this.keyHash[r] & mask;
    while (this.slots[i] !== 0 && this.slots[i] !== seq + 1) i = (i + 1) & mask;
    if (this.slots[i] !== 0) this.deleteSlot(i);
  }

  /** Empties slot i (its key goes, with its branch count), by backward shift: no search then stops early. */
  private deleteSlot(i: number): void {
    const mask = this.slots.length - 1;
    const r = (this.slots[i] - 1) & this.ringMask;
    this.live--;
    if (this.flags[r] & HAS_BRANCH) this.countBranch(this.branchHash[r], -1);
    for (let j = (i + 1) & mask; this.slots[j] !== 0; j = (j + 1) & mask) {
      const home = this.keyHash[(this.slots[j] - 1) & this.ringMask] & mask;
      // the key at j may move to i when its home is not in (i, j], cyclically
      if (i <= j ? home > i && home <= j : home > i || home <= j) continue;
      this.slots[i] = this.slots[j];
      i = j;
    }
    this.slots[i] = 0;
  }

  private secondPosition(h: number): number {
    return Math.imul(h, 0x9e3779b1) >>> (32 - this.branchBits);
  }

  private countBranch(h: number, by: 1 | -1): void {
    this.count(h & ((1 << this.branchBits) - 1), by);
    this.count(this.secondPosition(h), by);
  }

  private count(position: number, by: 1 | -1): void {
    const c = this.branchCounts[position];
    // a count that reached the top stays there (the filter then says "may" for that position for ever)
    if (c !== 0xffff) this.branchCounts[position] = c + by;
  }

  /** Twice the slots (and branch counts), every live key placed again. */
  private growIndex(): void {
    this.rebuildIndex(this.slots.length * 2, this.branchBits + 1);
  }

  /**
   * A new random seed, every held key hashed again from its stored bytes and placed again. At most
   * once per half as many holds as keys are held, so that it costs each hold a constant share.
   */
  private reseed(): void {
    this.seed = randomBytes(4).readUInt32LE(0);
    this.seedChanges++;
    this.holdsSinceSeed = 0;
    for (const s of this.slots) {
      if (s === 0) continue;
      const r = (s - 1) & this.ringMask;
      this.keyHash[r] = this.hashKey(this.storedKey(r));
      if (this.flags[r] & HAS_BRANCH) this.branchHash[r] = this.lastBranchHash;
    }
    this.rebuildIndex(this.slots.length, this.branchBits);
  }

  private rebuildIndex(size: number, branchBits: number): void {
    const old = this.slots;
    this.slots = new Float64Array(size);
    this.branchBits = branchBits;
    this.branchCounts = new Uint16Array(1 << branchBits);
    const mask = size - 1;
    for (const s of old) {
      if (s === 0) continue;
      const r = (s - 1) & this.ringMask;
      let i = this.keyHash[r] & mask;
      while (this.slots[i] !== 0) i = (i + 1) & mask;
      this.slots[i] = s;
      if (this.flags[r] & HAS_BRANCH) this.countBranch(this.branchHash[r], 1);
    }
  }

  /** Twice the ring, the records not yet swept copied to their places in it. */
  private growRing(): void {
    this.resizeRing(2 * (this.ringMask + 1));
  }

  private resizeRing(size: number): void {
    const oldMask = this.ringMask;
    this.ringMask = size - 1;
    const move = <T extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(from: T, to: T): T => {
      for (let seq = this.oldest; seq < this.next; seq++) to[seq & this.ringMask] = from[seq & oldMask];
      return to;
    };
    this.expires = move(this.expires, new Float64Array(size));
    this.keyHash = move(this.keyHash, new Uint32Array(size));
    this.branchHash = move(this.branchHash, new Uint32Array(size));
    this.flags = move(this.flags, new Uint8Array(size));
    this.transport = move(this.transport, new Uint8Array(size));
    this.port = move(this.port, new Uint16Array(size));
    this.bytePos = move(this.bytePos, new Float64Array(size));
    this.keyLength = move(this.keyLength, new Uint32Array(size));
    this.addressLength = move(this.addressLength, new Uint16Array(size));
    this.dataLength = move(this.dataLength, new Uint32Array(size));
  }
}
