import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';

/**
 * A bare SIP client over UDP, TCP or TLS for wire tests that need exact bytes
 * (keep-alives, oversize messages, chosen digest algorithms). It frames
 * responses by Content-Length and keeps every one it receives.
 */
export class RawClient {
  readonly inbox: string[] = [];
  private waiters: (() => void)[] = [];
  private pending = '';
  closed = false;
  localPort = 0;

  private constructor(
    readonly transport: 'UDP' | 'TCP' | 'TLS',
    private readonly out: (data: Buffer, done?: () => void) => void,
    private readonly closer: () => void,
  ) {}

  /** A UDP client; `localAddress` lets it come from another loopback address (another "host"). */
  static async udp(port: number, localAddress = '127.0.0.1'): Promise<RawClient> {
    // room for a burst's answers: each queued datagram costs the buffer about 2 KiB of kernel
    // bookkeeping, so the 208 KiB default drops answers past ~100 while the test is busy sending
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    await new Promise<void>((r) => s.bind(0, localAddress, () => r()));
    const c = new RawClient('UDP', (d, done) => s.send(d, port, '127.0.0.1', done), () => s.close());
    c.localPort = s.address().port;
    s.on('message', (m) => c.push(m.toString()));
    return c;
  }

  /** A TCP or TLS connection to 127.0.0.1, from `localAddress` (another loopback address) if given. */
  static async stream(kind: 'TCP' | 'TLS', port: number, localAddress?: string): Promise<RawClient> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s: net.Socket =
        kind === 'TLS'
          ? // tls.connect hands localAddress on to net.connect; its option type does not list it
            tls.connect({ host: '127.0.0.1', port, localAddress, rejectUnauthorized: false } as tls.ConnectionOptions & net.TcpNetConnectOpts, () => resolve(s))
          : net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(s));
      s.once('error', reject);
    });
    return RawClient.over(kind, socket);
  }

  /**
   * A client over an open TCP or TLS socket: one the test opened, or one a test server accepted
   * (a device the appliance connects to, which reads requests and answers them).
   */
  static over(kind: 'TCP' | 'TLS', socket: net.Socket): RawClient {
    // a reset by the peer shows as `closed`, not as an uncaught error
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    const c = new RawClient(kind, (d, done) => socket.write(d, done), () => socket.destroy());
    c.localPort = socket.localPort ?? 0;
    socket.on('data', (d: Buffer) => c.feed(d.toString()));
    socket.on('close', () => {
      c.closed = true;
      c.wake();
    });
    return c;
  }

  private feed(text: string): void {
    this.pending += text;
    for (;;) {
      if (this.pending.startsWith('\r\n') && !this.pending.startsWith('\r\n\r\n')) {
        this.push('\r\n');
        this.pending = this.pending.slice(2);
        continue;
      }
      const end = this.pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      const cl = Number(/^(?:Content-Length|l)\s*:\s*(\d+)/im.exec(this.pending.slice(0, end))?.[1] ?? 0);
      if (this.pending.length < end + 4 + cl) return;
      this.push(this.pending.slice(0, end + 4 + cl));
      this.pending = this.pending.slice(end + 4 + cl);
    }
  }

  private push(m: string): void {
    this.inbox.push(m);
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(data: string | Buffer): void {
    this.out(typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** Sends bytes and resolves once they are handed to the system (for byte-at-a-time senders). */
  write(data: Buffer): Promise<void> {
    return new Promise((resolve) => this.out(data, resolve));
  }

  /** The next received message matching `pred` (removed from the inbox). */
  async next(pred: (m: string) => boolean = () => true, timeoutMs = 5000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0];
      if (this.closed) throw new Error('connection closed');
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no matching message in ${timeoutMs} ms; got:\n${this.inbox.join('\n---\n')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Sends a request and returns its final response (provisional ones are skipped). */
  async request(text: string, timeoutMs = 5000): Promise<string> {
    const callId = /^Call-ID:\s*(\S+)/im.exec(text)![1];
    const cseq = /^CSeq:\s*(\d+)/im.exec(text)![1];
    this.send(text);
    // the whole Call-ID header, not a substring: "x1" must not take the answer meant for "x10"
    const ofCall = new RegExp(`^(Call-ID|i)\\s*:\\s*${callId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'mi');
    const ofCSeq = new RegExp(`^CSeq:\\s*${cseq} `, 'm');
    return this.next((m) => /^SIP\/2\.0 [2-6]/.test(m) && ofCall.test(m) && ofCSeq.test(m), timeoutMs);
  }

  /** Answers a received request (RFC 3261 §8.2.6.2: copies Via, From, To, Call-ID and CSeq). */
  answer(request: string, status = 200, reason = 'OK', toTag?: string): void {
    const copy = (name: string) => request.split('\r\n').filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    const to = copy('To').map((t) => (toTag !== undefined && !/;tag=/i.test(t) ? `${t};tag=${toTag}` : t));
    this.send([`SIP/2.0 ${status} ${reason}`, ...copy('Via'), ...copy('From'), ...to, ...copy('Call-ID'), ...copy('CSeq'), 'Content-Length: 0', '', ''].join('\r\n'));
  }

  close(): void {
    this.closer();
  }
}

export interface RequestSpec {
  method: string;
  uri: string;
  from: string;
  to: string;
  transport: 'UDP' | 'TCP' | 'TLS';
  localPort: number;
  cseq?: number;
  callId?: string;
  headers?: string[];
  body?: string;
  /** Content-Type of a body (default text/plain) */
  contentType?: string;
}

/** Builds a request with fresh branch/tag/Call-ID unless given. */
export function buildRequest(s: RequestSpec): string {
  const body = s.body ?? '';
  return [
    `${s.method} ${s.uri} SIP/2.0`,
    `Via: SIP/2.0/${s.transport} 127.0.0.1:${s.localPort};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    `From: <${s.from}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <${s.to}>`,
    `Call-ID: ${s.callId ?? randomBytes(8).toString('hex')}`,
    `CSeq: ${s.cseq ?? 1} ${s.method}`,
    'Max-Forwards: 70',
    ...(s.headers ?? []),
    ...(body ? [`Content-Type: ${s.contentType ?? 'text/plain'}`] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

export function headerOf(msg: string, name: string): string[] {
  return [...msg.matchAll(new RegExp(`^${name}:\\s*(.*)$`, 'gim'))].map((m) => m[1].trim());
}
