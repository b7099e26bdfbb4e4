import { randomBytes } from 'node:crypto';
import { RawClient, headerOf } from './raw-client.js';
import { authorize } from './digest-client.js';
import type { RunningAppliance } from './appliance.js';

/** A NOTIFY as received: its headers of interest and body. */
export interface Notify {
  raw: string;
  state: string;
  event: string;
  contentType: string;
  cseq: number;
  body: string;
}

export interface SubscribeOptions {
  event: string;
  /** whom to watch: a user name of the appliance's domain, or a full URI */
  target: string;
  expires?: number;
  accept?: string;
  headers?: string[];
  body?: { type: string; content: string };
}

/**
 * A subscriber for wire tests (RFC 6665 §4.1): SUBSCRIBE through the 407 challenge, keep the
 * dialog, answer every NOTIFY with 200 (or what the test says), refresh and unsubscribe inside
 * the dialog. Built on RawClient and the tests' own digest code, independent of the appliance.
 */
export class Subscriber {
  readonly callId = `sub-${randomBytes(8).toString('hex')}`;
  readonly fromTag = randomBytes(4).toString('hex');
  private cseq = 0;
  toTag = '';
  /** the Request-URI of in-dialog requests: the notifier's Contact */
  private remoteTarget = '';
  private targetUri = '';
  private event = '';
  /** the status NOTIFYs are answered with */
  answerWith = 200;

  private constructor(
    readonly client: RawClient,
    readonly app: RunningAppliance,
    readonly user: string,
    readonly password: string,
  ) {}

  static async udp(app: RunningAppliance, user: string, password = `${user}-pw`): Promise<Subscriber> {
    return new Subscriber(await RawClient.udp(app.sipPort), app, user, password);
  }

  get aor(): string {
    return `sip:${this.user}@${this.app.domain}`;
  }

  private request(method: string, uri: string, headers: string[], body?: { type: string; content: string }): string {
    const content = body?.content ?? '';
    return [
      `${method} ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.client.localPort};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      `From: <${this.aor}>;tag=${this.fromTag}`,
      `To: <${this.targetUri}>${this.toTag ? `;tag=${this.toTag}` : ''}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${++this.cseq} ${method}`,
      'Max-Forwards: 70',
      `Contact: <sip:${this.user}@127.0.0.1:${this.client.localPort}>`,
      ...headers,
      ...(body ? [`Content-Type: ${body.type}`] : []),
      `Content-Length: ${Buffer.byteLength(content)}`,
      '',
      content,
    ].join('\r\n');
  }

  /** Sends an initial SUBSCRIBE, answers one 407, and returns the final response. */
  async subscribe(o: SubscribeOptions): Promise<string> {
    this.event = o.event;
    this.targetUri = o.target.includes(':') ? o.target : `sip:${o.target}@${this.app.domain}`;
    const headers = [`Event: ${o.event}`, `Expires: ${o.expires ?? 600}`, ...(o.accept ? [`Accept: ${o.accept}`] : []), ...(o.headers ?? [])];
    this.startNotifyAnswering();
    const first = await this.client.request(this.request('SUBSCRIBE', this.targetUri, headers, o.body));
    let final = first;
    if (first.startsWith('SIP/2.0 407')) {
      const authz = authorize(headerOf(first, 'Proxy-Authenticate')[0], { method: 'SUBSCRIBE', uri: this.targetUri, username: this.user, password: this.password });
      final = await this.client.request(this.request('SUBSCRIBE', this.targetUri, [...headers, `Proxy-Authorization: ${authz}`], o.body));
    }
    if (final.startsWith('SIP/2.0 2')) {
      this.toTag = /^To:.*;tag=([^;\s]+)/im.exec(final)?.[1] ?? '';
      this.remoteTarget = /^Contact:\s*<([^>]+)>/im.exec(final)?.[1] ?? this.targetUri;
    }
    return final;
  }

  /** A SUBSCRIBE inside the dialog (refresh, or Expires: 0 to end it); returns the final response. */
  async refresh(expires: number, extra: string[] = []): Promise<string> {
    return this.client.request(this.request('SUBSCRIBE', this.remoteTarget, [`Event: ${this.event}`, `Expires: ${expires}`, ...extra]));
  }

  /** An in-dialog SUBSCRIBE as built, for tests that tamper with it. */
  inDialogRequest(expires: number, extra: string[] = []): string {
    return this.request('SUBSCRIBE', this.remoteTarget, [`Event: ${this.event}`, `Expires: ${expires}`, ...extra]);
  }

  private answering = false;
  private readonly notifies: Notify[] = [];
  private waiters: (() => void)[] = [];

  /** Answers NOTIFYs of this dialog as they come and keeps them in order. */
  private startNotifyAnswering(): void {
    if (this.answering) return;
    this.answering = true;
    const loop = async (): Promise<void> => {
      while (!this.client.closed) {
        let m: string;
        try {
          // short waits, so that the loop ends soon after close()
          m = await this.client.next((x) => x.startsWith('NOTIFY ') && x.includes(this.callId), 500);
        } catch {
          continue;
        }
        this.client.answer(m, this.answerWith, this.answerWith === 200 ? 'OK' : 'Failed');
        const header = (n: string) => headerOf(m, n)[0] ?? '';
        const sep = m.indexOf('\r\n\r\n');
        this.notifies.push({
          raw: m,
          state: header('Subscription-State'),
          event: header('Event'),
          contentType: header('Content-Type'),
          cseq: Number(/^CSeq:\s*(\d+)/im.exec(m)?.[1] ?? 0),
          body: m.slice(sep + 4),
        });
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      }
    };
    void loop();
  }

  /** The next NOTIFY of this dialog (in arrival order), waiting at most `timeoutMs`. */
  async nextNotify(timeoutMs = 10_000): Promise<Notify> {
    const end = Date.now() + timeoutMs;
    while (this.notifies.length === 0) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no NOTIFY for ${this.user} in ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.notifies.shift()!;
  }

  /** NOTIFYs until one satisfies `pred` (those before it are skipped); for states reached through several NOTIFYs. */
  async notifyWhere(pred: (n: Notify) => boolean, timeoutMs = 10_000): Promise<Notify> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const n = await this.nextNotify(Math.max(1, end - Date.now()));
      if (pred(n)) return n;
    }
  }

  close(): void {
    this.client.closed = true;
    this.client.close();
  }
}
