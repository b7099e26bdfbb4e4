import net from 'node:net';
import tls from 'node:tls';
import { RawClient } from './raw-client.js';

/** A device listening on TCP or TLS at 127.0.0.1, which the appliance connects to. */
export interface StreamDevice {
  port: number;
  /** connections that were set up (TLS: handshake completed), each read and answered by the test */
  connections: RawClient[];
  /** TCP connections accepted, whether or not their TLS handshake completed */
  accepted: number;
  /** TLS handshakes that did not complete (the appliance refused our certificate and hung up) */
  abortedHandshakes: Error[];
  close(): Promise<void>;
}

/**
 * Starts a device on an ephemeral port: plain TCP, or TLS with the given certificate and key.
 *
 * @example
 * const device = await streamDevice('TLS', { cert, key });
 * const conn = await eventually(() => device.connections[0]);
 * const msg = await conn.next((m) => m.startsWith('MESSAGE '));
 * conn.answer(msg);
 */
export async function streamDevice(kind: 'TCP' | 'TLS', credentials?: { cert: string; key: string }): Promise<StreamDevice> {
  const sockets = new Set<net.Socket>();
  const device: Omit<StreamDevice, 'port' | 'close'> = { connections: [], accepted: 0, abortedHandshakes: [] };
  const adopt = (socket: net.Socket): void => {
    device.connections.push(RawClient.over(kind, socket));
  };
  const server = kind === 'TLS' ? tls.createServer({ ...credentials }, adopt) : net.createServer(adopt);
  server.on('connection', (socket: net.Socket) => {
    device.accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  if (kind === 'TLS') server.on('tlsClientError', (err: Error) => device.abortedHandshakes.push(err));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(device, {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}
