import { type ParseLimits, type ParseOutcome, type Rejected, type Head, DEFAULT_LIMITS, parseHead, contentLength, build } from './parser.js';

/** What a stream framer hands back for each complete message or framing failure. */
export type FramedItem =
  | { kind: 'message'; outcome: ParseOutcome }
  /** the framing is lost: answer if possible, then close (RFC 3261 §18.3) */
  | { kind: 'fatal'; rejected: Rejected | null }
  /** a CRLFCRLF keep-alive ping that wants a CRLF pong (RFC 5626 §3.5.1) */
  | { kind: 'ping' };

const CR = 13;
const LF = 10;

/**
 * Frames messages on a stream transport (TCP, TLS) by Content-Length, which
 * is mandatory there (RFC 3261 §18.3).
 *
 * The work is linear in the bytes received however they are cut: chunks are kept
 * in a list (never re-concatenated per chunk), the search for the end of the
 * header section resumes where the previous chunk left it, and each message is
 * copied out once. A peer that sends a 60 KB header one byte at a time costs
 * 60 KB of scanning, not 60 KB² (the earlier single-buffer framer did that).
 *
 * @example
 * const framer = new StreamFramer(limits);
 * socket.on('data', (chunk) => { for (const item of framer.push(chunk)) handle(item); });
 */
export class StreamFramer {
  /** unconsumed bytes, oldest first; the first chunk starts the current message */
  private chunks: Buffer[] = [];
  private length = 0;
  /** where the search for the end of the header section resumes: chunk index and offset in it */
  private scanChunk = 0;
  private scanOffset = 0;
  /** bytes of the current message before (scanChunk, scanOffset) */
  private scanned = 0;
  /** the current message's header section, once its end was found */
  private head: { head: Head; bodyStart: number; total: number } | null = null;
  private dead = false;

  constructor(private readonly limits: ParseLimits = DEFAULT_LIMITS) {}

  /**
   * Whether part of a message has arrived but not all of it. Keep-alive bytes
   * between messages (RFC 5626 §3.5.1) do not count.
   */
  get midMessage(): boolean {
    return this.length > 0 && !this.startsWithKeepAlivePrefix();
  }

  /** Bytes held for the current message. */
  get buffered(): number {
    return this.length;
  }

  /** Forgets everything and ignores any further input (after a fatal framing error). */
  discard(): void {
    this.dead = true;
    this.chunks = [];
    this.length = 0;
    this.head = null;
  }

  push(chunk: Buffer): FramedItem[] {
    const out: FramedItem[] = [];
    if (this.dead || chunk.length === 0) return out;
    this.chunks.push(chunk);
    this.length += chunk.length;
    for (;;) {
      if (this.head === null) {
        if (this.scanned === 0 && !this.skipKeepAlives(out)) return out;
        const end = this.findHeadEnd();
        if (end === null) {
          if (this.length > this.limits.maxMessageBytes) this.fail(out, null);
          return out;
        }
        const head = parseHead(this.copy(0, end.headEnd).toString('utf8'));
        const isRequest = !head.startLine.startsWith('SIP/');
        const cl = contentLength(head.headers);
        if (cl === null || typeof cl === 'string') {
          this.fail(out, { status: 400, reason: cl ?? 'Missing Content-Length on a stream transport', isRequest, headers: head.headers });
          return out;
        }
        const total = end.bodyStart + cl;
        if (total > this.limits.maxMessageBytes) {
          this.fail(out, { status: 513, reason: 'Message Too Large', isRequest, headers: head.headers });
          return out;
        }
        this.head = { head, bodyStart: end.bodyStart, total };
      }
      const { head, bodyStart, total } = this.head;
      if (this.length < total) return out;
      const body = this.copy(bodyStart, total);
      this.consume(total);
      out.push({ kind: 'message', outcome: build(head, body, total, this.limits) });
    }
  }

  private fail(out: FramedItem[], rejected: Rejected | null): void {
    out.push({ kind: 'fatal', rejected });
    this.discard();
  }

  /** The byte at `i` of the pending data (i small: used at the front only). */
  private byteAt(i: number): number {
    for (const c of this.chunks) {
      if (i < c.length) return c[i];
      i -= c.length;
    }
    return -1;
  }

  private startsWithKeepAlivePrefix(): boolean {
    if (this.length > 3 || this.head !== null || this.scanned > 0) return false;
    for (let i = 0; i < this.length; i++) if (this.byteAt(i) !== (i % 2 === 0 ? CR : LF)) return false;
    return true;
  }

  /**
   * Keep-alives between messages: CRLFCRLF is a ping, a lone CRLF a pong (RFC 5626 §3.5.1).
   * A prefix of CRLFCRLF waits for the next byte, so a ping cut in two is still a ping.
   * Returns false when nothing but such a prefix is left.
   */
  private skipKeepAlives(out: FramedItem[]): boolean {
    for (;;) {
      if (this.length === 0) return false;
      if (this.byteAt(0) !== CR) return true;
      if (this.startsWithKeepAlivePrefix()) return false;
      if (this.byteAt(1) !== LF) return true;
      if (this.byteAt(2) === CR && this.byteAt(3) === LF) {
        out.push({ kind: 'ping' });
        this.consume(4);
      } else this.consume(2);
    }
  }

  /** The byte `back` positions before (chunk k, offset o), or -1 before the message start. */
  private byteBefore(k: number, o: number, back: number): number {
    o -= back;
    while (o < 0) {
      if (--k < 0) return -1;
      o += this.chunks[k].length;
    }
    return this.chunks[k][o];
  }

  /**
   * Finds the end of the header section, scanning only bytes not scanned before. Each LF is
   * checked against the bytes before it, which may lie in earlier chunks. Bare-LF messages
   * (as in the RFC 5118 examples) are tolerated: robustness, RFC 3261 §7.5 wants CRLF. The
   * first empty line wins, as with the datagram parser on any message that can be framed.
   */
  private findHeadEnd(): { headEnd: number; bodyStart: number } | null {
    while (this.scanChunk < this.chunks.length) {
      const c = this.chunks[this.scanChunk];
      const lf = c.indexOf(LF, this.scanOffset);
      if (lf < 0) {
        this.scanned += c.length - this.scanOffset;
        this.scanChunk++;
        this.scanOffset = 0;
        continue;
      }
      const at = this.scanned + (lf - this.scanOffset);
      this.scanned = at + 1;
      this.scanOffset = lf + 1;
      if (this.byteBefore(this.scanChunk, lf, 1) === LF) return { headEnd: at - 1, bodyStart: at + 1 };
      if (this.byteBefore(this.scanChunk, lf, 1) === CR && this.byteBefore(this.scanChunk, lf, 2) === LF && this.byteBefore(this.scanChunk, lf, 3) === CR) {
        return { headEnd: at - 3, bodyStart: at + 1 };
      }
    }
    return null;
  }

  /** Bytes [from, to) of the pending data, copied once into a buffer of their own. */
  private copy(from: number, to: number): Buffer {
    const out = Buffer.allocUnsafe(to - from);
    let pos = 0;
    let skip = from;
    for (const c of this.chunks) {
      if (pos === out.length) break;
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      pos += c.copy(out, pos, skip, Math.min(c.length, skip + out.length - pos));
      skip = 0;
    }
    return out;
  }

  /** Drops the first n bytes and starts a new message after them. */
  private consume(n: number): void {
    let k = 0;
    while (k < this.chunks.length && n >= this.chunks[k].length) {
      n -= this.chunks[k].length;
      this.length -= this.chunks[k].length;
      k++;
    }
    // one splice per message: shifting chunk by chunk would be quadratic in one-byte chunks
    this.chunks.splice(0, k);
    if (n > 0) {
      this.chunks[0] = this.chunks[0].subarray(n);
      this.length -= n;
    }
    this.head = null;
    this.scanChunk = 0;
    this.scanOffset = 0;
    this.scanned = 0;
  }
}
