import type { Destination, TransportName } from '../transport/transport-types.js';

/** Bytes of one chunk of held responses; a record never spans two. */
const CHUNK_BYTES = 1 << 20;
const TRANSPORTS: readonly TransportName[] = ['UDP', 'TCP', 'TLS', 'WS', 'WSS'];
/** record flags */
const HAS_BRANCH = 1;
const WIDE_KEY = 2;

/** FNV-1a over a string's UTF-16 code units. */
function hashOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * Writes `text` into `chunk` at `at`, one byte a character, and returns its hash (as `hashOf`); -1
 * when a character is beyond Latin-1 (what was written is then of no use).
 */
function writeLatin1(text: string, chunk: Buffer, at: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 255) return -1;
    chunk[at + i] = c;
    h = Math.imul(h ^ c, 16777619);
  }
  return h >>> 0;
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
 * - what each record needs besides (hash, expiry, lengths, port) in typed arrays, a ring indexed
 *   by the record's sequence number;
 * - the key → record index, an open-addressing table of sequence numbers (linear probing,
 *   deletion by backward shift), at most half full;
 * - the branches held, a counting filter with two positions per branch, for the cheap first look
 *   (`mayHoldBranch`): it may say yes for a branch it does not hold, never no for one it does.
 *
 * Every record lives the same time, so they expire in the order they came: one sweep walks the
 * ring from its oldest record and drops chunks nothing live is in any more.
 */
export class CompletedResponses {
  // the ring of records, indexed by sequence number & ringMask
  private ringMask = 1023;
  private expires = new Float64Array(1024);
  private keyHash = new Uint32Array(1024);
  private branchHash = new Uint32Array(1024);
  private flags = new Uint8Array(1024);
  private transport = new Uint8Array(1024);
  private port = new Uint16Array(1024);
  /** where the record's bytes start, counted over all chunks ever made */
  private bytePos = new Float64Array(1024);
  private keyLength = new Uint32Array(1024);
  private addressLength = new Uint16Array(1024);
  private dataLength = new Uint32Array(1024);
  /** the oldest record not yet swept, and the next to be made */
  private oldest = 0;
  private next = 0;

  /** key → sequence number + 1 (0: empty slot) */
  private slots = new Float64Array(2048);
  private live = 0;
  /** branch counts, two positions per branch; as many as four slots each, so few false yeses */
  private branchCounts = new Uint16Array(8192);
  private branchBits = 13;

  /** chunks[0] is chunk number `firstChunk`; bytes go at `writePos` (counted over all chunks) */
  private chunks: Buffer[] = [];
  private firstChunk = 0;
  private writePos = 0;

  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly holdMs: number) {}

  /** How many keys are held. */
  get size(): number {
    return this.live;
  }

  /**
   * Holds the final response of the transaction `key`, whose branch is `branch` (null: none, an
   * RFC 2543 key), until `holdMs` from `now`. Holding a key again replaces its response and
   * starts its time again. Only a datagram's destination is kept (transport, address, port):
   * Timer J is zero over reliable transports (RFC 3261 §17.2.2), so nothing else is held.
   */
  hold(key: string, branch: string | null, data: Buffer, dest: Destination, now = Date.now()): void {
    const address = dest.address;
    // a UDP response is under 64 kB, its key under twice that: larger is not a datagram's
    if (2 * key.length + address.length + data.length > CHUNK_BYTES) return;
    if (this.next - this.oldest > this.ringMask) this.growRing();
    const seq = this.next++;
    const r = seq & this.ringMask;
    // the usual key is Latin-1, one byte a character, written and hashed in one pass; another is
    // written again after it as UTF-16 (what the first try wrote is left behind)
    let pos = this.place(key.length + address.length + data.length);
    let chunk = this.chunkAt(pos);
    let at = pos % CHUNK_BYTES;
    let h = writeLatin1(key, chunk, at);
    const wide = h < 0;
    if (wide) {
      pos = this.place(2 * key.length + address.length + data.length);
      chunk = this.chunkAt(pos);
      at = pos % CHUNK_BYTES;
      chunk.write(key, at, 'utf16le');
      h = hashOf(key);
      at += 2 * key.length;
    } else at += key.length;
    writeLatin1(address, chunk, at); // an IP literal
    chunk.set(data, at + address.length);
    this.expires[r] = now + this.holdMs;
    this.keyHash[r] = h;
    this.branchHash[r] = branch === null ? 0 : hashOf(branch);
    this.flags[r] = (branch === null ? 0 : HAS_BRANCH) | (wide ? WIDE_KEY : 0);
    this.transport[r] = TRANSPORTS.indexOf(dest.transport);
    this.port[r] = dest.port;
    this.bytePos[r] = pos;
    this.keyLength[r] = key.length;
    this.addressLength[r] = dest.address.length;
    this.dataLength[r] = data.length;

    const i = this.findSlot(key, h);
    if (this.slots[i] !== 0) {
      this.slots[i] = seq + 1; // held again: the older record is now only bytes to sweep past
    } else {
      this.slots[i] = seq + 1;
      this.live++;
      if (branch !== null) this.countBranch(this.branchHash[r], 1);
      if (2 * this.live > this.slots.length) this.growIndex();
    }
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), Math.min(1000, this.holdMs));
      this.timer.unref();
    }
  }

  /** Whether `key` is held (until its record is swept). */
  has(key: string): boolean {
    return this.live > 0 && this.slots[this.findSlot(key, hashOf(key))] !== 0;
  }

  /** The response to resend for a retransmitted request, if its transaction completed lately. */
  get(key: string): { data: Buffer; dest: Destination } | undefined {
    if (this.live === 0) return undefined;
    const i = this.findSlot(key, hashOf(key));
    if (this.slots[i] === 0) return undefined;
    const r = (this.slots[i] - 1) & this.ringMask;
    const pos = this.bytePos[r];
    const chunk = this.chunkAt(pos);
    const addressAt = (pos % CHUNK_BYTES) + (this.flags[r] & WIDE_KEY ? 2 : 1) * this.keyLength[r];
    const dataAt = addressAt + this.addressLength[r];
    return {
      // a copy: the chunk is let go of once its records expire, and this may wait in a send queue
      data: Buffer.from(chunk.subarray(dataAt, dataAt + this.dataLength[r])),
      dest: { transport: TRANSPORTS[this.transport[r]], address: chunk.toString('latin1', addressAt, dataAt), port: this.port[r] },
    };
  }

  /**
   * Whether a key with this branch may be held (`get` decides). False means none is; true may
   * be wrong, about once in twenty at the most, and then only costs the raw key's read.
   */
  mayHoldBranch(branch: string): boolean {
    if (this.live === 0) return false;
    const h = hashOf(branch);
    return this.branchCounts[h & ((1 << this.branchBits) - 1)] > 0 && this.branchCounts[this.secondPosition(h)] > 0;
  }

  /** Lets go of every response held past its time. */
  sweep(now = Date.now()): void {
    while (this.oldest < this.next && this.expires[this.oldest & this.ringMask] <= now) this.expire(this.oldest++);
    if (this.oldest === this.next) {
      this.clear();
      return;
    }
    const firstLive = Math.floor(this.bytePos[this.oldest & this.ringMask] / CHUNK_BYTES);
    if (firstLive > this.firstChunk) {
      this.chunks = this.chunks.slice(firstLive - this.firstChunk);
      this.firstChunk = firstLive;
    }
  }

  /** Lets go of everything, and stops the sweeping. */
  clear(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.slots.fill(0);
    this.branchCounts.fill(0);
    this.live = 0;
    this.oldest = this.next;
    this.chunks = [];
  }

  /** Where `length` bytes go: after the last record, or at the start of a new chunk when they do not fit. */
  private place(length: number): number {
    const offset = this.writePos % CHUNK_BYTES;
    if (offset + length > CHUNK_BYTES) this.writePos += CHUNK_BYTES - offset;
    const pos = this.writePos;
    const chunkNumber = Math.floor(pos / CHUNK_BYTES);
    if (this.chunks.length === 0) this.firstChunk = chunkNumber;
    if (chunkNumber >= this.firstChunk + this.chunks.length) this.chunks.push(Buffer.allocUnsafeSlow(CHUNK_BYTES));
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
    for (;;) {
      const s = this.slots[i];
      if (s === 0) return i;
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

  /** The record `seq` has had its time: its key goes, unless a later hold of the same key took its slot. */
  private expire(seq: number): void {
    const r = seq & this.ringMask;
    const mask = this.slots.length - 1;
    let i = this.keyHash[r] & mask;
    while (this.slots[i] !== 0 && this.slots[i] !== seq + 1) i = (i + 1) & mask;
    if (this.slots[i] === 0) return;
    this.live--;
    if (this.flags[r] & HAS_BRANCH) this.countBranch(this.branchHash[r], -1);
    // backward-shift deletion: later keys of the probe run move up, so no search stops early
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
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2);
    this.branchBits++;
    this.branchCounts = new Uint16Array(1 << this.branchBits);
    const mask = this.slots.length - 1;
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
    const oldMask = this.ringMask;
    const size = 2 * (oldMask + 1);
    this.ringMask = size - 1;
    const grow = <T extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(from: T, to: T): T => {
      for (let seq = this.oldest; seq < this.next; seq++) to[seq & this.ringMask] = from[seq & oldMask];
      return to;
    };
    this.expires = grow(this.expires, new Float64Array(size));
    this.keyHash = grow(this.keyHash, new Uint32Array(size));
    this.branchHash = grow(this.branchHash, new Uint32Array(size));
    this.flags = grow(this.flags, new Uint8Array(size));
    this.transport = grow(this.transport, new Uint8Array(size));
    this.port = grow(this.port, new Uint16Array(size));
    this.bytePos = grow(this.bytePos, new Float64Array(size));
    this.keyLength = grow(this.keyLength, new Uint32Array(size));
    this.addressLength = grow(this.addressLength, new Uint16Array(size));
    this.dataLength = grow(this.dataLength, new Uint32Array(size));
  }
}
