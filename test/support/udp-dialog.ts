import { randomBytes } from 'node:crypto';
import { RawClient, headerOf } from './raw-client.js';
import { authorize } from './digest-client.js';
import type { RunningAppliance } from './appliance.js';

const hex = (n: number) => randomBytes(n).toString('hex');

/** A dialog as a UDP test client holds it: its From and To values (with tags), the target, its CSeq. */
export interface UdpDialog {
  callId: string;
  local: string;
  remote: string;
  remoteTarget: string;
  cseq: number;
  /** the final response (or, for a dialog the client answered, the INVITE) that made it */
  made: string;
}

/**
 * A SIP user agent over UDP for dialog tests: it sends exactly what a test asks (an INVITE with
 * digest, in-dialog requests with chosen headers, the ACK only when told to), so a test can drop
 * ACKs, add Record-Route and see what the appliance resends. Built on RawClient.
 */
export class UdpAgent {
  private constructor(
    readonly app: RunningAppliance,
    readonly name: string,
    readonly password: string,
    readonly sip: RawClient,
  ) {}

  static async open(app: RunningAppliance, name: string, password: string): Promise<UdpAgent> {
    return new UdpAgent(app, name, password, await RawClient.udp(app.sipPort));
  }

  get port(): number {
    return this.sip.localPort;
  }

  get aor(): string {
    return `sip:${this.name}@${this.app.domain}`;
  }

  /** One request's text: the Via names this client's port, with a fresh branch. */
  build(method: string, uri: string, d: { callId: string; local: string; remote: string }, cseq: number, headers: string[], body = '', type = 'application/sdp'): string {
    return [
      `${method} ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK${hex(6)};rport`,
      `From: ${d.local}`,
      `To: ${d.remote}`,
      `Call-ID: ${d.callId}`,
      `CSeq: ${cseq} ${method}`,
      'Max-Forwards: 70',
      ...headers,
      ...(body ? [`Content-Type: ${type}`] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  }

  /**
   * INVITEs `uri` with `sdp`, answering the digest challenge, and returns the final response and
   * the dialog it made. The 2xx is not ACKed: the test decides (see `ack`).
   */
  async invite(uri: string, sdp: string, headers: string[]): Promise<UdpDialog> {
    const d = { callId: `u${hex(8)}`, local: `<${this.aor}>;tag=${hex(4)}`, remote: `<${uri}>` };
    const first = await this.sip.request(this.build('INVITE', uri, d, 1, headers, sdp), 10_000);
    let final = first;
    if (first.startsWith('SIP/2.0 407')) {
      const authz = authorize(headerOf(first, 'Proxy-Authenticate')[0], { method: 'INVITE', uri, username: this.name, password: this.password });
      final = await this.sip.request(this.build('INVITE', uri, d, 2, [...headers, `Proxy-Authorization: ${authz}`], sdp), 10_000);
    }
    const contact = /<([^>]+)>/.exec(headerOf(final, 'Contact')[0] ?? '')?.[1] ?? uri;
    return { callId: d.callId, local: d.local, remote: headerOf(final, 'To')[0], remoteTarget: contact, cseq: 2, made: final };
  }

  /** The ACK for a 2xx in the dialog (RFC 3261 §13.2.2.4: a new branch, the INVITE's CSeq number). */
  ack(d: UdpDialog, cseq = d.cseq): void {
    this.sip.send(this.build('ACK', d.remoteTarget, d, cseq, []));
  }

  /** A request in the dialog with the next CSeq; resolves with its final response. */
  inDialog(d: UdpDialog, method: string, headers: string[], body = '', type = 'application/sdp'): Promise<string> {
    d.cseq++;
    return this.sip.request(this.build(method, d.remoteTarget, d, d.cseq, headers, body, type), 10_000);
  }

  /** Answers a request with a status, extra header lines and an SDP body (a device answering). */
  respond(req: string, status: number, reason: string, toTag: string, headers: string[] = [], body = ''): void {
    const copy = (name: string) => req.split('\r\n').filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    const to = copy('To').map((t) => (/;tag=/i.test(t) ? t : `${t};tag=${toTag}`));
    this.sip.send([`SIP/2.0 ${status} ${reason}`, ...copy('Via'), ...copy('From'), ...to, ...copy('Call-ID'), ...copy('CSeq'), ...headers, ...(body ? ['Content-Type: application/sdp'] : []), `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'));
  }

  close(): void {
    this.sip.close();
  }
}

/** An MSRP SDP for a client that never connects (a path on port 7): enough for the signalling. */
export function msrpSdp(session: string, setup: 'active' | 'passive' | 'actpass' = 'active', version = 1): string {
  return ['v=0', `o=- 4242 ${version} IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=message 7 TCP/MSRP *', 'a=accept-types:message/cpim text/plain', `a=path:msrp://127.0.0.1:7/${session};tcp`, `a=setup:${setup}`, ''].join('\r\n');
}
