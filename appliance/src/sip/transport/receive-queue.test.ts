import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { kernelReceiveQueue, procAddress, receiveQueueOf } from './receive-queue.js';

const TABLE = [
  '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
  ' 2760: 0100007F:13C4 00000000:0000 07 00000000:000CE240 00:00000000 00000000     0        0 1427960 2 000000008638f095 0',
  ' 2761: 0200007F:13C4 00000000:0000 07 00000000:00000900 00:00000000 00000000     0        0 1427961 2 000000008638f096 0',
  ' 2764: 0100007F:8772 0100007F:13C4 07 00000000:00000500 00:00000000 00000000     0        0 1428553 2 000000000648557a 0',
].join('\n');

describe("the kernel's count of a UDP socket's queued bytes (/proc/net/udp)", () => {
  it('writes a bound address as the table does: each 32-bit word in the machine order, then the port', () => {
    expect(procAddress('127.0.0.1', 5060)).toBe('0100007F:13C4');
    expect(procAddress('0.0.0.0', 5060)).toBe('00000000:13C4');
    expect(procAddress('::1', 5060)).toBe('00000000000000000000000001000000:13C4');
    expect(procAddress('::', 80)).toBe('00000000000000000000000000000000:0050');
    expect(procAddress('2001:db8::5', 5060)).toBe('B80D0120000000000000000005000000:13C4');
  });

  it('reads rx_queue of the socket bound to that address and port, never a remote address or another local one', () => {
    expect(receiveQueueOf(TABLE, '0100007F:13C4')).toBe(0xce240);
    expect(receiveQueueOf(TABLE, '0200007F:13C4')).toBe(0x900);
    expect(receiveQueueOf(TABLE, '0100007F:8772')).toBe(0x500);
    expect(receiveQueueOf(TABLE, '0100007F:13C5')).toBeNull();
  });

  it.runIf(existsSync('/proc/net/udp'))('sees a datagram wait on a real socket until the event loop reads it', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const port = sock.address().port;
    // a name lookup that answers at once, so that send() reaches the kernel before it returns
    const lookup = (address: string, _o: unknown, cb: (e: Error | null, a: string, f: number) => void) => cb(null, address, 4);
    const sender = dgram.createSocket({ type: 'udp4', lookup });
    await new Promise<void>((r) => sender.bind(0, '127.0.0.1', () => r()));
    expect(kernelReceiveQueue('127.0.0.1', port)).toBe(0);
    sender.send(Buffer.alloc(400), port, '127.0.0.1');
    // still this tick, so the loop cannot have read it; the kernel may finish delivering it a
    // moment later on a busy machine (a deferred soft interrupt): asked again for up to a second
    let queued = kernelReceiveQueue('127.0.0.1', port) ?? 0;
    for (const until = Date.now() + 1000; queued === 0 && Date.now() < until; ) queued = kernelReceiveQueue('127.0.0.1', port) ?? 0;
    expect(queued).toBeGreaterThan(400);
    await new Promise<void>((r) => sock.once('message', () => r()));
    expect(kernelReceiveQueue('127.0.0.1', port)).toBe(0);
    expect(kernelReceiveQueue('127.0.0.1', 1)).toBeNull();
    sender.close();
    sock.close();
  });
});
