import type { WebSocket } from 'ws';
import type tls from 'node:tls';
import type { ParseLimits } from '../message/parser.js';
import type { Logger } from '../../log.js';
import { UdpTransport, type AdmissionGate, type NativeChallenger, type UdpEngine } from './udp.js';
import { StreamTransport } from './stream.js';
import { WsTransport } from './ws.js';
import { ConnectionGuard, type ConnectionLimits } from './connection-guard.js';
import type { TlsClientOptions } from './tls-client.js';
import { type Destination, type TransportEvents, type TransportName, TransportError } from './transport-types.js';

/** A port to listen on: a number (0 = not opened) or 'auto' (any free one, learned after binding). */
export type PortChoice = number | 'auto';

export interface TransportOptions {
  bind: string;
  /** UDP and TCP share this port */
  port: PortChoice;
  tlsPort: PortChoice;
  wsPort: PortChoice;
  /** SIP over secure WebSocket (RFC 7118 §5), with the TLS credentials */
  wssPort: PortChoice;
  tls?: tls.SecureContextOptions;
  /** how the TLS connections we open are checked (trust anchors, verification on or off) */
  tlsClient: TlsClientOptions;
  limits: ParseLimits;
  /** caps and timeouts of TCP, TLS, WS and WSS connections */
  connections: ConnectionLimits;
  /** which socket carries UDP (default 'auto': the native one where it was built) */
  udpEngine?: UdpEngine;
}

export type ListeningPorts = Partial<Record<TransportName, number>>;

/**
 * All SIP listeners behind one interface: bytes in, messages up; messages down,
 * over an existing flow where there is one (RFC 3261 §18, RFC 5626 §5).
 */
export class TransportLayer {
  private readonly udp: UdpTransport;
  private readonly tcp: StreamTransport;
  private readonly tls: StreamTransport;
  private readonly ws: WsTransport;
  private readonly wss: WsTransport;
  /** one set of caps for every connection-oriented transport: a source cannot multiply them */
  private readonly guard: ConnectionGuard;
  readonly ports: ListeningPorts = {};

  constructor(
    private readonly opts: TransportOptions,
    events: TransportEvents,
    private readonly log: Logger,
  ) {
    this.guard = new ConnectionGuard(opts.connections, log);
    this.udp = new UdpTransport(events, opts.limits, log, opts.udpEngine);
    this.tcp = new StreamTransport('TCP', events, opts.limits, this.guard, log);
    this.tls = new StreamTransport('TLS', events, opts.limits, this.guard, log, opts.tls, opts.tlsClient);
    this.ws = new WsTransport('WS', events, opts.limits, this.guard, log);
    this.wss = new WsTransport('WSS', events, opts.limits, this.guard, log, opts.tls);
  }

  /** Serves another WebSocket sub-protocol on the WS and WSS ports (RFC 7977: "msrp"). Before start(). */
  serveWebSocketSubprotocol(name: string, maxPayload: number, adopt: (ws: WebSocket, remote: string, secure: boolean) => void): void {
    this.ws.subprotocols.set(name, { maxPayload, adopt: (ws, remote) => adopt(ws, remote, false) });
    this.wss.subprotocols.set(name, { maxPayload, adopt: (ws, remote) => adopt(ws, remote, true) });
  }

  async start(): Promise<ListeningPorts> {
    const { bind, port, tlsPort, wsPort, wssPort } = this.opts;
    if (port !== 0) await this.listenUdpAndTcp(bind, port);
    if (tlsPort !== 0 && this.opts.tls) this.ports.TLS = await this.tls.listen(bind, listenPort(tlsPort));
    if (wsPort !== 0) this.ports.WS = await this.ws.listen(bind, listenPort(wsPort));
    if (wssPort !== 0 && this.opts.tls) this.ports.WSS = await this.wss.listen(bind, listenPort(wssPort));
    this.guard.start();
    return this.ports;
  }

  /**
   * Tells the transports which flows the SIP core still uses (a registration, a subscription):
   * those are not closed for being idle (RFC 5626 §5).
   */
  setFlowInUse(inUse: (flowId: string) => boolean): void {
    this.guard.inUse = inUse;
  }

  /**
   * UDP and TCP on one port number (RFC 3263 looks both up at the same port). With 'auto' the
   * UDP port the system picks may be taken for TCP: then both are tried again elsewhere.
   */
  private async listenUdpAndTcp(bind: string, port: PortChoice): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const udp = await this.udp.listen(bind, listenPort(port));
      try {
        this.ports.TCP = await this.tcp.listen(bind, udp);
        this.ports.UDP = udp;
        return;
      } catch (err) {
        if (port !== 'auto' || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw err;
        this.udp.close();
      }
    }
  }

  /** The native UDP socket's hold on new work and its own challenge (null on node's socket, or before start). */
  get udpGate(): (AdmissionGate & NativeChallenger) | null {
    return this.udp.gate;
  }

  /** Which socket carries UDP ('native' or 'node'; null without UDP). */
  get udpEngine(): 'native' | 'node' | null {
    return this.udp.engineInUse;
  }

  /** The UDP receive queue's delay (see UdpTransport.backlogMs); measured once `probeQueue` ran. */
  queueDelayMs(): number {
    return this.udp.backlogMs();
  }

  /** The share of the UDP socket's receive buffer the kernel holds unread (0–1). */
  receiveBufferFill(): number {
    return this.udp.bufferFill();
  }

  /** Starts measuring the UDP receive queue's delay (overload control). */
  probeQueue(): void {
    this.udp.startProbing();
  }

  /** Whether a connection-oriented flow is still open. */
  hasFlow(flowId: string): boolean {
    return this.tcp.flows.has(flowId) || this.tls.flows.has(flowId) || this.ws.flows.has(flowId) || this.wss.flows.has(flowId);
  }

  /**
   * Sends bytes. Failures (no route, closed flow, refused connection) are
   * reported through `onError`, never thrown, so that transactions see them.
   */
  send(data: Buffer, dest: Destination, onError: (err: Error) => void): void {
    try {
      switch (dest.transport) {
        case 'UDP':
          this.udp.send(data, dest.address, dest.port);
          return;
        case 'WS':
        case 'WSS': {
          // A browser cannot be called back: only its own connection reaches it (RFC 7118 §5).
          const transport = dest.transport === 'WS' ? this.ws : this.wss;
          const flow = dest.flowId !== undefined ? transport.flows.get(dest.flowId) : undefined;
          if (!flow) throw new TransportError('WebSocket flow is closed');
          flow.send(data);
          return;
        }
        case 'TCP':
        case 'TLS': {
          const transport = dest.transport === 'TCP' ? this.tcp : this.tls;
          const flow = dest.flowId !== undefined ? transport.flows.get(dest.flowId) : undefined;
          if (flow) {
            flow.send(data);
            return;
          }
          transport.connect(dest.address, dest.port, dest.servername).then(
            (f) => f.send(data),
            (err: Error) => onError(new TransportError(`${dest.transport} connect to ${dest.address}:${dest.port} failed: ${err.message}`)),
          );
          return;
        }
      }
    } catch (err) {
      onError(err as Error);
    }
  }

  close(): void {
    this.udp.close();
    this.tcp.close();
    this.tls.close();
    this.ws.close();
    this.wss.close();
    this.guard.stop();
    this.log.debug('transports closed');
  }
}

/** The number to pass to listen(): 0 asks the system for a free port. */
function listenPort(p: PortChoice): number {
  return p === 'auto' ? 0 : p;
}
