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
/**
 * Records per block. Blocks are made as the records grow and let go of whole as they expire,
 * never copied: one ring that doubled copied every record not yet swept (90 ms at 500,000).
 */
const BLOCK_RECORDS = 1 << 14;
/** blocks let go of and kept to be written into again (fresh memory costs a trap a page) */
const SPARE_BLOCKS = 2;
/**
 * The key index is 256 tables, chosen by the hash's top 8 bits, each growing on its own: one
 * table of every key, doubled at once, stopped the process for 200 ms at 500,000 keys (and SIP
 * traffic with it), where one of 256 takes a 256th of that.
 */
const SHARD_SHIFT = 24;
const SHARDS = 1 << (32 - SHARD_SHIFT);
const FIRST_SHARD_SLOTS = 16;
/**
 * Positions in the branch filter, fixed: a filter that grew was counted again from every record
 * held. A branch's two positions lie in one 64-byte line (one cache miss a look, not two), and
 * 2^23 one-byte counters (8 MB, touched only where written) say "may" wrongly for about one
 * branch in twenty with a million held (32 s of 30,000 relayed calls/s; 15,000 until session 32,
 * when the challenge was held too), one in a
 * hundred at 400,000; each costs the raw key's read and a lookup (about 2 µs). Until session 31,
 * 2^21 two-byte counters anywhere said so for one in ten at 400,000 and two in five at a million:
 * most of a call's two requests were read twice at the rates the bench reaches.
 */
const BRANCH_BITS = 23;
/** counters in one cache line */
const LINE = 64;
/** A probe run this long means keys made to collide: the hash is seeded anew (see `reseed`). */
const CROWDED_PROBE = 128;
/** '|', which ends a key's branch (serverKeyOf) */
const BAR = 124;

/** What a record needs besides its bytes, for BLOCK_RECORDS records in a row of sequence numbers. */
class RecordBlock {
  readonly expires = new Float64Array(BLOCK_RECORDS);
  readonly keyHash = new Uint32Array(BLOCK_RECORDS);
  readonly branchHash = new Uint32Array(BLOCK_RECORDS);
  readonly flags = new Uint8Array(BLOCK_RECORDS);
  readonly transport = new Uint8Array(BLOCK_RECORDS);
  readonly port = new Uint16Array(BLOCK_RECORDS);
  /** where the record's bytes start, counted over all chunks ever made */
  readonly bytePos = new Float64Array(BLOCK_RECORDS);
  readonly keyLength = new Uint32Array(BLOCK_RECORDS);
  readonly addressLength = new Uint16Array(BLOCK_RECORDS);
  readonly dataLength = new Uint32Array(BLOCK_RECORDS);
}

/**
 * One of the key index's tables: for each slot, sequence number + 1 (0: an empty slot) and
 * beside it, in the same array, its key's hash, so that a probe reads the record only when the
 * hashes agree, moving keys (a deletion's backward shift, growing) reads no record at all, and a
 * look touches one cache line, not one in each of two arrays.
 */
class IndexTable {
  /** slot i: [2i] sequence number + 1, [2i + 1] the key's hash */
  readonly slots: Float64Array;
  /** slots in it (a power of two) */
  readonly size: number;
  /** keys held in it */
  live = 0;

  constructor(size: number) {
    this.size = size;
    this.slots = new Float64Array(2 * size);
  }

  seq(i: number): number {
    return this.slots[2 * i];
  }

  set(i: number, s: number, h: number): void {
    this.slots[2 * i] = s;
    this.slots[2 * i + 1] = h;
  }

  /** Puts sequence number + 1 `s` of hash `h` in the first empty slot from h's home. */
  place(s: number, h: number): void {
    const mask = this.size - 1;
    let i = h & mask;
    while (this.slots[2 * i] !== 0) i = (i + 1) & mask;
    this.set(i, s, h);
  }

  /** The same keys in a table twice the size. */
  grown(): IndexTable {
    const into = new IndexTable(2 * this.size);
    for (let j = 0; j < this.size; j++) if (this.slots[2 * j] !== 0) into.place(this.slots[2 * j], this.slots[2 * j + 1]);
    into.live = this.live;
    return into;
  }

  /** Empties slot i, by backward shift: no search then stops early. */
  empty(i: number): void {
    const mask = this.size - 1;
    for (let j = (i + 1) & mask; this.slots[2 * j] !== 0; j = (j + 1) & mask) {
      const home = this.slots[2 * j + 1] & mask;
      // the key at j may move to i when its home is not in (i, j], cyclically
      if (i <= j ? home > i && home <= j : home > i || home <= j) continue;
      this.set(i, this.slots[2 * j], this.slots[2 * j + 1]);
      i = j;
    }
    this.slots[2 * i] = 0;
    this.live--;
  }
}

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
 * At 3,000 calls/s that was about 190,000 responses held at any time (the 407 and the relayed
 * answer of each call, 32 s); since session 32 the 407 is made again instead (AtOnceMemo), and
 * a call leaves only its relayed answer here. Held as JavaScript objects (a Map entry, the key, a Buffer, the
 * destination), every one outlived two young-generation collections, was copied into the old
 * generation and marked there until it died: a third of the process's collection work, for data
 * that is only ever read again on a retransmission. So they live outside the heap:
 *
 * - the bytes (key, address, response) in 1 MB chunks, appended in arrival order;
 * - what each record needs besides (hashes, expiry, lengths, port) in typed arrays, in blocks
 *   of BLOCK_RECORDS records by sequence number;
 * - the key → record index, 256 open-addressing tables of sequence numbers (linear probing,
 *   deletion by backward shift), each at most half full;
 * - the branches held, a counting filter with two positions per branch, for the cheap first look
 *   (`mayHoldBranch`): it may say yes for a branch it does not hold, never no for one it does.
 *
 * Nothing grows by copying everything at once, so growing never stops the process for long,
 * however many are held. A new seed (below) does rehash every key at once (about a second at
 * 400,000): it comes only with keys made to collide, at most once per half as many holds as keys.
 *
 * Keys are chosen by whoever sends us requests, so the hash is seeded per process (a Map's is too)
 * and a probe run that grows long anyway, keys made to collide, seeds it anew.
 *
 * Every record lives the same time, so they expire in the order they came: one sweep walks the
 * records from the oldest and drops the blocks and chunks nothing live is in any more (a few are
 * kept to be written into again). Time is the monotonic clock, so a wall clock set back stops nothing
 * from expiring.
 */
export class CompletedResponses {
  /** blocks[0] holds the records from sequence number firstBlock × BLOCK_RECORDS */
  private blocks: RecordBlock[] = [];
  private spareBlocks: RecordBlock[] = [];
  private firstBlock = 0;
  /** the oldest record not yet swept, and the next to be made */
  private oldest = 0;
  private next = 0;

  /** key → sequence number + 1 (0: empty slot), in the table the key hash's top bits choose */
  private shards = freshShards();
  private live = 0;
  /** branch counts, two positions per branch */
  private branchCounts = new Uint8Array(1 << BRANCH_BITS);
  private branchesCounted = false;

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
  /** the branch hash of the last key hashed by `hashKey` or `writeKey` (-1: the key has no '|') */
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
    // the usual key is Latin-1, one byte a character; another is written again after it as
    // UTF-16 (what the first try wrote is left behind)
    let pos = this.place(key.length + address.length + data.length);
    let chunk = this.chunkAt(pos);
    let at = pos % CHUNK_BYTES;
    let h = this.writeKey(key, chunk, at);
    const wide = h < 0;
    if (wide) {
      pos = this.place(2 * key.length + address.length + data.length);
      chunk = this.chunkAt(pos);
      at = pos % CHUNK_BYTES;
      chunk.write(key, at, 'utf16le');
      at += 2 * key.length;
      h = this.hashKey(key);
    } else at += key.length;
    // an IP literal: anything else is not an address we send datagrams to
    if (!writeLatin1(address, chunk, at)) {
      this.forget(key);
      return;
    }
    chunk.set(data, at + address.length);
    const branch = branched ? this.lastBranchHash : -1;
    const seq = this.next++;
    const b = this.blockFor(seq);
    const r = seq % BLOCK_RECORDS;
    b.expires[r] = now + this.holdMs;
    b.keyHash[r] = h;
    b.branchHash[r] = branch < 0 ? 0 : branch;
    b.flags[r] = (branch < 0 ? 0 : HAS_BRANCH) | (wide ? WIDE_KEY : 0);
    b.transport[r] = TRANSPORTS.indexOf(dest.transport);
    b.port[r] = dest.port;
    b.bytePos[r] = pos;
    b.keyLength[r] = key.length;
    b.addressLength[r] = address.length;
    b.dataLength[r] = data.length;

    const shard = h >>> SHARD_SHIFT;
    const table = this.shards[shard];
    const i = this.findSlot(table, key, h);
    if (table.seq(i) !== 0) {
      // held again: the older record is now only bytes to sweep past; its branch count goes with it
      const old = table.seq(i) - 1;
      const ob = this.blockOf(old);
      if (ob.flags[old % BLOCK_RECORDS] & HAS_BRANCH) this.countBranch(ob.branchHash[old % BLOCK_RECORDS], -1);
      table.set(i, seq + 1, h);
    } else {
      table.set(i, seq + 1, h);
      table.live++;
      this.live++;
    }
    if (branch >= 0) this.countBranch(branch, 1);
    this.holdsSinceSeed++;
    if (2 * table.live > table.size) this.shards[shard] = table.grown();
    else if (this.crowded && 2 * this.holdsSinceSeed >= this.live) this.reseed();
    this.crowded = false;
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), Math.min(1000, this.holdMs));
      this.timer.unref();
    }
  }

  /** Whether `key` is held (until its record is swept). */
  has(key: string): boolean {
    if (this.live === 0) return false;
    const h = this.hashKey(key);
    const table = this.shards[h >>> SHARD_SHIFT];
    return table.seq(this.findSlot(table, key, h)) !== 0;
  }

  /** The response to resend for a retransmitted request, if its transaction completed lately. */
  get(key: string): { data: Buffer; dest: Destination } | undefined {
    if (this.live === 0) return undefined;
    const h = this.hashKey(key);
    const table = this.shards[h >>> SHARD_SHIFT];
    const i = this.findSlot(table, key, h);
    if (table.seq(i) === 0) return undefined;
    const seq = table.seq(i) - 1;
    const b = this.blockOf(seq);
    const r = seq % BLOCK_RECORDS;
    const pos = b.bytePos[r];
    const chunk = this.chunkAt(pos);
    const addressAt = (pos % CHUNK_BYTES) + (b.flags[r] & WIDE_KEY ? 2 : 1) * b.keyLength[r];
    const dataAt = addressAt + b.addressLength[r];
    return {
      // a copy, so that a send queue holding it does not hold the whole chunk past its records' time
      data: Buffer.from(chunk.subarray(dataAt, dataAt + b.dataLength[r])),
      dest: { transport: TRANSPORTS[b.transport[r]], address: chunk.toString('latin1', addressAt, dataAt), port: b.port[r] },
    };
  }

  /**
   * Whether a key with this branch may be held (`get` decides). False means none is; true may
   * be wrong (see BRANCH_BITS), and then only costs the raw key's read.
   */
  mayHoldBranch(branch: string): boolean {
    if (this.live === 0) return false;
    const h = seededHash(branch, this.seed);
    const first = firstPosition(h);
    return this.branchCounts[first] > 0 && this.branchCounts[secondPosition(first, h)] > 0;
  }

  /** Lets go of every response held past its time (`now`: ms, monotonic). */
  sweep(now = performance.now()): void {
    // a block at a time: its records in order, until one that has not had its time
    for (let going = true; going && this.oldest < this.next; ) {
      const b = this.blockOf(this.oldest);
      const base = this.oldest - (this.oldest % BLOCK_RECORDS);
      const end = Math.min(this.next, base + BLOCK_RECORDS);
      let seq = this.oldest;
      for (; seq < end; seq++) {
        if (b.expires[seq - base] > now) {
          going = false;
          break;
        }
        this.expire(b, seq - base, seq);
      }
      this.oldest = seq;
    }
    if (this.oldest === this.next) {
      this.clear();
      return;
    }
    const firstLiveBlock = Math.floor(this.oldest / BLOCK_RECORDS);
    if (firstLiveBlock > this.firstBlock) {
      const done = firstLiveBlock - this.firstBlock;
      for (let c = 0; c < done && this.spareBlocks.length < SPARE_BLOCKS; c++) this.spareBlocks.push(this.blocks[c]);
      this.blocks = this.blocks.slice(done);
      this.firstBlock = firstLiveBlock;
    }
    const firstLive = Math.floor(this.blockOf(this.oldest).bytePos[this.oldest % BLOCK_RECORDS] / CHUNK_BYTES);
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
    this.blocks = [];
    this.spareBlocks = [];
    this.shards = freshShards();
    // a fresh filter rather than one written with zeros: its pages are not touched until used
    if (this.branchesCounted) this.branchCounts = new Uint8Array(1 << BRANCH_BITS);
    this.branchesCounted = false;
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

  /**
   * `key` written at `at` one byte a character and hashed as `hashKey` hashes it, in one pass
   * over the key instead of two: its hash, or -1 for a character past Latin-1 (then the key
   * is written again as UTF-16 and hashed on its own). Sets `lastBranchHash` only when it
   * returns a hash.
   */
  private writeKey(key: string, chunk: Buffer, at: number): number {
    let h = this.seed;
    let branch = -1;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c > 255) return -1;
      chunk[at + i] = c;
      if (c === BAR && branch < 0) branch = mix(h);
      h = Math.imul(h ^ c, 16777619);
    }
    this.lastBranchHash = branch;
    return mix(h);
  }

  /** The block that holds record `seq`. */
  private blockOf(seq: number): RecordBlock {
    return this.blocks[Math.floor(seq / BLOCK_RECORDS) - this.firstBlock];
  }

  /** The block for the new record `seq` (the next to be made), added when it starts one. */
  private blockFor(seq: number): RecordBlock {
    const n = Math.floor(seq / BLOCK_RECORDS);
    if (this.blocks.length === 0) this.firstBlock = n;
    if (n >= this.firstBlock + this.blocks.length) this.blocks.push(this.spareBlocks.pop() ?? new RecordBlock());
    return this.blocks[n - this.firstBlock];
  }

  /** The key of record `seq`, read back from its bytes (for a new seed: rare, so a string is fine). */
  private storedKey(seq: number): string {
    const b = this.blockOf(seq);
    const r = seq % BLOCK_RECORDS;
    const pos = b.bytePos[r];
    const at = pos % CHUNK_BYTES;
    const wide = (b.flags[r] & WIDE_KEY) !== 0;
    return this.chunkAt(pos).toString(wide ? 'utf16le' : 'latin1', at, at + (wide ? 2 : 1) * b.keyLength[r]);
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

  /** The slot of `table` (the one for hash `h`) that holds `key`, or the empty one where it would go. */
  private findSlot(table: IndexTable, key: string, h: number): number {
    const mask = table.size - 1;
    const slots = table.slots;
    let i = h & mask;
    for (let probes = 0; ; probes++) {
      const s = slots[2 * i];
      if (s === 0) {
        if (probes >= CROWDED_PROBE) this.crowded = true;
        return i;
      }
      if (slots[2 * i + 1] === h) {
        const seq = s - 1;
        const b = this.blockOf(seq);
        const r = seq % BLOCK_RECORDS;
        if (b.keyLength[r] === key.length && this.sameKey(b, r, key)) return i;
      }
      i = (i + 1) & mask;
    }
  }

  /** Whether record r of block b has the key `key`. */
  private sameKey(b: RecordBlock, r: number, key: string): boolean {
    const pos = b.bytePos[r];
    const chunk = this.chunkAt(pos);
    let at = pos % CHUNK_BYTES;
    if (b.flags[r] & WIDE_KEY) {
      for (let i = 0; i < key.length; i++, at += 2) if (key.charCodeAt(i) !== (chunk[at] | (chunk[at + 1] << 8))) return false;
    } else {
      for (let i = 0; i < key.length; i++, at++) if (key.charCodeAt(i) !== chunk[at]) return false;
    }
    return true;
  }

  /** Stops holding `key`, if it is held. */
  private forget(key: string): void {
    if (this.live === 0) return;
    const h = this.hashKey(key);
    const table = this.shards[h >>> SHARD_SHIFT];
    const i = this.findSlot(table, key, h);
    if (table.seq(i) !== 0) this.deleteSlot(table, i);
  }

  /** The record `seq` (in block b at r) has had its time: its key goes, unless a later hold of the same key took its slot. */
  private expire(b: RecordBlock, r: number, seq: number): void {
    const h = b.keyHash[r];
    const table = this.shards[h >>> SHARD_SHIFT];
    const mask = table.size - 1;
    let i = h & mask;
    while (table.seq(i) !== 0 && table.seq(i) !== seq + 1) i = (i + 1) & mask;
    if (table.seq(i) !== 0) this.deleteSlot(table, i);
  }

  /** Empties slot i of `table`: its key goes, with its branch count. */
  private deleteSlot(table: IndexTable, i: number): void {
    const seq = table.seq(i) - 1;
    const b = this.blockOf(seq);
    if (b.flags[seq % BLOCK_RECORDS] & HAS_BRANCH) this.countBranch(b.branchHash[seq % BLOCK_RECORDS], -1);
    this.live--;
    table.empty(i);
  }

  private countBranch(h: number, by: 1 | -1): void {
    this.branchesCounted = true;
    const first = firstPosition(h);
    this.count(first, by);
    this.count(secondPosition(first, h), by);
  }

  private count(position: number, by: 1 | -1): void {
    const c = this.branchCounts[position];
    // a count that reached the top stays there (the filter then says "may" for that position for ever)
    if (c !== 0xff) this.branchCounts[position] = c + by;
  }

  /**
   * A new random seed, every held key hashed again from its stored bytes and placed again. At most
   * once per half as many holds as keys are held, so that it costs each hold a constant share.
   */
  private reseed(): void {
    this.seed = randomBytes(4).readUInt32LE(0);
    this.seedChanges++;
    this.holdsSinceSeed = 0;
    const held: number[] = [];
    for (const table of this.shards) for (let i = 0; i < table.size; i++) if (table.seq(i) !== 0) held.push(table.seq(i) - 1);
    this.shards = freshShards();
    this.branchCounts = new Uint8Array(1 << BRANCH_BITS);
    for (const seq of held) {
      const b = this.blockOf(seq);
      const r = seq % BLOCK_RECORDS;
      const h = this.hashKey(this.storedKey(seq));
      b.keyHash[r] = h;
      if (b.flags[r] & HAS_BRANCH) {
        b.branchHash[r] = this.lastBranchHash;
        this.countBranch(this.lastBranchHash, 1);
      }
      const shard = h >>> SHARD_SHIFT;
      let table = this.shards[shard];
      if (2 * (table.live + 1) > table.size) table = this.shards[shard] = table.grown();
      table.place(seq + 1, h);
      table.live++;
    }
  }
}

function freshShards(): IndexTable[] {
  return Array.from({ length: SHARDS }, () => new IndexTable(FIRST_SHARD_SLOTS));
}

function firstPosition(h: number): number {
  return h & ((1 << BRANCH_BITS) - 1);
}

/** In the first position's line, never the first position itself: the hash's top 7 bits, which `firstPosition` did not use. */
function secondPosition(first: number, h: number): number {
  return (first & ~(LINE - 1)) | ((first + 1 + ((h >>> 25) % (LINE - 1))) & (LINE - 1));
}
