import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * How full a UDP socket's receive buffer is, from the kernel's own table (Linux: /proc/net/udp and
 * /proc/net/udp6, one line per socket; `rx_queue` is the memory its queued datagrams take, the
 * figure the kernel compares with the buffer's size before it drops one).
 *
 * The queue-delay probe learns of a growing queue only as it reads it: under a flood at three
 * times what the process serves, the oldest probe not yet read is a third as old as the wait of a
 * request arriving now, and the buffer (8 MiB where `net.core.rmem_max` allows it: ~3,600
 * datagrams on loopback) was full before the probe said 100 ms. The kernel's count has no such lag.
 */

/**
 * A bound address and port as the table writes them: the address's 32-bit words in hex, each in
 * the machine's byte order (little-endian here, as on every machine Parley is built for), then the
 * port in hex. 127.0.0.1:5060 is `0100007F:13C4`.
 */
export function procAddress(address: string, port: number): string {
  const hex = (bytes: number[]) =>
    bytes
      .map((b) => b.toString(16).padStart(2, '0'))
      .join('')
      .toUpperCase();
  let words: number[][];
  if (net.isIPv4(address)) words = [address.split('.').map(Number)];
  else {
    // expanded to 8 groups of 16 bits, then taken as 4 words of 4 bytes
    const [head, tail = ''] = address.includes('::') ? address.split('::') : [address, ''];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    const bytes = groups.flatMap((g) => [Number.parseInt(g, 16) >> 8, Number.parseInt(g, 16) & 0xff]);
    words = [0, 4, 8, 12].map((i) => bytes.slice(i, i + 4));
  }
  return `${words.map((w) => hex([...w].reverse())).join('')}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * The bytes queued on the socket bound to `local` (as `procAddress` writes it) in a /proc/net/udp
 * text, or null if no socket is. Only that line is split: the table lists every UDP socket of the
 * host's network namespace, and this runs every 50 ms.
 */
export function receiveQueueOf(procText: string, local: string): number | null {
  const at = procText.indexOf(` ${local} `);
  if (at < 0) return null;
  const end = procText.indexOf('\n', at);
  const f = procText.slice(at, end < 0 ? undefined : end).trim().split(/\s+/);
  // local_address rem_address st tx_queue:rx_queue …
  const rx = Number.parseInt(f[3]?.split(':')[1] ?? '', 16);
  return Number.isFinite(rx) ? rx : null;
}

/**
 * A reader of the queued bytes of the socket bound to `address`:`port` (its table and line
 * written once): null when that socket is not in the table, undefined when the table cannot be
 * read at all (not Linux), which the caller takes as "stop asking".
 */
export function receiveQueueReader(address: string, port: number): () => number | null | undefined {
  const file = net.isIPv6(address) ? '/proc/net/udp6' : '/proc/net/udp';
  const local = procAddress(address, port);
  return () => {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      return undefined;
    }
    return receiveQueueOf(text, local);
  };
}
