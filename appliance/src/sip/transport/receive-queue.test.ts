import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { procAddress, receiveQueueOf, receiveQueueReader } from './receive-queue.js';

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

  it.runIf(existsSync('/proc/net/udp'))('reads nothing for a port no socket is bound to', () => {
    expect(receiveQueueReader('127.0.0.1', 1)()).toBeNull();
  });
});
