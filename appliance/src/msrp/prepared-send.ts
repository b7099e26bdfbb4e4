import { formatByteRange } from './msrp-serializer.js';

/** How a prepared message is sent (RFC 4975 §7.1.2 report headers). */
export interface PrepareOptions {
  messageId: string;
  /** the chunk size (RFC 4975 §5.1); a body that fits is one chunk */
  chunkBytes: number;
  successReport?: boolean;
  failureReport?: 'yes' | 'no' | 'partial';
}

/** One chunk's bytes shared by every leg, and its continuation flag. */
interface SharedChunk {
  /** from the Message-ID header to the end-line's seven dashes, the body included */
  middle: Buffer;
  flag: '$' | '+';
}

const START = 'MSRP ';
const SEND = ' SEND\r\n';

/**
 * A message's SEND requests serialized once, for any number of sessions (RFC 4975 §7.1). Of a
 * SEND's bytes only three things belong to one session: the transaction id (in the start line
 * and the end-line), and To-Path and From-Path (the two headers that follow the start line).
 * Everything from Message-ID to the end-line's dashes — the other headers, the body — is the
 * same for every leg, so it is written here once per chunk, and `bytesFor` splices each leg's
 * parts around it: a room of 100 copies the body 99 times instead of building 99 messages.
 * The same Message-ID goes on every leg: it names the message to the receiver of one session
 * (RFC 4975 §7.1.1), and each leg is its own session.
 *
 * @example
 * const p = new PreparedSend('message/cpim', body, { messageId: newIdent(), chunkBytes: 16384 });
 * for (const leg of legs) leg.sendPrepared(p);
 */
export class PreparedSend {
  readonly chunks: readonly SharedChunk[];
  readonly messageId: string;
  readonly failureReport: 'yes' | 'no' | 'partial';
  /** the body's length in bytes */
  readonly length: number;

  /** `contentType` null: the empty SEND that binds a connection (RFC 4975 §5.4), no body at all. */
  constructor(contentType: string | null, body: Buffer, opts: PrepareOptions) {
    this.messageId = opts.messageId;
    this.failureReport = opts.failureReport ?? 'yes';
    this.length = body.length;
    let headers = `Message-ID: ${opts.messageId}\r\n`;
    if (opts.successReport) headers += 'Success-Report: yes\r\n';
    if (this.failureReport !== 'yes') headers += `Failure-Report: ${this.failureReport}\r\n`;
    if (contentType === null) {
      this.chunks = [{ middle: Buffer.from(`${headers}Byte-Range: ${formatByteRange(1, 0, 0)}\r\n-------`, 'utf8'), flag: '$' }];
      return;
    }
    const chunks: SharedChunk[] = [];
    // an empty body is one chunk with nothing between the blank line and the end-line
    for (let at = 0; at < body.length || chunks.length === 0; at += opts.chunkBytes) {
      const part = body.subarray(at, at + opts.chunkBytes);
      const head = Buffer.from(`${headers}Byte-Range: ${formatByteRange(at + 1, part.length, body.length)}\r\nContent-Type: ${contentType}\r\n\r\n`, 'utf8');
      // RFC 4975 §7.1: CRLF data CRLF end-line; the end-line's dashes are shared too
      const middle = Buffer.allocUnsafe(head.length + part.length + 9);
      head.copy(middle, 0);
      part.copy(middle, head.length);
      middle.write('\r\n-------', head.length + part.length, 'latin1');
      chunks.push({ middle, flag: at + opts.chunkBytes >= body.length ? '$' : '+' });
    }
    this.chunks = chunks;
  }

  /**
   * Chunk `index` as one leg sends it: `MSRP <tid> SEND`, the leg's To-Path and From-Path lines
   * (`paths`, from {@link pathLines}), the shared bytes, then `<tid><flag>` CRLF closing the
   * end-line. One buffer, so the socket gets one write per chunk.
   */
  bytesFor(index: number, tid: string, paths: Buffer): Buffer {
    const { middle, flag } = this.chunks[index];
    // a transaction id is ASCII (RFC 4975 §9 ident), one byte per character
    const out = Buffer.allocUnsafe(START.length + tid.length + SEND.length + paths.length + middle.length + tid.length + 3);
    let at = out.write(START, 0, 'latin1');
    at += out.write(tid, at, 'latin1');
    at += out.write(SEND, at, 'latin1');
    at += paths.copy(out, at);
    at += middle.copy(out, at);
    at += out.write(tid, at, 'latin1');
    out[at] = flag.charCodeAt(0);
    out[at + 1] = 13;
    out[at + 2] = 10;
    return out;
  }
}

/** The To-Path and From-Path header lines of one session's requests (RFC 4975 §7.1: they come first). */
export function pathLines(toPath: string, fromPath: string): Buffer {
  return Buffer.from(`To-Path: ${toPath}\r\nFrom-Path: ${fromPath}\r\n`, 'utf8');
}
