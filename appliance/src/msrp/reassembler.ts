import { MsrpError, type ByteRange } from './msrp-types.js';

/** A complete message put back together from its chunks. */
export interface AssembledMessage {
  messageId: string;
  contentType: string;
  body: Buffer;
}

interface Partial {
  contentType: string;
  /** fixed-size when the total is known, else grown as chunks arrive */
  data: Buffer;
  total: number | null;
  received: number;
}

/**
 * Puts SEND chunks back together by Message-ID and Byte-Range (RFC 4975 §7.3.1). Each
 * message is bounded by `maxMessageBytes` (our a=max-size, RFC 4975 §8.6): a chunk that would
 * take it past that is a 413, and the message is dropped.
 */
export class Reassembler {
  private readonly partial = new Map<string, Partial>();

  constructor(
    private readonly maxMessageBytes: number,
    /** messages being assembled at once, per session */
    private readonly maxInProgress = 16,
  ) {}

  /**
   * Adds one chunk; returns the message when it is complete. `continuation` `#` abandons the
   * message (RFC 4975 §7.1), `$` means this chunk is its last one.
   */
  add(messageId: string, range: ByteRange, contentType: string | undefined, body: Buffer, continuation: '$' | '+' | '#'): AssembledMessage | null {
    if (continuation === '#') {
      this.partial.delete(messageId);
      return null;
    }
    const end = range.start + body.length - 1;
    if (range.end !== null && continuation === '$' && end !== range.end) throw new MsrpError(400, 'Chunk length does not match its Byte-Range');
    if (range.total !== null && end > range.total) throw new MsrpError(400, 'Byte-Range past the total');
    if ((range.total ?? 0) > this.maxMessageBytes || end > this.maxMessageBytes) {
      this.partial.delete(messageId);
      throw new MsrpError(413, 'Message larger than the announced max-size');
    }
    let p = this.partial.get(messageId);
    if (p === undefined) {
      // a message in one chunk, the common case, is handed on without a copy
      if (range.start === 1 && continuation === '$' && (range.total === null || range.total === body.length)) {
        return { messageId, contentType: contentType ?? 'text/plain', body };
      }
      if (this.partial.size >= this.maxInProgress) throw new MsrpError(413, 'Too many messages in progress');
      p = { contentType: contentType ?? 'text/plain', data: Buffer.alloc(range.total ?? Math.max(end, 1024)), total: range.total, received: 0 };
      this.partial.set(messageId, p);
    }
    if (p.data.length < end) {
      const grown = Buffer.alloc(Math.min(this.maxMessageBytes, Math.max(end, p.data.length * 2)));
      p.data.copy(grown);
      p.data = grown;
    }
    body.copy(p.data, range.start - 1);
    p.received += body.length;
    const total = p.total ?? (continuation === '$' ? end : null);
    if (total !== null && p.received >= total) {
      this.partial.delete(messageId);
      return { messageId, contentType: p.contentType, body: p.data.subarray(0, total) };
    }
    return null;
  }

  /** Messages still incomplete (a closing session drops them). */
  get inProgress(): number {
    return this.partial.size;
  }
}
