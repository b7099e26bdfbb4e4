import net from 'node:net';
import { Headers } from '../message/headers.js';
import { SipRequest } from '../message/message.js';
import { getParam } from '../message/params.js';
import { parseUri, isSipUri, type SipUri, type Uri } from '../message/uri.js';
import type { Destination, Source } from '../transport/transport-types.js';

/**
 * Where to send to reach a peer. A peer that reached us over TCP, TLS or WebSocket is reached over
 * that connection (RFC 5626 §5). Otherwise the contact says how, when its host is an IP literal
 * (RFC 3263 §4.1 and §4.2 for a numeric host): over the transport it names, at its port or the
 * transport's default (5060, 5061 for TLS); a TLS peer must then show a certificate for that IP.
 * A host name is never resolved: the source address stands in for it (and for a contact we
 * cannot read), over UDP.
 *
 * @example
 * // a device registered over UDP with Contact: <sip:bob@192.0.2.7;transport=tls>
 * destinationFor(parseUri('sip:bob@192.0.2.7;transport=tls'), source)
 * // -> { transport: 'TLS', address: '192.0.2.7', port: 5061, servername: '192.0.2.7' }
 */
export function destinationFor(contact: Uri | null, source: Pick<Source, 'transport' | 'address' | 'port' | 'flowId'>): Destination {
  if (source.transport !== 'UDP') return { transport: source.transport, address: source.address, port: source.port, flowId: source.flowId };
  if (contact !== null && isSipUri(contact)) {
    const host = contact.host.startsWith('[') ? contact.host.slice(1, -1) : contact.host;
    if (net.isIP(host)) {
      const transport = transportOf(contact);
      if (transport === 'TLS') return { transport, address: host, port: contact.port ?? 5061, servername: host };
      return { transport, address: host, port: contact.port ?? 5060 };
    }
  }
  return { transport: 'UDP', address: source.address, port: source.port };
}

/**
 * The transport a URI with a numeric host asks for (RFC 3263 §4.1): its transport parameter,
 * else UDP. A SIPS URI is always TLS (RFC 3261 §26.2.2: "sips:…;transport=tcp" is TLS over
 * TCP, and UDP is no transport for SIPS). `transport=tls`, deprecated by the same section but
 * still sent by devices, is TLS too. Transports the server cannot open towards a device (ws,
 * wss, sctp) fall back to UDP, as before.
 */
function transportOf(uri: SipUri): 'UDP' | 'TCP' | 'TLS' {
  if (uri.scheme === 'sips') return 'TLS';
  const param = getParam(uri.params, 'transport')?.toLowerCase();
  if (param === 'tls') return 'TLS';
  if (param === 'tcp') return 'TCP';
  return 'UDP';
}

/** The state of one dialog on the UAS side (RFC 3261 §12.1.1), enough to send requests in it. */
export interface DialogState {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** our From in requests we send (the To of the request that made the dialog) */
  localUri: string;
  /** our To in requests we send (the From of that request, without its tag) */
  remoteUri: string;
  remoteTarget: string;
  localContact: string;
  localSeq: number;
  remoteSeq: number;
  destination: Destination;
}

/** A dialog created by a request we answered with 2xx (SUBSCRIBE here; INVITE later). */
export class Dialog {
  constructor(readonly state: DialogState) {}

  /** Call-ID, local tag, remote tag: how an in-dialog request finds its dialog. */
  get id(): string {
    return dialogId(this.state.callId, this.state.localTag, this.state.remoteTag);
  }

  /** Builds a request inside the dialog (RFC 3261 §12.2.1.1); the stack adds the Via. */
  request(method: string, headers: Record<string, string>, body?: { type: string; content: string | Buffer }): SipRequest {
    const s = this.state;
    const h = new Headers();
    h.set('from', `<${s.localUri}>;tag=${s.localTag}`);
    h.set('to', `<${s.remoteUri}>;tag=${s.remoteTag}`);
    h.set('call-id', s.callId);
    h.set('cseq', `${++s.localSeq} ${method}`);
    h.set('max-forwards', '70');
    h.set('contact', s.localContact);
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    let buf: Buffer = Buffer.alloc(0);
    if (body) {
      h.set('content-type', body.type);
      buf = typeof body.content === 'string' ? Buffer.from(body.content) : body.content;
    }
    if (this.target === null || this.target.text !== s.remoteTarget) this.target = { text: s.remoteTarget, uri: parseUri(s.remoteTarget) };
    return new SipRequest(method, this.target.uri, s.remoteTarget, h, buf);
  }

  /** the remote target, parsed once (a presence fan-out builds thousands of NOTIFYs per change) */
  private target: { text: string; uri: Uri } | null = null;

  /** RFC 3261 §12.2.2: an in-dialog request with a lower CSeq than the last one is out of order. */
  acceptRemoteSeq(seq: number): boolean {
    if (seq <= this.state.remoteSeq) return false;
    this.state.remoteSeq = seq;
    return true;
  }
}

export function dialogId(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}|${localTag}|${remoteTag}`;
}
