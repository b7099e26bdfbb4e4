import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { RawClient, headerOf } from './raw-client.js';
import { authorize } from './digest-client.js';
import type { RunningAppliance } from './appliance.js';
import { MsrpEndpoint } from '../../appliance/src/msrp/msrp-endpoint.js';
import type { MsrpSession } from '../../appliance/src/msrp/msrp-session.js';
import { readMsrpMedia, writeMsrpSdp, type MsrpMedia } from '../../appliance/src/msrp/msrp-sdp.js';
import { multipartParts } from './mime.js';

const hex = (n: number) => randomBytes(n).toString('hex');

/** What a test chooses about its side of the SDP. */
export interface MediaChoice {
  setup?: 'active' | 'passive' | 'actpass';
  direction?: MsrpMedia['direction'];
  acceptTypes?: string[];
  maxSize?: number;
  /** replaces the SDP body entirely (bad-input tests) */
  rawSdp?: string;
  /** false: the test opens the MSRP connection itself (raw bytes on the wire), as caller or callee */
  connect?: boolean;
  /** MSRP over TCP (default) or over WebSocket to the appliance's WS port (RFC 7977) */
  protocol?: 'TCP/MSRP' | 'TCP/TLS/MSRP' | 'TCP/WS/MSRP';
  /** extra header lines of the INVITE (of the 200, in answerInvite) */
  headers?: string[];
  /** puts the SDP in another body (an RFC 5366 multipart with a URI list) */
  wrap?: (sdp: string) => { body: string; contentType: string };
  /** answerInvite: a 180 Ringing first, then the final response once this resolves */
  ringing?: () => Promise<unknown>;
}

/** A call as one client sees it: the dialog for BYE and the MSRP session once negotiated. */
export interface Call {
  callId: string;
  /** our From/To value with our tag, and the peer's with its tag */
  local: string;
  remote: string;
  remoteTarget: string;
  cseq: number;
  final: string;
  session: MsrpSession;
  /** the SDP the other side sent */
  peerMedia: MsrpMedia | null;
}

/**
 * A chat client for black-box tests: SIP over one TCP connection to the appliance (REGISTER,
 * INVITE with digest, ACK, BYE) built on RawClient, and MSRP on the project's own stack
 * (appliance/src/msrp), which is the protocol code under test only as a peer: what is checked
 * is what the appliance does on the wire.
 */
export class ChatClient {
  readonly msrp: MsrpEndpoint;

  private constructor(
    readonly app: RunningAppliance,
    readonly name: string,
    readonly password: string,
    readonly sip: RawClient,
  ) {
    this.msrp = new MsrpEndpoint({ host: '127.0.0.1', bind: '127.0.0.1', port: 0, tlsPort: null, maxChunkBytes: 4 * 2 ** 20, maxHeaderBytes: 16384, transactionTimeoutMs: 10_000, maxMessageBytes: 64 * 2 ** 20, chunkBytes: 2048 });
  }

  /** Connects over TCP and registers (digest). */
  static async connect(app: RunningAppliance, name: string, password: string, register = true): Promise<ChatClient> {
    const sip = await RawClient.stream('TCP', app.tcpPort);
    const c = new ChatClient(app, name, password, sip);
    await c.msrp.listen();
    if (register) {
      const res = await c.authed('REGISTER', `sip:${app.domain}`, `sip:${name}@${app.domain}`, ['Expires: 300']);
      if (!res.startsWith('SIP/2.0 200')) throw new Error(`REGISTER failed: ${res}`);
    }
    return c;
  }

  get aor(): string {
    return `sip:${this.name}@${this.app.domain}`;
  }

  private contact(): string {
    return `<sip:${this.name}@127.0.0.1:${this.sip.localPort};transport=tcp>`;
  }

  private build(method: string, uri: string, from: string, to: string, callId: string, cseq: number, extra: string[], body = '', type = 'application/sdp', branch = `z9hG4bK${hex(6)}`): string {
    return [
      `${method} ${uri} SIP/2.0`,
      `Via: SIP/2.0/TCP 127.0.0.1:${this.sip.localPort};branch=${branch};rport`,
      `From: ${from}`,
      `To: ${to}`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} ${method}`,
      'Max-Forwards: 70',
      `Contact: ${this.contact()}`,
      ...extra,
      ...(body ? [`Content-Type: ${type}`] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  }

  /** Sends a request, answers one digest challenge, returns the final response. */
  private async authed(method: string, uri: string, to: string, extra: string[], body = '', callId = `c${hex(8)}`, fromTag = hex(4), type = 'application/sdp'): Promise<string> {
    const from = `<${this.aor}>;tag=${fromTag}`;
    const first = await this.sip.request(this.build(method, uri, from, `<${to}>`, callId, 1, extra, body, type), 15_000);
    const status = first.slice(8, 11);
    if (status !== '401' && status !== '407') return first;
    if (method === 'INVITE') this.ackNon2xx(first);
    const [ch, cr] = status === '401' ? ['WWW-Authenticate', 'Authorization'] : ['Proxy-Authenticate', 'Proxy-Authorization'];
    const authz = authorize(headerOf(first, ch)[0], { method, uri, username: this.name, password: this.password });
    return this.sip.request(this.build(method, uri, from, `<${to}>`, callId, 2, [...extra, `${cr}: ${authz}`], body, type), 70_000);
  }

  /** RFC 3261 §17.1.1.3: the ACK of a non-2xx final response, on the INVITE's branch. */
  private ackNon2xx(res: string): void {
    const via = headerOf(res, 'Via')[0];
    const branch = /branch=([^;\s]+)/.exec(via)![1];
    const seq = /^CSeq:\s*(\d+)/im.exec(res)![1];
    const uri = /^To:\s*<([^>]+)>/im.exec(res)![1];
    this.sip.send(this.build('ACK', uri, headerOf(res, 'From')[0], headerOf(res, 'To')[0], headerOf(res, 'Call-ID')[0], Number(seq), [], '', '', branch));
  }

  /** Our SDP for a session. */
  sdpFor(session: MsrpSession, m: MediaChoice, fallbackSetup: 'active' | 'passive' | 'actpass'): string {
    if (m.rawSdp !== undefined) return m.rawSdp;
    return writeMsrpSdp({
      host: '127.0.0.1',
      port: session.localUri.port ?? 9,
      protocol: m.protocol ?? 'TCP/MSRP',
      path: session.localPath,
      acceptTypes: m.acceptTypes ?? ['text/plain', 'message/cpim', 'application/octet-stream'],
      maxSize: m.maxSize,
      setup: m.setup ?? fallbackSetup,
      direction: m.direction,
      sessionId: Date.now(),
    });
  }

  /**
   * INVITEs `to` (a user of the domain) with an MSRP offer; on 200 sends the ACK and, when the
   * answer is passive, connects its MSRP leg. Resolves with the final response either way.
   */
  async invite(to: string, m: MediaChoice = {}): Promise<Call> {
    const session = this.msrp.create(m.protocol === 'TCP/WS/MSRP' ? 'ws' : m.protocol === 'TCP/TLS/MSRP' ? 'tls' : 'tcp');
    const callId = `c${hex(8)}`;
    const fromTag = hex(4);
    const uri = `sip:${to}@${this.app.domain}`;
    const sdp = this.sdpFor(session, m, 'active');
    const { body: offer, contentType } = m.wrap ? m.wrap(sdp) : { body: sdp, contentType: 'application/sdp' };
    const final = await this.authed('INVITE', uri, uri, m.headers ?? [], offer, callId, fromTag, contentType);
    const call: Call = { callId, local: `<${this.aor}>;tag=${fromTag}`, remote: headerOf(final, 'To')[0], remoteTarget: '', cseq: 2, final, session, peerMedia: null };
    if (!final.startsWith('SIP/2.0 2')) {
      this.ackNon2xx(final);
      session.close();
      return call;
    }
    call.remoteTarget = /<([^>]+)>/.exec(headerOf(final, 'Contact')[0])![1];
    this.sip.send(this.build('ACK', call.remoteTarget, call.local, call.remote, callId, 2, []));
    const body = final.slice(final.indexOf('\r\n\r\n') + 4);
    call.peerMedia = readMsrpMedia(body);
    session.remotePath = call.peerMedia.path;
    if (call.peerMedia.setup === 'passive' && m.connect !== false) {
      const status = m.protocol === 'TCP/WS/MSRP' ? await this.connectWebSocket(session) : await this.msrp.connect(session);
      if (status !== 200) throw new Error(`MSRP bind failed: ${status}`);
    }
    return call;
  }

  /**
   * INVITEs `to` with credentials, waits until `ringing` resolves (the callee has the INVITE),
   * then CANCELs it (RFC 3261 §9.1: same branch, Call-ID, From, To, CSeq number). Resolves
   * with the CANCEL's response and the INVITE's final response.
   */
  async inviteAndCancel(to: string, ringing: Promise<unknown>): Promise<{ cancel: string; invite: string }> {
    const session = this.msrp.create();
    const uri = `sip:${to}@${this.app.domain}`;
    const callId = `c${hex(8)}`;
    const from = `<${this.aor}>;tag=${hex(4)}`;
    const sdp = this.sdpFor(session, {}, 'active');
    const first = await this.sip.request(this.build('INVITE', uri, from, `<${uri}>`, callId, 1, [], sdp), 15_000);
    this.ackNon2xx(first);
    const authz = authorize(headerOf(first, 'Proxy-Authenticate')[0], { method: 'INVITE', uri, username: this.name, password: this.password });
    const branch = `z9hG4bK${hex(6)}`;
    this.sip.send(this.build('INVITE', uri, from, `<${uri}>`, callId, 2, [`Proxy-Authorization: ${authz}`], sdp, 'application/sdp', branch));
    await ringing;
    const cancel = await this.sip.request(this.build('CANCEL', uri, from, `<${uri}>`, callId, 2, [], '', '', branch), 10_000);
    const invite = await this.sip.next((m) => /^SIP\/2\.0 [3-6]/.test(m) && /^CSeq:\s*2 INVITE/im.test(m), 10_000);
    this.ackNon2xx(invite);
    session.close();
    return { cancel, invite };
  }

  /**
   * RFC 7977 §4.2: the client opens a WebSocket with sub-protocol "msrp" to the server's WS URL
   * and binds its session with an empty SEND over it.
   */
  async connectWebSocket(session: MsrpSession): Promise<number> {
    const ws = new WebSocket(`ws://127.0.0.1:${this.app.wsPort}`, 'msrp');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    session.bind(this.msrp.adoptWebSocket(ws, 'appliance', false));
    return (await session.sendBind()).status;
  }

  /** Waits for an INVITE, answers 200 with an MSRP answer and connects when we are active. */
  async answerInvite(m: MediaChoice = {}, status = 200): Promise<Call> {
    const inv = await this.sip.next((x) => x.startsWith('INVITE '), 15_000);
    const offer = readMsrpMedia(sdpOf(inv));
    const session = this.msrp.create();
    session.remotePath = offer.path;
    const tag = hex(4);
    const copy = (n: string) => inv.split('\r\n').filter((l) => l.toLowerCase().startsWith(`${n.toLowerCase()}:`));
    const to = `${copy('To')[0].slice(3).trim()};tag=${tag}`;
    const setup = m.setup ?? 'active';
    const body = status === 200 ? this.sdpFor(session, { ...m, setup }, setup) : '';
    if (m.ringing) {
      this.sip.send([`SIP/2.0 180 Ringing`, ...copy('Via'), ...copy('From'), `To: ${to}`, ...copy('Call-ID'), ...copy('CSeq'), `Contact: ${this.contact()}`, 'Content-Length: 0', '', ''].join('\r\n'));
      await m.ringing();
    }
    this.sip.send(
      [`SIP/2.0 ${status} ${status === 200 ? 'OK' : 'Busy Here'}`, ...copy('Via'), ...copy('From'), `To: ${to}`, ...copy('Call-ID'), ...copy('CSeq'), `Contact: ${this.contact()}`, ...(m.headers ?? []), ...(body ? ['Content-Type: application/sdp'] : []), `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'),
    );
    const call: Call = {
      callId: headerOf(inv, 'Call-ID')[0],
      local: to,
      remote: headerOf(inv, 'From')[0],
      remoteTarget: /<([^>]+)>/.exec(headerOf(inv, 'Contact')[0])![1],
      cseq: 0,
      final: inv,
      session,
      peerMedia: offer,
    };
    if (status === 200 && setup === 'active' && m.connect !== false) {
      const bound = await this.msrp.connect(session);
      if (bound !== 200) throw new Error(`MSRP bind failed: ${bound}`);
    }
    return call;
  }

  /** Sends a request in the call (REFER, UPDATE, …), with an SDP body if given, and returns the final response. */
  async inDialog(call: Call, method: string, extra: string[], sdp = ''): Promise<string> {
    call.cseq++;
    return this.sip.request(this.build(method, call.remoteTarget, call.local, call.remote, call.callId, call.cseq + 10, extra, sdp));
  }

  /**
   * A re-INVITE in the call (RFC 3261 §14.1) with `sdp` as the offer ('' for none); ACKs the
   * final response (a 2xx in the dialog, RFC 3261 §13.2.2.4; a failure on its branch) and returns it.
   */
  async reinvite(call: Call, sdp: string, extra: string[] = []): Promise<string> {
    const res = await this.inDialog(call, 'INVITE', extra, sdp);
    if (!res.startsWith('SIP/2.0 2')) this.ackNon2xx(res);
    else this.sip.send(this.build('ACK', call.remoteTarget, call.local, call.remote, call.callId, call.cseq + 10, []));
    return res;
  }

  /** Sends BYE in the call and returns the response. */
  async bye(call: Call): Promise<string> {
    call.cseq++;
    return this.sip.request(this.build('BYE', call.remoteTarget, call.local, call.remote, call.callId, call.cseq + 10, []));
  }

  /** Waits for a BYE in the call and answers it 200. */
  async awaitBye(call: Call): Promise<string> {
    const bye = await this.sip.next((x) => x.startsWith('BYE ') && headerOf(x, 'Call-ID')[0] === call.callId, 10_000);
    this.sip.answer(bye);
    return bye;
  }

  close(): void {
    this.msrp.close();
    this.sip.close();
  }
}

/** The SDP of an INVITE: its body, or the application/sdp part of a multipart body (RFC 5366 with an RFC 5365 history list). */
function sdpOf(invite: string): string {
  const body = invite.slice(invite.indexOf('\r\n\r\n') + 4);
  const type = headerOf(invite, 'Content-Type')[0] ?? 'application/sdp';
  if (!type.toLowerCase().startsWith('multipart/')) return body;
  const part = multipartParts(type, body).find((p) => p.headers['content-type'] === 'application/sdp');
  if (part === undefined) throw new Error('multipart INVITE without an SDP part');
  return part.body;
}
