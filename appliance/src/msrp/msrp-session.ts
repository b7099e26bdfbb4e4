import type { ConnectionUser, MsrpConnection } from './msrp-connection.js';
import { MsrpError, type ByteRange, type MsrpRequest, type MsrpResponse } from './msrp-types.js';
import { PreparedSend, pathLines } from './prepared-send.js';
import { Reassembler, type AssembledMessage } from './reassembler.js';
import { formatByteRange, newIdent, parseByteRange } from './msrp-serializer.js';
import { formatMsrpUri, parsePath, type MsrpUri } from './msrp-uri.js';
import { formatUseNickname, parseUseNickname, USE_NICKNAME, type NicknameRequest } from './msrp-nickname.js';

/** A complete message received, with how its sender wants to hear about it (RFC 4975 §7.1.2). */
export interface ReceivedMessage extends AssembledMessage {
  successReport: boolean;
  failureReport: 'yes' | 'no' | 'partial';
  /**
   * Tells the sender what became of the message: a Success-Report for 200 when asked for, a
   * Failure-Report REPORT otherwise (unless Failure-Report is no). Call at most once.
   */
  report(status: number, comment?: string): void;
}

/** A REPORT received for a message we sent (RFC 4975 §7.1.2). */
export interface ReceivedReport {
  messageId: string;
  status: number;
  comment: string;
  byteRange: string;
}

/** What sending a message led to: 200 when every chunk was accepted, else the first failure. */
export interface SendOutcome {
  messageId: string;
  status: number;
  comment: string;
}

export interface SendOptions {
  successReport?: boolean;
  /** RFC 4975 §7.1.2; default yes */
  failureReport?: 'yes' | 'no' | 'partial';
  messageId?: string;
}

export interface SessionOptions {
  /** the largest message we take (our a=max-size) */
  maxMessageBytes: number;
  /** the chunk size we send (RFC 4975 §7.1.1 suggests small chunks so others can interleave) */
  chunkBytes: number;
}

/**
 * What a session's user lets through on top of our a=max-size (the service profiles of a
 * session's users, Y1/Y3): a message's total size, and its content type judged on its first chunk.
 */
export interface MessagePolicy {
  maxMessageBytes: number;
  /** null when a message of this type (and first chunk) may come, else the failure to answer */
  check(contentType: string, firstChunk: Buffer): MsrpError | null;
}

/** refused Message-IDs remembered per session, so that their later chunks get the same answer */
const MAX_REFUSED = 64;

const STATUS = /^000 (\d{3})(?: (.*))?$/;

/**
 * One end of an MSRP session (RFC 4975): our URI, the peer's path from its SDP, the
 * connection once bound. Sends messages in chunks (one message at a time, in order), puts
 * received chunks back together and hands on complete messages, and exchanges REPORTs.
 *
 * @example
 * const s = registry.create();              // our URI goes into the SDP a=path
 * s.remotePath = sdpPathOfThePeer;
 * s.onMessage = (m) => { console.log(m.body.toString()); m.report(200); };
 * await s.send('text/plain', Buffer.from('hi'));
 */
export class MsrpSession implements ConnectionUser {
  connection: MsrpConnection | null = null;
  /** the peer's a=path (RFC 4975 §8.2), written as To-Path */
  remotePath = '';
  onMessage: (m: ReceivedMessage) => void = (m) => m.report(200);
  onReport: (r: ReceivedReport) => void = () => undefined;
  /**
   * A NICKNAME request (RFC 7701); null: this end takes none (a one-to-one session), and
   * the request gets 501 like any method we do not serve.
   */
  onNickname: ((n: NicknameRequest) => void) | null = null;
  /** the bound connection went away */
  onDisconnect: () => void = () => undefined;
  /** the session bound its connection (the peer's first request arrived, or we connected) */
  onBound: () => void = () => undefined;
  /** the users' limits, checked on every SEND chunk before it is kept (null: only our max-size) */
  policy: MessagePolicy | null = null;
  /** messages refused by the policy, by Message-ID: each later chunk of one gets the same status */
  private readonly refused = new Map<string, MsrpError>();
  private readonly reassembler: Reassembler;
  private closed = false;
  /** the path lines of our requests, for the remote path they were built for */
  private paths: { remotePath: string; bytes: Buffer } | null = null;

  constructor(
    readonly localUri: MsrpUri,
    private readonly options: SessionOptions,
    private readonly onClosed: (s: MsrpSession) => void = () => undefined,
  ) {
    this.reassembler = new Reassembler(options.maxMessageBytes);
  }

  /** Our path for the SDP a=path attribute and From-Path. */
  get localPath(): string {
    return formatMsrpUri(this.localUri);
  }

  /** the chunk size of our SENDs (RFC 4975 §5.1), for messages prepared for this session's endpoint */
  get chunkBytes(): number {
    return this.options.chunkBytes;
  }

  get sessionId(): string {
    return this.localUri.sessionId;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  bind(conn: MsrpConnection): void {
    this.connection = conn;
    conn.attach(this);
    this.onBound();
  }

  connectionLost(conn: MsrpConnection): void {
    if (this.connection !== conn) return;
    this.connection = null;
    this.onDisconnect();
  }

  /**
   * Sends one message, chunked. Every chunk is written before this returns its promise, so
   * messages go out in the order of the calls (RFC 4975 §5.1 wants the chunks of a message in
   * order; nothing waits for one message's responses before writing the next). Resolves with
   * the outcome once every chunk is answered; never rejects.
   */
  send(contentType: string, body: Buffer, opts: SendOptions = {}): Promise<SendOutcome> {
    return this.sendPrepared(new PreparedSend(contentType, body, { ...opts, messageId: opts.messageId ?? newIdent(), chunkBytes: this.options.chunkBytes }));
  }

  /** An empty SEND that binds the connection to the session (RFC 4975 §5.4, the active side). */
  sendBind(): Promise<SendOutcome> {
    return this.sendPrepared(new PreparedSend(null, Buffer.alloc(0), { messageId: newIdent(), chunkBytes: this.options.chunkBytes }));
  }

  /**
   * Sends a message serialized once for many sessions (a room's fan-out): this session's
   * transaction ids and paths are spliced in, the rest is shared. Like {@link send}, every chunk
   * is written before this returns, and the promise never rejects.
   */
  sendPrepared(p: PreparedSend): Promise<SendOutcome> {
    const messageId = p.messageId;
    const conn = this.connection;
    if (conn === null || conn.isClosed || this.closed) return Promise.resolve({ messageId, status: 481, comment: 'No connection for the session' });
    const paths = this.pathLines();
    // RFC 4975 §7.1.2: with Failure-Report no or partial, a 200 never comes
    const expect = p.failureReport === 'yes';
    const outcome = (r: MsrpResponse | null): SendOutcome => (r !== null && r.status !== 200 ? { messageId, status: r.status, comment: r.comment } : { messageId, status: 200, comment: 'OK' });
    if (p.chunks.length === 1) {
      const tid = newIdent();
      return conn.requestBytes(tid, p.bytesFor(0, tid, paths), expect).then(outcome);
    }
    const waits = p.chunks.map((_, i) => {
      const tid = newIdent();
      return conn.requestBytes(tid, p.bytesFor(i, tid, paths), expect);
    });
    return Promise.all(waits).then((rs) => outcome(rs.find((r) => r !== null && r.status !== 200) ?? null));
  }

  /** This session's To-Path and From-Path lines, built once per negotiated path. */
  private pathLines(): Buffer {
    if (this.paths === null || this.paths.remotePath !== this.remotePath) this.paths = { remotePath: this.remotePath, bytes: pathLines(this.remotePath, this.localPath) };
    return this.paths.bytes;
  }

  checkFromPath(fromPath: string): void {
    if (this.remotePath === '') return; // not negotiated yet: nothing to compare with
    // the sender's own URI is the last of both (RFC 4975 §9: relays add themselves in front)
    const peer = parsePath(this.remotePath).pop()!;
    const sender = parsePath(fromPath).pop()!;
    if (peer.sessionId !== sender.sessionId) throw new MsrpError(403, 'From-Path does not match the session');
  }

  handleRequest(req: MsrpRequest, conn: MsrpConnection): void {
    if (this.closed) throw new MsrpError(481, 'Session Does Not Exist');
    if (req.method === 'REPORT') {
      const m = STATUS.exec(req.headers.get('status') ?? '');
      if (m === null) return; // REPORTs are never answered (RFC 4975 §7.1.2): a bad one is dropped
      this.onReport({ messageId: req.headers.get('message-id') ?? '', status: Number(m[1]), comment: m[2] ?? '', byteRange: req.headers.get('byte-range') ?? '' });
      return;
    }
    if (req.method === 'NICKNAME') {
      this.handleNickname(req, conn);
      return;
    }
    const messageId = req.headers.get('message-id');
    if (messageId === undefined) throw new MsrpError(400, 'SEND without Message-ID');
    const range = parseByteRange(req.headers.get('byte-range'));
    if (req.body === null) {
      // an empty SEND: binds the connection (RFC 4975 §5.4) and carries no message
      conn.respond(req, 200);
      return;
    }
    if (this.policy !== null) this.checkPolicy(this.policy, messageId, range, req.headers.get('content-type'), req.body, req.continuation);
    const done = this.reassembler.add(messageId, range, req.headers.get('content-type'), req.body, req.continuation);
    conn.respond(req, 200);
    if (done === null) return;
    const successReport = (req.headers.get('success-report') ?? 'no').toLowerCase() === 'yes';
    const frText = (req.headers.get('failure-report') ?? 'yes').toLowerCase();
    const failureReport = frText === 'no' || frText === 'partial' ? frText : 'yes';
    const fromPath = req.headers.get('from-path')!;
    let reported = false;
    this.onMessage({
      ...done,
      successReport,
      failureReport,
      report: (status, comment) => {
        if (reported) return;
        reported = true;
        if (status === 200 ? !successReport : failureReport === 'no') return;
        this.sendReport(fromPath, done.messageId, done.body.length, status, comment ?? (status === 200 ? 'OK' : 'Failed'));
      },
    });
  }

  /**
   * RFC 4975 §7.3.1: a message the receiver will not take is refused on its chunk: 413 when it is
   * larger than the limit (the sender must stop sending it, §7.1.1), 415 for a media type not
   * wanted. Later chunks of a refused message get the same answer; nothing of it is kept.
   */
  private checkPolicy(policy: MessagePolicy, messageId: string, range: ByteRange, contentType: string | undefined, body: Buffer, continuation: string): void {
    const earlier = this.refused.get(messageId);
    if (earlier !== undefined) {
      if (continuation !== '+') this.refused.delete(messageId);
      throw earlier;
    }
    const end = range.start + body.length - 1;
    let refusal: MsrpError | null = null;
    if ((range.total ?? 0) > policy.maxMessageBytes || end > policy.maxMessageBytes) refusal = new MsrpError(413, `Message larger than the service profile allows (at most ${policy.maxMessageBytes} bytes)`);
    else if (range.start === 1) refusal = policy.check(contentType ?? 'text/plain', body);
    if (refusal === null) return;
    this.reassembler.add(messageId, range, contentType, Buffer.alloc(0), '#');
    if (continuation === '+') {
      if (this.refused.size >= MAX_REFUSED) this.refused.delete(this.refused.keys().next().value!);
      this.refused.set(messageId, refusal);
    }
    throw refusal;
  }

  /**
   * RFC 7701: a NICKNAME carries one Use-Nickname and neither Success-Report nor
   * Failure-Report (it is always answered); the answer is the session user's (`onNickname`).
   */
  private handleNickname(req: MsrpRequest, conn: MsrpConnection): void {
    if (this.onNickname === null) throw new MsrpError(501, 'Unknown method NICKNAME');
    if (req.headers.has('success-report') || req.headers.has('failure-report')) throw new MsrpError(400, 'NICKNAME must not carry Success-Report or Failure-Report');
    const raw = req.headers.get(USE_NICKNAME);
    if (raw === undefined) throw new MsrpError(400, 'NICKNAME without Use-Nickname');
    const nickname = parseUseNickname(raw);
    let answered = false;
    this.onNickname({
      nickname,
      respond: (status, comment) => {
        if (answered) return;
        answered = true;
        conn.respond(req, status, comment);
      },
    });
  }

  /**
   * Asks the peer (a chat room's switch) for a nickname (RFC 7701) and resolves with its
   * answer: 200, 424, 425, or 408 when none comes. `rawValue` replaces the header's value as
   * written (tests of malformed nicknames).
   */
  async sendNickname(nickname: string, rawValue?: string): Promise<{ status: number; comment: string }> {
    const conn = this.connection;
    if (conn === null || conn.isClosed || this.closed) return { status: 481, comment: 'No connection for the session' };
    const res = await conn.request({ tid: newIdent(), method: 'NICKNAME', toPath: this.remotePath, fromPath: this.localPath, headers: [['Use-Nickname', rawValue ?? formatUseNickname(nickname)]] });
    return { status: res!.status, comment: res!.comment };
  }

  /** RFC 4975 §7.1.2: a REPORT goes to the sender's path with the Status of the whole message. */
  private sendReport(toPath: string, messageId: string, length: number, status: number, comment: string): void {
    const conn = this.connection;
    if (conn === null || conn.isClosed) return;
    void conn.request(
      { tid: newIdent(), method: 'REPORT', toPath, fromPath: this.localPath, headers: [['Message-ID', messageId], ['Byte-Range', formatByteRange(1, length, length)], ['Status', `000 ${status} ${comment}`]] },
      false,
    );
  }

  /** Ends the session: it leaves its connection (the connection stays for other sessions). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connection?.detach(this);
    this.connection = null;
    this.onClosed(this);
  }
}

/** The peer's first URI, from its a=path. */
export function firstHop(path: string): MsrpUri {
  return parsePath(path)[0];
}
