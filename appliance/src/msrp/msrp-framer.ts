import { MsrpError, type MsrpMessage, type MsrpRequest } from './msrp-types.js';

/** Limits on what one connection may send us. */
export interface FramerLimits {
  /** the largest chunk body we hold (larger ones are discarded and answered 413) */
  maxChunkBytes: number;
  /** the largest start line + header block */
  maxHeaderBytes: number;
}

/** What the framer hands on: a message, or a request it could frame but not accept. */
export interface FramerEvents {
  message(msg: MsrpMessage): void;
  /**
   * A request whose transaction id and end-line were found but which is not acceptable (bad
   * header, chunk too large): it gets its response and the stream carries on (RFC 4975 §7.2).
   */
  rejected(tid: string, headers: Map<string, string>, err: MsrpError): void;
}

const CRLF = Buffer.from('\r\n');
// RFC 4975 §9: transact-id = ident = ALPHANUM 3*31ident-char; ident-char = ALPHANUM / "." / "-" / "+" / "%" / "="
const START = /^MSRP ([A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}) (?:([A-Z]+)|(\d{3})(?: (.*))?)$/;
const HEADER = /^([A-Za-z0-9!#$%&'*+\-.^_`|~]+): ?(.*)$/;

interface Head {
  tid: string;
  method: string | null;
  status: number;
  comment: string;
  headers: Map<string, string>;
  /** the header problem found, reported once the end-line is found */
  problem: MsrpError | null;
  /** CRLF and the end-line without its flag, `\r\n-------tid` (ASCII: its length is its byte length) */
  endLine: string;
}

/**
 * Frames MSRP messages out of a byte stream (RFC 4975 §7): start line, headers, optional body,
 * end-line `-------tid` + `$`, `+` or `#`. The body is found by scanning for the end-line (MSRP
 * has no Content-Length); only the new bytes are scanned. A stream that cannot be framed (no
 * start line, header block too long) throws a fatal MsrpError: the connection must close.
 *
 * @example
 * const framer = new MsrpFramer({ maxChunkBytes: 1 << 20, maxHeaderBytes: 8192 }, { message, rejected });
 * socket.on('data', (d) => framer.push(d));
 */
export class MsrpFramer {
  private buf: Buffer = Buffer.alloc(0);
  private head: Head | null = null;
  /** offset in buf of the body (after the blank line) */
  private bodyStart = 0;
  /** where the next end-line search starts */
  private scanFrom = 0;
  /** a chunk too large: its bytes are dropped until its end-line */
  private discarding = false;

  constructor(
    private readonly limits: FramerLimits,
    private readonly events: FramerEvents,
  ) {}

  /** Feeds bytes; throws a fatal MsrpError when the stream is no longer MSRP. */
  push(data: Buffer): void {
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    for (;;) {
      if (this.head === null) {
        const got = this.readHead();
        if (got === 'need') return;
        if (got === 'done') continue;
      }
      if (!this.readBody()) return;
    }
  }

  /** Bytes held for a message not yet complete (for idle/size accounting). */
  get buffered(): number {
    return this.buf.length;
  }

  /** 'need': more bytes; 'body': a head whose body follows; 'done': a body-less message was handed on. */
  private readHead(): 'need' | 'body' | 'done' {
    let pos = 0;
    const lines: string[] = [];
    // the start line, matched once (a room's switch frames a response per leg per message)
    let start: RegExpExecArray | null = null;
    let end = '';
    for (;;) {
      const eol = this.buf.indexOf(CRLF, pos);
      if (eol < 0) {
        if (this.buf.length > this.limits.maxHeaderBytes) throw new MsrpError(400, 'Header block too long', true);
        return 'need';
      }
      if (eol > this.limits.maxHeaderBytes) throw new MsrpError(400, 'Header block too long', true);
      const line = this.buf.toString('latin1', pos, eol);
      pos = eol + 2;
      if (start === null) {
        start = START.exec(line);
        if (start === null) throw new MsrpError(400, 'Not an MSRP start line', true);
        end = `-------${start[1]}`;
        continue;
      }
      if (line === '' || (line.length === end.length + 1 && line.startsWith(end) && '$+#'.includes(line[end.length]))) {
        this.head = this.makeHead(start, lines, end);
        if (line === '') {
          // a body follows the blank line (RFC 4975 §7.1 grammar: CRLF data CRLF end-line)
          this.bodyStart = pos;
          this.scanFrom = pos;
          return 'body';
        }
        const flag = line[line.length - 1];
        this.buf = this.buf.subarray(pos);
        this.finish(null, flag);
        return this.buf.length > 0 ? 'done' : 'need';
      }
      lines.push(line);
    }
  }

  private makeHead(m: RegExpExecArray, lines: string[], end: string): Head {
    const head: Head = {
      tid: m[1],
      method: m[2] ?? null,
      status: m[3] === undefined ? 0 : Number(m[3]),
      comment: m[4] ?? '',
      headers: new Map(),
      problem: null,
      endLine: `\r\n${end}`,
    };
    for (const [i, line] of lines.entries()) {
      const h = HEADER.exec(line);
      if (h === null) {
        head.problem ??= new MsrpError(400, 'Malformed header line');
        continue;
      }
      const name = h[1].toLowerCase();
      // RFC 4975 §7.1: To-Path and From-Path are the first two headers, in that order
      if ((i === 0 && name !== 'to-path') || (i === 1 && name !== 'from-path')) head.problem ??= new MsrpError(400, 'To-Path and From-Path must come first');
      if (head.headers.has(name)) head.problem ??= new MsrpError(400, `Duplicate ${h[1]} header`);
      head.headers.set(name, h[2].trim());
    }
    if (!head.headers.has('to-path') || !head.headers.has('from-path')) head.problem ??= new MsrpError(400, 'Missing To-Path or From-Path');
    return head;
  }

  /** Looks for the end-line after the body; false when more bytes are needed. */
  private readBody(): boolean {
    const head = this.head!;
    const endLen = head.endLine.length;
    const at = this.buf.indexOf(head.endLine, Math.max(this.bodyStart, this.scanFrom), 'latin1');
    // the end-line must be followed by its flag and CRLF (RFC 4975 §7.1)
    if (at >= 0 && this.buf.length < at + endLen + 3) return this.waitMore(at);
    if (at >= 0) {
      const flag = String.fromCharCode(this.buf[at + endLen]);
      const valid = (flag === '$' || flag === '+' || flag === '#') && this.buf[at + endLen + 1] === 13 && this.buf[at + endLen + 2] === 10;
      if (!valid) {
        // the end-line string inside the body, not an end-line: keep looking past it
        this.scanFrom = at + 1;
        return this.readBody();
      }
      if (at - this.bodyStart > this.limits.maxChunkBytes) this.discarding = true;
      const body = this.discarding ? null : Buffer.from(this.buf.subarray(this.bodyStart, at));
      this.buf = this.buf.subarray(at + endLen + 3);
      if (this.discarding) {
        this.discarding = false;
        const h = this.head!;
        this.head = null;
        this.events.rejected(h.tid, h.headers, new MsrpError(413, 'Chunk larger than the announced max-size'));
        return this.buf.length > 0;
      }
      this.finish(body, flag);
      return this.buf.length > 0;
    }
    return this.waitMore(-1);
  }

  private waitMore(found: number): false {
    const head = this.head!;
    const held = this.buf.length - this.bodyStart;
    if (found < 0 && held > this.limits.maxChunkBytes + head.endLine.length + 3) {
      // RFC 4975 §7.3.1: drop what cannot be held and answer 413 once the end-line arrives;
      // the end-line may straddle the cut, so its length minus one is kept
      this.discarding = true;
      const keep = head.endLine.length + 2;
      this.buf = this.buf.subarray(this.buf.length - keep);
      this.bodyStart = 0;
      this.scanFrom = 0;
      return false;
    }
    this.scanFrom = Math.max(this.bodyStart, found >= 0 ? found : this.buf.length - head.endLine.length - 2);
    return false;
  }

  private finish(body: Buffer | null, flag: string): void {
    const head = this.head!;
    this.head = null;
    this.bodyStart = 0;
    this.scanFrom = 0;
    if (head.method === null) {
      if (head.problem === null) this.events.message({ kind: 'response', tid: head.tid, status: head.status, comment: head.comment, headers: head.headers });
      return; // a malformed response is never answered (RFC 4975 §7.2)
    }
    let problem = head.problem;
    // RFC 4975 §7.1: a body is announced by Content-Type; one without the other is malformed
    if (problem === null && body !== null && !head.headers.has('content-type')) problem = new MsrpError(400, 'Body without Content-Type');
    if (problem !== null) {
      this.events.rejected(head.tid, head.headers, problem);
      return;
    }
    const req: MsrpRequest = { kind: 'request', tid: head.tid, method: head.method, headers: head.headers, body, continuation: flag as MsrpRequest['continuation'] };
    this.events.message(req);
  }
}
