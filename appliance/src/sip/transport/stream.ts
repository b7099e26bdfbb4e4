import net from 'node:net';
import tls from 'node:tls';
import type { ParseLimits, Rejected } from '../message/parser.js';
import { StreamFramer } from '../message/stream-framer.js';
import type { Logger } from '../../log.js';
import { type Flow, type TransportEvents, type Source, flowKey, deliver } from './transport-types.js';
import type { ConnectionGuard, GuardedConnection, GuardReason } from './connection-guard.js';
import { type TlsClientOptions, certificateFailure, tlsConnectOptions } from './tls-client.js';

const CRLF = Buffer.from('\r\n');

/**
 * How long a connection whose framing is lost stays writable, so that the answers to the
 * messages framed before the fault (the router answers asynchronously) still go out.
 */
const FRAMING_LOST_GRACE_MS = 2_000;
/** After the grace, FIN is sent; a peer that does not read is then cut off after this. */
const CLOSE_LINGER_MS = 1_000;

/** One TCP or TLS connection, framed by Content-Length (RFC 3261 §18.3). */
export class StreamFlow implements Flow, GuardedConnection {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  lastActivity = Date.now();
  messageStartedAt: number | null = null;
  private readonly framer: StreamFramer;
  private readonly source: Source;
  private closed = false;
  private closeTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly transport: 'TCP' | 'TLS',
    private readonly socket: net.Socket,
    private readonly events: TransportEvents,
    limits: ParseLimits,
    private readonly log: Logger,
    onClose: (flow: StreamFlow) => void,
    /** for a TLS connection we opened with verification: the name its certificate was checked for */
    readonly peerName: string | null = null,
  ) {
    this.remoteAddress = normalizeAddress(socket.remoteAddress ?? '0.0.0.0');
    this.remotePort = socket.remotePort ?? 0;
    this.id = peerName === null ? flowKey(transport, this.remoteAddress, this.remotePort) : verifiedFlowKey(this.remoteAddress, this.remotePort, peerName);
    this.framer = new StreamFramer(limits);
    this.source = { transport, address: this.remoteAddress, port: this.remotePort, flowId: this.id };
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on('data', this.onData);
    socket.on('error', (err) => log.debug({ err, flow: this.id }, 'connection error'));
    socket.on('close', () => {
      this.closed = true;
      if (this.closeTimer !== null) clearTimeout(this.closeTimer);
      onClose(this);
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    const now = Date.now();
    this.lastActivity = now;
    let items;
    try {
      items = this.framer.push(chunk);
    } catch (err) {
      this.log.warn({ err, flow: this.id }, 'framing failed; closing');
      this.close();
      return;
    }
    for (const item of items) {
      if (item.kind === 'ping') this.send(CRLF);
      else if (item.kind === 'message') deliver(this.events, item.outcome, this.source);
      else {
        this.framingLost(item.rejected);
        return;
      }
    }
    // the message timeout counts from a message's first byte: a new one started in this chunk
    // if anything completed in it (RFC 3261 §18.3 framing; Kamailio's tcp_msg_read_timeout)
    if (!this.framer.midMessage) this.messageStartedAt = null;
    else if (items.length > 0 || this.messageStartedAt === null) this.messageStartedAt = now;
  };

  /**
   * RFC 3261 §18.3: once the framing is lost nothing after it can be read. Reading stops at
   * once (no more buffering for a peer that keeps sending), the rejection is answered if it
   * can be, and the connection is closed after a grace in which the answers to the messages
   * framed before the fault can still be written (RFC 4475 §3.1.1.8 dblreq over TCP).
   */
  private framingLost(rejected: Rejected | null): void {
    this.socket.off('data', this.onData);
    this.socket.pause();
    this.messageStartedAt = null;
    this.log.debug({ flow: this.id, reason: rejected?.reason ?? 'no end of header section within the size limit' }, 'framing lost; closing after a grace');
    if (rejected !== null) this.events.rejected(rejected, this.source);
    this.closeTimer = setTimeout(() => {
      this.socket.end();
      this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS);
      this.closeTimer.unref();
    }, FRAMING_LOST_GRACE_MS);
    this.closeTimer.unref();
  }

  send(data: Buffer): void {
    if (this.closed) return;
    this.lastActivity = Date.now();
    // what this turn of the event loop writes goes out in one write at its end, as UDP's datagrams
    // do (udp.ts): one wake-up of the peer, not one per message
    if (this.socket.writableCorked === 0) {
      this.socket.cork();
      setImmediate(this.uncork);
    }
    this.socket.write(data);
  }

  /** Ends this turn's cork (`end()` may have lifted it already: then nothing is left to do). */
  private readonly uncork = (): void => {
    if (this.socket.writableCorked > 0) this.socket.uncork();
  };

  close(_reason?: GuardReason): void {
    this.closed = true;
    // what was answered just before still goes out, as far as destroy lets it
    this.uncork();
    this.socket.destroy();
  }
}

/**
 * The id of a TLS connection we opened and whose certificate we checked for `name`. It differs
 * from the key of a connection the peer opened, which proves nothing about the peer's name, so
 * that neither is mistaken for the other (RFC 5923's premise: a connection serves a name only
 * once the peer has authenticated as it with its certificate).
 */
export function verifiedFlowKey(address: string, port: number, name: string): string {
  return `${flowKey('TLS', address, port)};name=${name}`;
}

/** Strips the IPv4-mapped prefix so that addresses compare as the client wrote them. */
export function normalizeAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** Listens for TCP or TLS connections and keeps the flows it accepts or opens. */
export class StreamTransport {
  private server: net.Server | null = null;
  readonly flows = new Map<string, StreamFlow>();
  /** connections being opened: concurrent sends to one peer share one handshake */
  private readonly connecting = new Map<string, Promise<StreamFlow>>();

  constructor(
    readonly transport: 'TCP' | 'TLS',
    private readonly events: TransportEvents,
    private readonly limits: ParseLimits,
    private readonly guard: ConnectionGuard,
    private readonly log: Logger,
    private readonly tlsOptions?: tls.SecureContextOptions,
    /** how the TLS connections we open are checked; verified against Node's roots by default */
    private readonly client: TlsClientOptions = { verifyPeer: true },
  ) {}

  async listen(address: string, port: number): Promise<number> {
    const onSocket = (socket: net.Socket): void => {
      if (socket.destroyed) return;
      this.adopt(socket);
    };
    const server =
      this.transport === 'TLS'
        ? // a TLS handshake is held to the message timeout too
          tls.createServer({ ...this.tlsOptions, handshakeTimeout: this.guard.limits.messageTimeout * 1000 }, onSocket)
        : net.createServer(onSocket);
    // Counted on the raw connection, before any TLS handshake: over the caps it is cut at once.
    // Prepended, so that it runs before the listener that adopts (TCP) or wraps (TLS) the socket.
    server.prependListener('connection', (socket: net.Socket) => {
      const from = normalizeAddress(socket.remoteAddress ?? '0.0.0.0');
      if (!this.guard.admit(from)) {
        socket.destroy();
        return;
      }
      socket.once('close', () => this.guard.release(from));
    });
    this.server = server;
    if (this.transport === 'TLS') (server as tls.Server).on('tlsClientError', (err) => this.log.debug({ err }, 'TLS handshake failed'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => {
        this.server = null;
        reject(err);
      });
      server.listen(port, address, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.log.error({ err }, `${this.transport} server error`));
        resolve();
      });
    });
    return (server.address() as net.AddressInfo).port;
  }

  private adopt(socket: net.Socket, peerName: string | null = null): StreamFlow {
    const onClose = (f: StreamFlow): void => {
      this.guard.untrack(f);
      if (this.flows.get(f.id) === f) {
        this.flows.delete(f.id);
        this.events.flowClosed(f.id);
      }
    };
    const flow = new StreamFlow(this.transport, socket, this.events, this.limits, this.log, onClose, peerName);
    this.flows.set(flow.id, flow);
    this.guard.track(flow);
    return flow;
  }

  /**
   * An open flow to this address, or a new connection (RFC 3261 §18.1.1). Over TLS with
   * verification, the peer's certificate must chain to a trusted CA and name `name` (the host of
   * the URI the peer was reached by; the address by default), else the connection is dropped
   * before anything is sent, the refusal is logged, and the promise rejects.
   */
  async connect(address: string, port: number, name: string = address): Promise<StreamFlow> {
    const verified = this.transport === 'TLS' && this.client.verifyPeer;
    const id = verified ? verifiedFlowKey(address, port, name) : flowKey(this.transport, address, port);
    const existing = this.flows.get(id);
    if (existing) return existing;
    let pending = this.connecting.get(id);
    if (pending === undefined) {
      pending = this.open(address, port, name, verified ? name : null).finally(() => this.connecting.delete(id));
      this.connecting.set(id, pending);
    }
    return pending;
  }

  private async open(address: string, port: number, name: string, peerName: string | null): Promise<StreamFlow> {
    let socket: net.Socket;
    try {
      socket = await new Promise<net.Socket>((resolve, reject) => {
        const s =
          this.transport === 'TLS'
            ? tls.connect(tlsConnectOptions(this.client, address, port, name), () => resolve(s))
            : net.connect({ host: address, port }, () => resolve(s));
        s.once('error', reject);
        s.setTimeout(10_000, () => s.destroy(new Error('connect timeout')));
      });
    } catch (err) {
      const reason = this.transport === 'TLS' ? certificateFailure(err as Error) : null;
      if (reason !== null) {
        const peer = `${net.isIPv6(address) ? `[${address}]` : address}:${port}`;
        this.log.warn(
          { peer, name, reason },
          `TLS peer ${peer} refused: ${reason} (checked for ${name}); nothing was sent to it. ` +
            'Add the CA that issued its certificate to sip.tls.ca, or set sip.tls.verifyPeer: false for devices with self-signed certificates',
        );
      }
      throw err;
    }
    socket.setTimeout(0);
    return this.adopt(socket, peerName);
  }

  close(): void {
    for (const f of this.flows.values()) f.close();
    this.server?.close();
  }
}
