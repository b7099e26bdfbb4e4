import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { kernelReceiveQueue, receiveQueueOf } from './receive-queue.js';

const TABLE = [
  '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
  ' 2760: 0100007F:13C4 00000000:0000 07 00000000:000CE240 00:00000000 00000000     0        0 1427960 2 000000008638f095 0',
  ' 2764: 0100007F:8772 00000000:0000 07 00000000:00000500 00:00000000 00000000     0        0 1428553 2 000000000648557a 0',
].join('\n');

describe("the kernel's count of a UDP socket's queued bytes (/proc/net/udp)", () => {
  it('reads rx_queue of the socket on a port, and null for a port with none', () => {
    expect(receiveQueueOf(TABLE, 5060)).toBe(0xce240);
    expect(receiveQueueOf(TABLE, 0x8772)).toBe(0x500);
    expect(receiveQueueOf(TABLE, 5061)).toBeNull();
  });

  it('sees a datagram wait on a real socket until the event loop reads it', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const port = sock.address().port;
    // a name lookup that answers at once, so that send() reaches the kernel before it returns
    const lookup = (address: string, _o: unknown, cb: (e: Error | null, a: string, f: number) => void) => cb(null, address, 4);
    const sender = dgram.createSocket({ type: 'udp4', lookup });
    await new Promise<void>((r) => sender.bind(0, '127.0.0.1', () => r()));
    expect(kernelReceiveQueue(4, port)).toBe(0);
    sender.send(Buffer.alloc(400), port, '127.0.0.1');
    // the same tick: the loop has not read it yet
    expect(kernelReceiveQueue(4, port)).toBeGreaterThan(400);
    await new Promise<void>((r) => sock.once('message', () => r()));
    await new Promise((r) => setImmediate(r));
    expect(kernelReceiveQueue(4, port)).toBe(0);
    sender.close();
    sock.close();
  });
});
