import { randomBytes } from 'node:crypto';
import { RawClient, headerOf } from './raw-client.js';
import { authorize } from './digest-client.js';
import type { RunningAppliance } from './appliance.js';

const hex = (n: number) => randomBytes(n).toString('hex');

/**
 * A pager-mode user over UDP for IMDN tests (RFC 5438): it registers its own socket as a device,
 * sends MESSAGEs with digest and answers every MESSAGE it receives with 200, so a test reads
 * exactly what reached the device. Built on RawClient; nothing here is the appliance's code.
 */
export class ImUser {
  private constructor(
    readonly app: RunningAppliance,
    readonly name: string,
    readonly password: string,
    readonly sip: RawClient,
  ) {}

  static async open(app: RunningAppliance, name: string, password: string): Promise<ImUser> {
    return new ImUser(app, name, password, await RawClient.udp(app.sipPort));
  }

  get aor(): string {
    return `sip:${this.name}@${this.app.domain}`;
  }

  /** Sends a request built by `build(cseq, extraHeaders)`, answering one 401/407; returns the final response. */
  private async withDigest(method: string, uri: string, build: (cseq: number, extra: string[]) => string): Promise<string> {
    const first = await this.sip.request(build(1, []), 12_000);
    const status = first.slice(8, 11);
    if (status !== '401' && status !== '407') return first;
    const [challenge, credentials] = status === '401' ? ['WWW-Authenticate', 'Authorization'] : ['Proxy-Authenticate', 'Proxy-Authorization'];
    const value = authorize(headerOf(first, challenge)[0], { method, uri, username: this.name, password: this.password });
    return this.sip.request(build(2, [`${credentials}: ${value}`]), 12_000);
  }

  /** Registers this client's socket as the user's device; returns the final response. */
  register(expires = 300): Promise<string> {
    const callId = `reg-${hex(6)}`;
    const tag = hex(4);
    const uri = `sip:${this.app.domain}`;
    return this.withDigest('REGISTER', uri, (cseq, extra) =>
      this.build('REGISTER', uri, { callId, from: `<${this.aor}>;tag=${tag}`, to: `<${this.aor}>`, cseq }, [`Contact: <sip:${this.name}@127.0.0.1:${this.sip.localPort}>`, `Expires: ${expires}`, ...extra]),
    );
  }

  /** Sends a MESSAGE to `to` (a user name or a full URI) and returns the final response. */
  message(to: string, contentType: string, body: string, headers: string[] = [], callId = `m-${hex(8)}`): Promise<string> {
    const uri = to.startsWith('sip:') ? to : `sip:${to}@${this.app.domain}`;
    const tag = hex(4);
    return this.withDigest('MESSAGE', uri, (cseq, extra) => this.build('MESSAGE', uri, { callId, from: `<${this.aor}>;tag=${tag}`, to: `<${uri}>`, cseq }, [...headers, ...extra], body, contentType));
  }

  /** The next MESSAGE that reached this device and matches `pred`, answered 200. */
  async received(what: string, pred: (m: string) => boolean = () => true, timeoutMs = 10_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      let m: string;
      try {
        m = await this.sip.next((x) => x.startsWith('MESSAGE ') && pred(x), Math.max(1, end - Date.now()));
      } catch (err) {
        throw new Error(`${this.name}: ${what}: ${(err as Error).message}`);
      }
      this.answer(m, 200, 'OK');
      // a retransmission (RFC 3261 Timer E, on a loaded machine) is answered again, not counted
      const key = `${headerOf(m, 'Call-ID')[0]} ${headerOf(m, 'CSeq')[0]}`;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      return m;
    }
  }

  private readonly seen = new Set<string>();

  /**
   * Answers a request from its header section only: RawClient.answer copies every `From:` line,
   * and a CPIM body has From and To lines of its own.
   */
  answer(request: string, status: number, reason: string): void {
    const head = request.slice(0, request.indexOf('\r\n\r\n'));
    this.sip.answer(head, status, reason, hex(3));
  }

  private build(method: string, uri: string, d: { callId: string; from: string; to: string; cseq: number }, headers: string[], body = '', type = 'text/plain'): string {
    return [
      `${method} ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.sip.localPort};branch=z9hG4bK${hex(6)};rport`,
      `From: ${d.from}`,
      `To: ${d.to}`,
      `Call-ID: ${d.callId}`,
      `CSeq: ${d.cseq} ${method}`,
      'Max-Forwards: 70',
      ...headers,
      ...(body ? [`Content-Type: ${type}`] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  }

  /** Closes the socket (once; later calls do nothing). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sip.close();
  }

  private closed = false;
}

/** The body of a SIP message (after the first blank line). */
export function bodyOf(msg: string): string {
  const i = msg.indexOf('\r\n\r\n');
  return i < 0 ? '' : msg.slice(i + 4);
}

/**
 * A message/cpim body (RFC 3862) asking for notifications (RFC 5438 §6): the imdn namespace,
 * Message-ID, DateTime and Disposition-Notification, then the text.
 */
export function cpimWithImdn(o: { from: string; to: string; messageId: string; dateTime: string; dispositions: string; text: string; extra?: string[] }): string {
  return [
    `From: <${o.from}>`,
    `To: <${o.to}>`,
    'NS: imdn <urn:ietf:params:imdn>',
    `imdn.Message-ID: ${o.messageId}`,
    `DateTime: ${o.dateTime}`,
    `imdn.Disposition-Notification: ${o.dispositions}`,
    ...(o.extra ?? []),
    '',
    'Content-Type: text/plain; charset=utf-8',
    '',
    o.text,
  ].join('\r\n');
}

/** An IMDN as a recipient builds it (RFC 5438 §7.2.1.1): CPIM with a message/imdn+xml body. */
export function imdnCpim(o: { from: string; to: string; messageId: string; dateTime: string; originalRecipient?: string; kind: 'delivery' | 'display'; status: string }): string {
  const xml = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<imdn xmlns="urn:ietf:params:xml:ns:imdn">',
    `<message-id>${o.messageId}</message-id>`,
    `<datetime>${o.dateTime}</datetime>`,
    ...(o.originalRecipient ? [`<original-recipient-uri>${o.originalRecipient}</original-recipient-uri>`] : []),
    `<${o.kind}-notification><status><${o.status}/></status></${o.kind}-notification>`,
    '</imdn>',
  ].join('');
  return [
    `From: <${o.from}>`,
    `To: <${o.to}>`,
    'NS: imdn <urn:ietf:params:imdn>',
    `imdn.Message-ID: n${hex(6)}`,
    `DateTime: ${new Date().toISOString()}`,
    '',
    'Content-Type: message/imdn+xml',
    'Content-Disposition: notification',
    `Content-Length: ${Buffer.byteLength(xml)}`,
    '',
    xml,
  ].join('\r\n');
}

/** One CPIM header's value (first occurrence; `name` may carry its namespace prefix, e.g. imdn.Message-ID). */
export function cpimHeader(cpim: string, name: string): string | undefined {
  const head = cpim.slice(0, cpim.indexOf('\r\n\r\n'));
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

/** The text of an element of an IMDN XML document (`<name>…</name>`), or undefined. */
export function imdnElement(xml: string, name: string): string | undefined {
  return new RegExp(`<(?:\\w+:)?${name}>([^<]*)</(?:\\w+:)?${name}>`).exec(xml)?.[1];
}

/** The status element of an IMDN's notification (`delivered`, `failed`, `stored`, `displayed` …). */
export function imdnStatus(xml: string): { kind: string; status: string } | undefined {
  const m = /<(?:\w+:)?(delivery|display|processing)-notification>\s*<(?:\w+:)?status>\s*<(?:\w+:)?([\w-]+)\s*\/>/.exec(xml);
  return m ? { kind: m[1], status: m[2] } : undefined;
}
