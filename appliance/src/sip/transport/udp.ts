import dgram from 'node:dgram';
import net from 'node:net';
import type { ParseLimits } from '../message/parser.js';
import { parseDatagram } from '../message/parser.js';
import type { Logger } from '../../log.js';
import { type TransportEvents, flowKey, TransportError, deliver } from './transport-types.js';

/** The UDP listener: one socket, one datagram is one message (RFC 3261 §18.3). */
export class UdpTransport {
  private socket: dgram.Socket | null = null;

  constructor(
    private readonly events: TransportEvents,
    private readonly limits: ParseLimits,
    private readonly log: Logger,
  ) {}

  async listen(address: string, port: number): Promise<number> {
    const socket = dgram.createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
    this.socket = socket;
    socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo));
    socket.on('error', (err) => this.log.warn({ err }, 'UDP socket error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return socket.address().port;
  }

  private onDatagram(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    // keep-alive datagrams (RFC 5626 §4.4.1 STUN is not supported; CRLF pings are ignored)
    if (buf.length <= 4 && buf.every((b) => b === 13 || b === 10 || b === 0)) return;
    const source = { transport: 'UDP' as const, address: rinfo.address, port: rinfo.port, flowId: flowKey('UDP', rinfo.address, rinfo.port) };
    try {
      deliver(this.events, parseDatagram(buf, this.limits), source);
    } catch (err) {
      this.log.warn({ err, from: source }, 'unparseable datagram dropped');
    }
  }

  send(data: Buffer, address: string, port: number): void {
    if (this.socket === null) throw new TransportError('UDP transport not open');
    if (!net.isIP(address)) throw new TransportError(`not an IP address: ${address}`);
    // no callback: a failed send is emitted as 'error' on the socket and logged there
    this.socket.send(data, port, address);
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
  }
}
