import { readFileSync } from 'node:fs';

/**
 * How full a UDP socket's receive buffer is, from the kernel's own table (Linux: /proc/net/udp and
 * /proc/net/udp6, one line per socket; `rx_queue` is the memory its queued datagrams take, the
 * figure the kernel compares with the buffer's size before it drops one).
 *
 * The queue-delay probe learns of a growing queue only as it reads it: under a flood at three
 * times what the process serves, the oldest probe not yet read is a third as old as the wait a
 * request arriving now will have, and the buffer (8 MiB here: ~3,600 datagrams on loopback) was
 * full before the probe said 100 ms. The kernel's count has no such lag.
 */

/** The bytes queued on the socket bound to `port` in a /proc/net/udp text, or null if none is. */
export function receiveQueueOf(procText: string, port: number): number | null {
  // "  sl  local_address rem_address   st tx_queue rx_queue …": local_address is ADDR:PORT in hex
  const portHex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of procText.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !f[1].endsWith(portHex)) continue;
    const rx = Number.parseInt(f[4].split(':')[1] ?? '', 16);
    if (Number.isFinite(rx)) return rx;
  }
  return null;
}

/** Reads the queued bytes of our socket now; null where the table cannot be read (not Linux). */
export function kernelReceiveQueue(family: 4 | 6, port: number): number | null {
  try {
    return receiveQueueOf(readFileSync(family === 6 ? '/proc/net/udp6' : '/proc/net/udp', 'latin1'), port);
  } catch {
    return null;
  }
}
