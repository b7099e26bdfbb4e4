import { MsrpFramer, type FramerLimits } from './msrp-framer.js';
import { MsrpError, type MsrpMessage, type MsrpRequest, type MsrpResponse } from './msrp-types.js';
import { serializeRequest, serializeResponse, type OutgoingRequest } from './msrp-serializer.js';
import { parsePath } from './msrp-uri.js';

/** The byte pipe under a connection: a TCP or TLS socket, or a WebSocket (RFC 7977). */
export interface MsrpPipe {
  write(data: Buffer): void;
  close(): void;
  /** `tcp`, `tls` or `ws`/`wss`: what the connection runs over, for logs and URIs */
  readonly kind: string;
  readonly remote: string;
}

/** What a connection asks its owner: the local session a request's To-Path names. */
export interface SessionDirectory {
  find(sessionId: string): ConnectionUser | undefined;
}

/** A session as a connection sees it (MsrpSession implements it). */
export interface ConnectionUser {
  /** the connection this session is bound to (RFC 4975 §5.4), null before the first request */
  readonly connection: MsrpConnection | null;
  bind(conn: MsrpConnection): void;
  /**
   * RFC 4975 §5.4: a request's From-Path must name the peer the session was negotiated with
   * (its SDP a=path); throws a 403 MsrpError when it does not
   */
  checkFromPath(fromPath: string): void;
  /** a request for this session; throws MsrpError for a failure response */
  handleRequest(req: MsrpRequest, conn: MsrpConnection): void;
  connectionLost(conn: MsrpConnection): void;
}

export interface ConnectionOptions extends FramerLimits {
  /** how long a SEND waits for its response (RFC 4975 §7.3.1 suggests 30 s) */
  transactionTimeoutMs: number;
}

interface Pending {
  resolve(r: MsrpResponse): void;
  /** performance.now() after which the request has timed out */
  deadline: number;
}

/** The methods we know (RFC 4975 §7.1, NICKNAME from RFC 7701); any other gets 501. */
const METHODS = new Set(['SEND', 'REPORT', 'NICKNAME']);

/**
 * One MSRP connection (RFC 4975 §7): frames what arrives, routes each request to the session
 * its To-Path names, matches responses to the requests we sent, and answers failures. One
 * connection may carry several sessions (connection reuse, RFC 4975 §5.4), but a session
 * belongs to one connection: a request for a session bound elsewhere gets 506.
 */
export class MsrpConnection {
  private readonly framer: MsrpFramer;
  private readonly pending = new Map<string, Pending>();
  private readonly users = new Set<ConnectionUser>();
  private closed = false;
  /** the sweep that times out unanswered requests, running while any are pending */
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    readonly pipe: MsrpPipe,
    private readonly directory: SessionDirectory,
    private readonly options: ConnectionOptions,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.framer = new MsrpFramer(options, {
      message: (m) => this.dispatch(m),
      rejected: (tid, headers, err) => this.answer(tid, headers, err.status, err.comment),
    });
  }

  /** Bytes from the pipe. A stream that is no longer MSRP closes the connection. */
  feed(data: Buffer): void {
    if (this.closed) return;
    try {
      this.framer.push(data);
    } catch (err) {
      this.onError(err);
      this.close();
    }
  }

  /** Sends a request; resolves with its response, or with a 408 when none comes in time. */
  request(req: OutgoingRequest, expectResponse = true): Promise<MsrpResponse | null> {
    if (this.closed) return Promise.resolve(expectResponse ? timeoutResponse(req.tid, 'Connection closed') : null);
    return this.requestBytes(req.tid, serializeRequest(req), expectResponse);
  }

  /**
   * Sends a request already serialized (a PreparedSend chunk) whose transaction id is
   * `tid`; resolves like {@link request}.
   */
  requestBytes(tid: string, bytes: Buffer, expectResponse = true): Promise<MsrpResponse | null> {
    if (this.closed) return Promise.resolve(expectResponse ? timeoutResponse(tid, 'Connection closed') : null);
    this.pipe.write(bytes);
    if (!expectResponse) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.pending.set(tid, { resolve, deadline: performance.now() + this.options.transactionTimeoutMs });
      this.sweeper ??= setInterval(() => this.sweep(), Math.max(1, Math.min(1000, this.options.transactionTimeoutMs / 4)));
    });
  }

  /**
   * Times out requests unanswered past the transaction timeout (RFC 4975 §7.3.1 suggests 30 s).
   * One interval per connection rather than a timer per request: a room sends a SEND per leg per
   * message, and arming and clearing a timer each was a good part of the switch's cost. Every
   * request has the same timeout and the map keeps insertion order, so the oldest come first
   * and the sweep stops at the first one still in time. A timeout fires up to a quarter of the
   * timeout (at most 1 s) late.
   */
  private sweep(): void {
    const now = performance.now();
    for (const [tid, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(tid);
      p.resolve(timeoutResponse(tid, 'Request Timeout'));
    }
    if (this.pending.size === 0) this.stopSweeping();
  }

  private stopSweeping(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** Adds a session to this connection (its requests and responses go through it). */
  attach(user: ConnectionUser): void {
    this.users.add(user);
  }

  detach(user: ConnectionUser): void {
    this.users.delete(user);
  }

  get sessions(): number {
    return this.users.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The pipe closed (or we close it): pending requests fail with 408, sessions are told. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pipe.close();
    this.stopSweeping();
    for (const [tid, p] of this.pending) p.resolve(timeoutResponse(tid, 'Connection closed'));
    this.pending.clear();
    for (const u of [...this.users]) u.connectionLost(this);
    this.users.clear();
  }

  private dispatch(m: MsrpMessage): void {
    if (m.kind === 'response') {
      const p = this.pending.get(m.tid);
      if (p === undefined) return; // late or unknown: RFC 4975 §7.2 says drop it
      this.pending.delete(m.tid);
      p.resolve(m);
      return;
    }
    try {
      this.route(m);
    } catch (err) {
      if (!(err instanceof MsrpError)) {
        this.onError(err);
        this.answer(m.tid, m.headers, 500, 'Internal Error', m.method);
        return;
      }
      this.answer(m.tid, m.headers, err.status, err.comment, m.method);
    }
  }

  private route(req: MsrpRequest): void {
    const to = parsePath(req.headers.get('to-path')!);
    const fromPath = req.headers.get('from-path')!;
    parsePath(fromPath);
    // RFC 4975 §7.3: we are never a relay, so the To-Path names us alone
    const user = this.directory.find(to[to.length - 1].sessionId);
    if (user === undefined) throw new MsrpError(481, 'Session Does Not Exist');
    if (user.connection !== null && user.connection !== this) throw new MsrpError(506, 'Session bound to another connection');
    user.checkFromPath(fromPath);
    if (!METHODS.has(req.method)) throw new MsrpError(501, `Unknown method ${req.method}`);
    if (user.connection === null) {
      user.bind(this);
      this.users.add(user);
    }
    user.handleRequest(req, this);
  }

  /**
   * Answers a request: the response's To-Path is the request's From-Path and its From-Path the
   * URI the request was sent to (RFC 4975 §7.2). REPORTs are never answered (§7.1.2), and the
   * sender's Failure-Report decides which SEND responses are wanted (§7.1.2: no, partial).
   */
  respond(req: MsrpRequest, status: number, comment?: string): void {
    this.answer(req.tid, req.headers, status, comment, req.method);
  }

  private answer(tid: string, headers: Map<string, string>, status: number, comment?: string, method?: string): void {
    if (this.closed || method === 'REPORT') return;
    const fr = (headers.get('failure-report') ?? 'yes').toLowerCase();
    if (fr === 'no' || (fr === 'partial' && status === 200)) return;
    const from = headers.get('from-path');
    const to = headers.get('to-path');
    if (from === undefined || to === undefined) {
      // nowhere to address the response to: a request we cannot answer is dropped
      return;
    }
    const self = to.trim().split(/\s+/).pop()!;
    this.pipe.write(serializeResponse(tid, status, from, self, comment));
  }
}

function timeoutResponse(tid: string, comment: string): MsrpResponse {
  return { kind: 'response', tid, status: 408, comment, headers: new Map() };
}
