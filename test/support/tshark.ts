import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { WatchedProcess } from './watched-process.js';

/** A running loopback capture (tshark, Debian package "tshark"). */
export interface Capture {
  file: string;
  /** stops the capture and waits until the file is complete */
  stop(): Promise<void>;
  cleanup(): void;
}

/**
 * Opens a connection to `port` and closes it at once (SYN, then FIN), returning its local port:
 * a marker whose packets show in tshark's per-packet lines. Fails when the connection is refused
 * or not made within 5 s.
 */
function markerConnection(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const marker = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      marker.destroy();
      reject(new Error(`marker connection to port ${port}: not made within 5 s`));
    }, 5000);
    marker.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`marker connection to port ${port}: ${err.message}`));
    });
    marker.once('connect', () => {
      clearTimeout(timer);
      marker.removeAllListeners('error');
      marker.on('error', () => undefined);
      const local = marker.localPort!;
      marker.end();
      setTimeout(() => marker.destroy(), 2000).unref();
      resolve(local);
    });
  });
}

/**
 * Starts capturing TCP on `lo` for the given ports, and resolves once a marker connection shows in
 * the capture, so that nothing the test sends next is missed. On failure tshark is stopped and
 * its folder removed.
 */
export async function captureLoopback(ports: number[]): Promise<Capture> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'parley-pcap-'));
  const file = path.join(dir, 'capture.pcapng');
  const filter = ports.map((p) => `tcp port ${p}`).join(' or ');
  const port = ports[ports.length - 1];
  // -P -l: a summary line per packet as it is captured, so that the markers can be seen arrive
  const child = spawn('tshark', ['-i', 'lo', '-f', filter, '-w', file, '-P', '-l'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const watched = new WatchedProcess('tshark', child);
  /**
   * Whether tshark has printed, past character `from` of its output, the closing packet of one of
   * the marker connections from `locals` (a local port used again later cannot match an older line).
   */
  const closed =
    (from: number, ...locals: number[]): (() => true | undefined) =>
    () => {
      const since = watched.output.slice(from);
      return locals.some((l) => new RegExp(`\\b${l} . ${port} \\[FIN`).test(since)) ? true : undefined;
    };
  // SIGINT lets tshark finish the file; one that is still starting may not heed it: killed after 8 s
  const stopped = (): Promise<void> => watched.stop(() => child.kill('SIGINT'));
  try {
    // tshark prints "Capturing on" before it starts dumpcap, which captures only once it has
    // opened the interface: a loaded machine lost a test's first packets in between. So markers
    // go out until one of them is seen (a new one each second, at most 10).
    await watched.waitFor('tshark starting', () => (/Capturing on/.test(watched.output) ? true : undefined), 20_000);
    const from = watched.output.length;
    const markers: number[] = [];
    for (;;) {
      markers.push(await markerConnection(port));
      try {
        await watched.waitFor('a marker connection in the capture', closed(from, ...markers), 1000);
        break;
      } catch (err) {
        if (markers.length === 10 || watched.exited) throw err;
      }
    }
  } catch (err) {
    await stopped();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    file,
    stop: async () => {
      if (watched.exited) return;
      // Captured packets reach the capture file in blocks, so the last ones of the test could be
      // left out when it stops at once: a marker connection goes last, and the capture stops
      // once tshark has seen it close.
      try {
        const from = watched.output.length;
        const local = await markerConnection(port);
        await watched.waitFor('the marker connection in the capture', closed(from, local), 20_000);
      } finally {
        await stopped();
      }
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Reads a capture with Wireshark's dissectors, `decodeAs` mapping ports to protocols
 * (`-d tcp.port==N,msrp`), and returns one line of `fields` per packet matching `filter`.
 */
export function readCapture(file: string, decodeAs: [number, string][], filter: string, fields = ['frame.number']): Promise<string[]> {
  const args = ['-r', file, '-2', ...decodeAs.flatMap(([p, proto]) => ['-d', `tcp.port==${p},${proto}`]), '-Y', filter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])];
  return new Promise((resolve, reject) =>
    execFile('tshark', args, { maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.split('\n').filter((l) => l.trim() !== '')))),
  );
}

/**
 * The packets Wireshark's dissectors call malformed or flag at error level (frame number and
 * message each): what every capture test asserts is empty.
 */
export function dissectorErrors(file: string, decodeAs: [number, string][]): Promise<string[]> {
  return readCapture(file, decodeAs, '_ws.malformed || _ws.expert.severity == error', ['frame.number', '_ws.expert.message']);
}
