import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ParseLimits } from '../message/parser.js';
import { parseMessage } from '../message/parser.js';
import type { Logger } from '../../log.js';
import { type Flow, type TransportEvents, flowKey, deliver } from './transport-types.js';
import { normalizeAddress } from './stream.js';
import type { ConnectionGuard, GuardedConnection, GuardReason } from './connection-guard.js';

/** One WebSocket connection carrying SIP (RFC 7118): each WS message is one SIP message. */
class WsFlow implements Flow, GuardedConnection {
  lastActivity = Date.now();
  messageStartedAt: number | null = null;

  constructor(
    readonly transport: 'WS' | 'WSS',
    readonly id: string,
    readonly remoteAddress: string,
    readonly remotePort: number,
    private readonly ws: WebSocket,
    socket: net.Socket,
  ) {
    // Bytes on the socket are traffic, and the first bytes of a frame start the message timeout.
    // Prepended so that it runs before ws parses the chunk: a frame completed by the chunk clears
    // the mark again ('message', 'ping', 'pong' below), a frame still incomplete keeps it.
    socket.prependListener('data', () => {
      this.lastActivity = Date.now();
      this.messageStartedAt ??= this.lastActivity;
    });
    const complete = (): void => {
      this.messageStartedAt = null;
    };
    ws.on('message', complete);
    ws.on('ping', complete);
    ws.on('pong', complete);
  }

  send(data: Buffer): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.lastActivity = Date.now();
    // RFC 7118 §5: SIP messages go in text frames when they are UTF-8 (they are here)
    this.ws.send(data, { binary: false });
  }

  close(reason?: GuardReason): void {
    // an idle browser gets a clean close (RFC 6455 §7.4.1: 1000 normal closure), a stalled peer none
    if (reason === 'idle') this.ws.close(1000, 'idle');
    else this.ws.terminate();
  }
}

/**
 * The SIP-over-WebSocket listener, plain (WS) or over TLS (WSS, RFC 7118 §5: browsers on an
 * https page may only open wss://); only clients offering the `sip` sub-protocol are accepted.
 */
export class WsTransport {
  private server: http.Server | null = null;
  private wss: WebSocketServer | null = null;
  readonly flows = new Map<string, WsFlow>();
  /**
   * Other sub-protocols served on the same port, handed their WebSocket once upgraded: "msrp"
   * (RFC 7977 §4.2: MSRP clients reach the server on its WebSocket URL). Set before listen().
   */
  readonly subprotocols = new Map<string, { maxPayload: number; adopt: (ws: WebSocket, remote: string) => void }>();

  constructor(
    readonly transport: 'WS' | 'WSS',
    private readonly events: TransportEvents,
    private readonly limits: ParseLimits,
    private readonly guard: ConnectionGuard,
    private readonly log: Logger,
    private readonly tlsOptions?: tls.SecureContextOptions,
  ) {}

  async listen(address: string, port: number): Promise<number> {
    const plain = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
      res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket' }).end('SIP over WebSocket: upgrade with sub-protocol "sip"\n');
    };
    const messageMs = this.guard.limits.messageTimeout * 1000;
    const server =
      this.transport === 'WSS' ? https.createServer({ ...this.tlsOptions, handshakeTimeout: messageMs }, plain) : http.createServer(plain);
    // the HTTP request that asks for the upgrade is a message too: held to the same timeout
    server.headersTimeout = messageMs;
    server.requestTimeout = messageMs;
    if (this.transport === 'WSS') server.on('tlsClientError', (err) => this.log.debug({ err }, 'TLS handshake failed'));
    const wss = new WebSocketServer({
      server,
      // an MSRP chunk may be larger than a SIP message; the SIP parser still holds SIP to its limit
      maxPayload: Math.max(this.limits.maxMessageBytes, ...[...this.subprotocols.values()].map((p) => p.maxPayload)),
      handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : ([...protocols].find((p) => this.subprotocols.has(p)) ?? false)),
      verifyClient: (info: { req: http.IncomingMessage }, accept: (ok: boolean, code?: number, name?: string) => void) => {
        const offered = String(info.req.headers['sec-websocket-protocol'] ?? '');
        // RFC 7118 §4: the handshake must negotiate "sip"
        const names = offered.split(',').map((p) => p.trim().toLowerCase());
        if (!names.some((p) => p === 'sip' || this.subprotocols.has(p))) return accept(false, 400, 'Bad Request');
        // Over the connection caps the upgrade is refused before it is accepted. accept() runs
        // synchronously, so 'connection' (where the connection is counted) follows in this tick.
        if (!this.guard.fits(normalizeAddress(info.req.socket.remoteAddress ?? '0.0.0.0'))) return accept(false, 503, 'Service Unavailable');
        accept(true);
      },
    });
    this.server = server;
    this.wss = wss;
    wss.on('connection', (ws, req) => {
      const other = ws.protocol === 'sip' ? undefined : this.subprotocols.get(ws.protocol);
      if (other === undefined) return this.adopt(ws, req);
      // counted against the same per-address caps as SIP connections
      const address = normalizeAddress(req.socket.remoteAddress ?? '0.0.0.0');
      if (!this.guard.admit(address)) return ws.terminate();
      ws.on('close', () => this.guard.release(address));
      other.adopt(ws, `${address}:${req.socket.remotePort ?? 0}`);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as { port: number }).port;
  }

  private adopt(ws: WebSocket, req: http.IncomingMessage): void {
    const address = normalizeAddress(req.socket.remoteAddress ?? '0.0.0.0');
    if (!this.guard.admit(address)) {
      // not reached: verifyClient checked the caps in this same tick
      ws.terminate();
      return;
    }
    const rport = req.socket.remotePort ?? 0;
    const id = flowKey(this.transport, address, rport);
    const flow = new WsFlow(this.transport, id, address, rport, ws, req.socket);
    this.flows.set(id, flow);
    this.guard.track(flow);
    const source = { transport: this.transport, address, port: rport, flowId: id };
    ws.on('message', (data: Buffer) => {
      try {
        deliver(this.events, parseMessage(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), this.limits), source);
      } catch (err) {
        this.log.warn({ err, flow: id }, 'unparseable WebSocket message dropped');
      }
    });
    ws.on('error', (err) => this.log.debug({ err, flow: id }, 'WebSocket error'));
    ws.on('close', () => {
      this.guard.untrack(flow);
      this.guard.release(address);
      this.flows.delete(id);
      this.events.flowClosed(id);
    });
  }

  close(): void {
    for (const f of this.flows.values()) f.close();
    this.wss?.close();
    this.server?.close();
  }
}
