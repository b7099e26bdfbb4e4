import net from 'node:net';
import tls from 'node:tls';
import type { WebSocket } from 'ws';
import { MsrpConnection, type ConnectionOptions, type ConnectionUser, type MsrpPipe, type SessionDirectory } from './msrp-connection.js';
import { MsrpSession, type SessionOptions } from './msrp-session.js';
import { newIdent } from './msrp-serializer.js';
import { parsePath, type MsrpUri } from './msrp-uri.js';

export interface EndpointOptions extends ConnectionOptions, SessionOptions {
  /** host written in our MSRP URIs (the advertised address) */
  host: string;
  /** bind address for the listeners */
  bind: string;
  /** TCP port; 0 for one the system picks */
  port: number;
  /** TLS port for msrps: (RFC 4975 §14), null for none */
  tlsPort: number | null;
  tls?: tls.SecureContextOptions;
  /**
   * ms an incoming connection may stay without a session bound to it (RFC 4975 §5.4: the
   * active side's first SEND binds it); then it is closed, so idle sockets cannot pile up
   */
  bindTimeoutMs?: number;
}

/** Listening ports, for the start-up line. */
export interface MsrpPorts {
  MSRP: number;
  MSRPS?: number;
}

/**
 * A net.Socket (TCP or TLS) as a pipe. What is written in one turn of the event loop goes out
 * in one write (cork until the next tick): a burst of SENDs, or the 200s for a burst of chunks
 * received together, costs one system call and fills segments instead of one each.
 */
function socketPipe(sock: net.Socket, kind: string): MsrpPipe {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    sock.uncork();
  };
  return {
    kind,
    remote: `${sock.remoteAddress ?? '?'}:${sock.remotePort ?? 0}`,
    write: (d) => {
      if (!sock.writable) return;
      if (!corked) {
        corked = true;
        sock.cork();
        process.nextTick(uncork);
      }
      sock.write(d);
    },
    close: () => sock.destroy(),
  };
}

/**
 * The MSRP endpoint of a node: its listeners (TCP, TLS, and WebSocket connections handed over
 * by the SIP WS transport, RFC 7977), the sessions that live here, and the connections we open
 * as the active side (RFC 6135), reused per peer authority (RFC 4975 §5.4). Protocol only: it
 * knows no users, sessions are created by whoever negotiates them in SDP.
 */
export class MsrpEndpoint implements SessionDirectory {
  private readonly sessions = new Map<string, MsrpSession>();
  private readonly outbound = new Map<string, Promise<MsrpConnection>>();
  private readonly connections = new Set<MsrpConnection>();
  private servers: net.Server[] = [];
  ports: MsrpPorts = { MSRP: 0 };

  constructor(
    private readonly options: EndpointOptions,
    private readonly onError: (err: unknown, where: string) => void = () => undefined,
  ) {}

  async listen(): Promise<MsrpPorts> {
    const tcp = net.createServer((s) => this.adoptSocket(s, 'tcp'));
    this.ports = { MSRP: await listenOn(tcp, this.options.bind, this.options.port) };
    this.servers.push(tcp);
    if (this.options.tlsPort !== null && this.options.tls) {
      const secure = tls.createServer(this.options.tls, (s) => this.adoptSocket(s, 'tls'));
      secure.on('tlsClientError', (err) => this.onError(err, 'tls handshake'));
      this.ports.MSRPS = await listenOn(secure, this.options.bind, this.options.tlsPort);
      this.servers.push(secure);
    }
    return this.ports;
  }

  /** The host of our MSRP URIs, without IPv6 brackets (for SDP c= and o=). */
  get host(): string {
    return this.options.host.replace(/^\[|\]$/g, '');
  }

  /** The WebSocket ports MSRP is reachable on (the SIP WS/WSS listeners, RFC 7977), for our URIs. */
  webSocketPorts: { ws?: number; wss?: number } = {};

  find(sessionId: string): ConnectionUser | undefined {
    return this.sessions.get(sessionId);
  }

  /** A new session with a fresh, unguessable session id (RFC 4975 §14.1). */
  create(transport: 'tcp' | 'tls' | 'ws' | 'wss' = 'tcp'): MsrpSession {
    const secure = transport === 'tls' || transport === 'wss';
    const ws = transport === 'ws' || transport === 'wss';
    // RFC 7977 §5.2: over WebSocket our URI names the ws transport and the WebSocket server's port
    const uri: MsrpUri = {
      secure,
      host: this.options.host,
      port: ws ? ((secure ? this.webSocketPorts.wss : this.webSocketPorts.ws) ?? null) : secure ? (this.ports.MSRPS ?? this.ports.MSRP) : this.ports.MSRP,
      sessionId: newIdent() + newIdent(),
      transport: ws ? 'ws' : 'tcp',
    };
    const s = new MsrpSession(uri, this.options, (gone) => this.sessions.delete(gone.sessionId));
    this.sessions.set(uri.sessionId, s);
    return s;
  }

  /**
   * The active side (RFC 6135 a=setup:active): connects to the first URI of the peer's path,
   * reusing a connection to the same authority (RFC 4975 §5.4), binds the session to it and
   * sends the empty SEND that tells the peer which session the connection is for.
   */
  async connect(session: MsrpSession): Promise<number> {
    const hop = parsePath(session.remotePath)[0];
    const key = `${hop.secure ? 'tls' : 'tcp'}:${hop.host}:${hop.port ?? 2855}`;
    let pending = this.outbound.get(key);
    if (pending === undefined) {
      pending = this.open(hop);
      this.outbound.set(key, pending);
      pending.catch(() => this.outbound.delete(key));
    }
    const conn = await pending;
    if (conn.isClosed) {
      this.outbound.delete(key);
      return this.connect(session);
    }
    session.bind(conn);
    return (await session.sendBind()).status;
  }

  private open(hop: MsrpUri): Promise<MsrpConnection> {
    return new Promise((resolve, reject) => {
      const host = hop.host.replace(/^\[|\]$/g, '');
      const port = hop.port ?? 2855; // RFC 4975 §15.4: msrp's registered port
      const sock = hop.secure ? tls.connect({ host, port, ...this.options.tls, rejectUnauthorized: false }) : net.connect({ host, port });
      sock.once(hop.secure ? 'secureConnect' : 'connect', () => {
        sock.off('error', reject);
        resolve(this.adoptSocket(sock, hop.secure ? 'tls' : 'tcp', false));
      });
      sock.once('error', reject);
    });
  }

  private adoptSocket(sock: net.Socket, kind: string, incoming = true): MsrpConnection {
    const conn = new MsrpConnection(socketPipe(sock, kind), this, this.options, (err) => this.onError(err, 'msrp stream'));
    this.connections.add(conn);
    if (incoming) this.closeIfUnbound(conn);
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => conn.feed(d));
    sock.on('error', (err) => this.onError(err, 'msrp socket'));
    sock.on('close', () => {
      this.connections.delete(conn);
      conn.close();
    });
    return conn;
  }

  /**
   * A WebSocket that negotiated the `msrp` sub-protocol (RFC 7977 §4.2): each WebSocket message
   * carries MSRP bytes; what we send goes in text frames when it is UTF-8, binary otherwise (§5.1).
   */
  adoptWebSocket(ws: WebSocket, remote: string, secure: boolean): MsrpConnection {
    const pipe: MsrpPipe = {
      kind: secure ? 'wss' : 'ws',
      remote,
      write: (d) => {
        if (ws.readyState === ws.OPEN) ws.send(d, { binary: true });
      },
      close: () => ws.terminate(),
    };
    const conn = new MsrpConnection(pipe, this, this.options, (err) => this.onError(err, 'msrp websocket'));
    this.connections.add(conn);
    this.closeIfUnbound(conn);
    ws.on('message', (d: Buffer | ArrayBuffer | Buffer[]) => conn.feed(Buffer.isBuffer(d) ? d : Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d)));
    ws.on('error', (err) => this.onError(err, 'msrp websocket'));
    ws.on('close', () => {
      this.connections.delete(conn);
      conn.close();
    });
    return conn;
  }

  private closeIfUnbound(conn: MsrpConnection): void {
    const timer = setTimeout(() => {
      if (conn.sessions === 0) conn.close();
    }, this.options.bindTimeoutMs ?? 30_000);
    timer.unref();
  }

  /** Live sessions and connections (health, benchmark). */
  get stats(): { sessions: number; connections: number } {
    return { sessions: this.sessions.size, connections: this.connections.size };
  }

  /** Live sessions by the transport their URI names: tcp, tls, ws or wss (metrics). */
  sessionsByTransport(): Record<'tcp' | 'tls' | 'ws' | 'wss', number> {
    const out = { tcp: 0, tls: 0, ws: 0, wss: 0 };
    for (const { localUri: u } of this.sessions.values()) out[u.transport === 'ws' ? (u.secure ? 'wss' : 'ws') : u.secure ? 'tls' : 'tcp']++;
    return out;
  }

  close(): void {
    for (const s of [...this.sessions.values()]) s.close();
    for (const c of [...this.connections]) c.close();
    for (const s of this.servers) s.close();
  }
}

function listenOn(server: net.Server, bind: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
