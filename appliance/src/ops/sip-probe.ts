import dgram from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';

/** A response as the probe reads it: status line and header values by lower-case name. */
export interface ProbeResponse {
  status: number;
  reason: string;
  header(name: string): string | undefined;
}

const id = (): string => randomBytes(8).toString('hex');

function headersOf(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\r\n\r\n')[0].split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) {
      const name = line.slice(0, i).trim().toLowerCase();
      if (!out.has(name)) out.set(name, line.slice(i + 1).trim());
    }
  }
  return out;
}

/**
 * A minimal SIP user agent over UDP for `parley self-test`: sends one request at a time,
 * answers one digest challenge (RFC 3261 §22.2, RFC 7616 §3.4, qop=auth) and answers every
 * MESSAGE it receives with 200, remembering its body. It is a probe, not a client: no
 * retransmissions beyond a resend every 500 ms (RFC 3261 §17.1.2.2's T1) and a bound.
 */
export class SipProbe {
  readonly received: string[] = [];
  private waiting: { callId: string; resolve: (r: ProbeResponse) => void } | null = null;
  private nc = 0;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly server: { host: string; port: number },
  ) {
    socket.on('message', (buf) => this.onMessage(buf.toString('utf8')));
  }

  /** Opens a UDP socket on the loopback (or the family of `server.host`). */
  static async open(server: { host: string; port: number }): Promise<SipProbe> {
    const socket = dgram.createSocket(server.host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => resolve());
    });
    return new SipProbe(socket, server);
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  close(): void {
    this.socket.close();
  }

  private onMessage(text: string): void {
    if (text.startsWith('SIP/2.0 ')) {
      const h = headersOf(text);
      if (this.waiting !== null && h.get('call-id') === this.waiting.callId) {
        const [, code, reason] = /^SIP\/2\.0 (\d{3}) ?(.*)/.exec(text.split('\r\n')[0]) ?? [];
        const status = Number(code);
        if (status >= 200) {
          const w = this.waiting;
          this.waiting = null;
          w.resolve({ status, reason: reason ?? '', header: (n) => h.get(n.toLowerCase()) });
        }
      }
      return;
    }
    // a request to us: answer MESSAGE (and anything else) 200, echoing what RFC 3261 §8.2.6.2 asks
    const h = headersOf(text);
    if (text.startsWith('MESSAGE ')) this.received.push(text.slice(text.indexOf('\r\n\r\n') + 4));
    if (text.startsWith('ACK ')) return;
    const echo = ['via', 'from', 'call-id', 'cseq'].map((n) => `${n === 'call-id' ? 'Call-ID' : n === 'cseq' ? 'CSeq' : n[0].toUpperCase() + n.slice(1)}: ${h.get(n) ?? ''}`);
    const to = h.get('to') ?? '';
    const res = ['SIP/2.0 200 OK', ...echo, `To: ${to}${/;tag=/.test(to) ? '' : `;tag=${id()}`}`, 'Content-Length: 0', '', ''].join('\r\n');
    this.socket.send(res, this.server.port, this.server.host);
  }

  /**
   * Sends a request and returns its final response, answering one 401/407 with `auth`.
   * `uri` is the Request-URI; `from`/`to` are AORs.
   */
  async request(o: { method: string; uri: string; from: string; to: string; headers?: string[]; body?: string; auth?: { user: string; password: string }; timeoutMs?: number }): Promise<ProbeResponse> {
    const callId = `selftest-${id()}`;
    const fromTag = id();
    let cseq = 1;
    let credentials: string | null = null;
    for (;;) {
      const body = o.body ?? '';
      const lines = [
        `${o.method} ${o.uri} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${this.localPort};branch=z9hG4bK${id()};rport`,
        'Max-Forwards: 70',
        `From: <${o.from}>;tag=${fromTag}`,
        `To: <${o.to}>`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} ${o.method}`,
        'User-Agent: parley-self-test',
        ...(o.headers ?? []),
        ...(credentials !== null ? [credentials] : []),
        ...(body ? ['Content-Type: text/plain'] : []),
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ];
      const res = await this.exchange(lines.join('\r\n'), callId, o.timeoutMs ?? 5000);
      if ((res.status !== 401 && res.status !== 407) || o.auth === undefined || credentials !== null) return res;
      const challenge = res.header(res.status === 401 ? 'www-authenticate' : 'proxy-authenticate') ?? '';
      credentials = `${res.status === 401 ? 'Authorization' : 'Proxy-Authorization'}: ${digestAuthorization(challenge, o.method, o.uri, o.auth, ++this.nc)}`;
      cseq++;
    }
  }

  private exchange(data: string, callId: string, timeoutMs: number): Promise<ProbeResponse> {
    return new Promise((resolve, reject) => {
      const send = (): void => this.socket.send(data, this.server.port, this.server.host);
      const resend = setInterval(send, 500);
      const timer = setTimeout(() => {
        clearInterval(resend);
        this.waiting = null;
        reject(new Error(`no answer from ${this.server.host}:${this.server.port} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiting = {
        callId,
        resolve: (r) => {
          clearInterval(resend);
          clearTimeout(timer);
          resolve(r);
        },
      };
      send();
    });
  }
}

/** RFC 7616 §3.4.1 with qop=auth, for MD5 or SHA-256 (the challenge's algorithm): the credentials for SIP and XCAP alike. */
export function digestAuthorization(challenge: string, method: string, uri: string, auth: { user: string; password: string }, count = 1): string {
  const param = (name: string): string => new RegExp(`${name}=(?:"([^"]*)"|([^,\\s]+))`, 'i').exec(challenge)?.slice(1).find((v) => v !== undefined) ?? '';
  const algorithm = param('algorithm') || 'MD5';
  const H = (s: string): string => createHash(algorithm.toUpperCase() === 'SHA-256' ? 'sha256' : 'md5').update(s).digest('hex');
  const realm = param('realm');
  const nonce = param('nonce');
  const nc = count.toString(16).padStart(8, '0');
  const cnonce = id();
  const response = H(`${H(`${auth.user}:${realm}:${auth.password}`)}:${nonce}:${nc}:${cnonce}:auth:${H(`${method}:${uri}`)}`);
  return `Digest username="${auth.user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=${algorithm}, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
}
