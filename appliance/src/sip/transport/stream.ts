import net from 'node:net';
import tls from 'node:tls';
import type { ParseLimits } from '../message/parser.js';
import { StreamFramer } from '../message/stream-framer.js';
import type { Logger } from '../../log.js';
import { type Flow, type TransportEvents, type Source, flowKey, deliver } from './transport-types.js';

const CRLF = Buffer.from('\r\n');

/** One TCP or TLS connection, framed by Content-Length (RFC 3261 §18.3). */
export class StreamFlow implements Flow {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  private readonly framer: StreamFramer;
  private readonly source: Source;
  private closed = false;

  constructor(
    readonly transport: 'TCP' | 'TLS',
    private readonly socket: net.Socket,
    events: TransportEvents,
    limits: ParseLimits,
    log: Logger,
    onClose: (flow: StreamFlow) => void,
  ) {
    this.remoteAddress = normalizeAddress(socket.remoteAddress ?? '0.0.0.0');
    this.remotePort = socket.remotePort ?? 0;
    this.id = flowKey(transport, this.remoteAddress, this.remotePort);
    this.framer = new StreamFramer(limits);
    this.source = { transport, address: this.remoteAddress, port: this.remotePort, flowId: this.id };
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on('data', (chunk: Buffer) => {
      let items;
      try {
        items = this.framer.push(chunk);
      } catch (err) {
        log.warn({ err, flow: this.id }, 'framing failed; closing');
        this.close();
        return;
      }
      for (const item of items) {
        if (item.kind === 'ping') this.send(CRLF);
        else if (item.kind === 'message') deliver(events, item.outcome, this.source);
        else {
          if (item.rejected !== null) events.rejected(item.rejected, this.source);
          // the framing is lost: nothing after this point can be read (RFC 3261 §18.3)
          socket.end();
          this.closed = true;
          return;
        }
      }
    });
    socket.on('error', (err) => log.debug({ err, flow: this.id }, 'connection error'));
    socket.on('close', () => {
      this.closed = true;
      onClose(this);
    });
  }

  send(data: Buffer): void {
    if (!this.closed) this.socket.write(data);
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

/** Strips the IPv4-mapped prefix so that addresses compare as the client wrote them. */
export function normalizeAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** Listens for TCP or TLS connections and keeps the flows it accepts or opens. */
export class StreamTransport {
  private server: net.Server | null = null;
  readonly flows = new Map<string, StreamFlow>();

  constructor(
    readonly transport: 'TCP' | 'TLS',
    private readonly events: TransportEvents,
    private readonly limits: ParseLimits,
    private readonly log: Logger,
    private readonly tlsOptions?: tls.SecureContextOptions,
  ) {}

  async listen(address: string, port: number): Promise<number> {
    const onSocket = (socket: net.Socket): void => {
      this.adopt(socket);
    };
    const server = this.transport === 'TLS' ? tls.createServer({ ...this.tlsOptions }, onSocket) : net.createServer(onSocket);
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

  private adopt(socket: net.Socket): StreamFlow {
    const flow = new StreamFlow(this.transport, socket, this.events, this.limits, this.log, (f) => {
      if (this.flows.get(f.id) === f) {
        this.flows.delete(f.id);
        this.events.flowClosed(f.id);
      }
    });
    this.flows.set(flow.id, flow);
    return flow;
  }

  /** An open flow to this address, or a new connection (RFC 3261 §18.1.1). */
  async connect(address: string, port: number): Promise<StreamFlow> {
    const existing = this.flows.get(flowKey(this.transport, address, port));
    if (existing) return existing;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s =
        this.transport === 'TLS'
          ? tls.connect({ host: address, port, rejectUnauthorized: false }, () => resolve(s))
          : net.connect({ host: address, port }, () => resolve(s));
      s.once('error', reject);
      s.setTimeout(10_000, () => s.destroy(new Error('connect timeout')));
    });
    socket.setTimeout(0);
    return this.adopt(socket);
  }

  close(): void {
    for (const f of this.flows.values()) f.close();
    this.server?.close();
  }
}
