import http from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ParseLimits } from '../message/parser.js';
import { parseMessage } from '../message/parser.js';
import type { Logger } from '../../log.js';
import { type Flow, type TransportEvents, flowKey, deliver } from './transport-types.js';
import { normalizeAddress } from './stream.js';

/** One WebSocket connection carrying SIP (RFC 7118): each WS message is one SIP message. */
class WsFlow implements Flow {
  readonly transport = 'WS' as const;
  constructor(
    readonly id: string,
    readonly remoteAddress: string,
    readonly remotePort: number,
    private readonly ws: WebSocket,
  ) {}

  send(data: Buffer): void {
    // RFC 7118 §5: SIP messages go in text frames when they are UTF-8 (they are here)
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(data, { binary: false });
  }

  close(): void {
    this.ws.terminate();
  }
}

/** The SIP-over-WebSocket listener; only clients offering the `sip` sub-protocol are accepted. */
export class WsTransport {
  private server: http.Server | null = null;
  private wss: WebSocketServer | null = null;
  readonly flows = new Map<string, WsFlow>();

  constructor(
    private readonly events: TransportEvents,
    private readonly limits: ParseLimits,
    private readonly log: Logger,
  ) {}

  async listen(address: string, port: number): Promise<number> {
    const server = http.createServer((_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket' }).end('SIP over WebSocket: upgrade with sub-protocol "sip"\n');
    });
    const wss = new WebSocketServer({
      server,
      maxPayload: this.limits.maxMessageBytes,
      handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
      verifyClient: (info: { req: http.IncomingMessage }) => {
        const offered = String(info.req.headers['sec-websocket-protocol'] ?? '');
        // RFC 7118 §4: the handshake must negotiate "sip"
        return offered.split(',').some((p) => p.trim().toLowerCase() === 'sip');
      },
    });
    this.server = server;
    this.wss = wss;
    wss.on('connection', (ws, req) => {
      const address = normalizeAddress(req.socket.remoteAddress ?? '0.0.0.0');
      const rport = req.socket.remotePort ?? 0;
      const id = flowKey('WS', address, rport);
      const flow = new WsFlow(id, address, rport, ws);
      this.flows.set(id, flow);
      const source = { transport: 'WS' as const, address, port: rport, flowId: id };
      ws.on('message', (data: Buffer) => {
        try {
          deliver(this.events, parseMessage(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), this.limits), source);
        } catch (err) {
          this.log.warn({ err, flow: id }, 'unparseable WebSocket message dropped');
        }
      });
      ws.on('error', (err) => this.log.debug({ err, flow: id }, 'WebSocket error'));
      ws.on('close', () => {
        this.flows.delete(id);
        this.events.flowClosed(id);
      });
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

  close(): void {
    for (const f of this.flows.values()) f.close();
    this.wss?.close();
    this.server?.close();
  }
}
