import net from 'node:net';
import { Headers } from '../message/headers.js';
import { SipRequest } from '../message/message.js';
import { getParam, formatParams } from '../message/params.js';
import { parseNameAddrList } from '../message/name-addr.js';
import { SyntaxFault } from '../message/scanner.js';
import { parseUri, formatUri, isSipUri, type SipUri, type Uri } from '../message/uri.js';
import type { Destination, Source } from '../transport/transport-types.js';
import { detached } from '../../util/detached.js';

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

/** The state of one dialog (RFC 3261 §12.1.1 UAS side, §12.1.2 UAC side), enough to send requests in it. */
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
  /**
   * The route set (RFC 3261 §12.1): each entry a Route value (`<uri>` with its parameters), first
   * hop first. Absent (dialogs stored before route sets were kept) means empty.
   */
  routeSet?: string[];
}

/**
 * The route set of a dialog from the message that made it (RFC 3261 §12.1.1, §12.1.2): the
 * Record-Route values of the request, in order, on the UAS side; those of the 2xx, in reverse
 * order, on the UAC side. Each entry is kept as written (URI and parameters), one per value.
 * Throws a SyntaxFault for a Record-Route that is not a list of name-addrs.
 */
export function routeSetOf(recordRoute: readonly string[], side: 'uas' | 'uac'): string[] {
  const entries = recordRoute.flatMap((v) => parseNameAddrList(v, 'Record-Route')).map((na) => {
    if (!isSipUri(na.uri)) throw new SyntaxFault('Malformed Record-Route: not a SIP URI');
    return `<${formatUri(na.uri)}>${formatParams(na.params)}`;
  });
  return side === 'uas' ? entries : entries.reverse();
}

/** The URI of one route set entry. */
function routeUri(entry: string): Uri {
  return parseUri(entry.slice(entry.indexOf('<') + 1, entry.indexOf('>')));
}

/** Does a route set entry name a loose router (RFC 3261 §19.1.1 `lr` parameter)? */
function isLooseRoute(entry: string): boolean {
  const uri = routeUri(entry);
  return isSipUri(uri) && getParam(uri.params, 'lr') !== undefined;
}

/**
 * Where the requests of a dialog go (RFC 3261 §12.2.1.1, §8.1.2): to the first route when the
 * route set has one, else to the remote target; over the flow the peer uses when it reached us
 * over a connection (RFC 5626 §5), as {@link destinationFor} decides.
 */
export function dialogDestination(routeSet: readonly string[], remoteTarget: string, source: Pick<Source, 'transport' | 'address' | 'port' | 'flowId'>): Destination {
  let next: Uri | null;
  try {
    next = routeSet.length > 0 ? routeUri(routeSet[0]) : parseUri(remoteTarget);
  } catch {
    next = null;
  }
  return destinationFor(next, source);
}

/**
 * A dialog we take part in: one we made by answering a request with 2xx (SUBSCRIBE, INVITE), or
 * one a 2xx to our INVITE made. Requests in it follow RFC 3261 §12.2.1.1, route set included.
 */
export class Dialog {
  constructor(readonly state: DialogState) {
    // a dialog outlives the request that made it (a subscription for hours): its strings are
    // copied out of that request's text, in place, since callers keep the state object (util/detached.ts)
    state.callId = detached(state.callId);
    state.localTag = detached(state.localTag);
    state.remoteTag = detached(state.remoteTag);
    state.localUri = detached(state.localUri);
    state.remoteUri = detached(state.remoteUri);
    state.remoteTarget = detached(state.remoteTarget);
    state.localContact = detached(state.localContact);
    if (state.routeSet !== undefined) state.routeSet = state.routeSet.map(detached);
  }

  /** Call-ID, local tag, remote tag: how an in-dialog request finds its dialog. */
  get id(): string {
    return dialogId(this.state.callId, this.state.localTag, this.state.remoteTag);
  }

  /** Builds a request inside the dialog (RFC 3261 §12.2.1.1); the stack adds the Via. */
  request(method: string, headers: Record<string, string>, body?: { type: string; content: string | Buffer }): SipRequest {
    return this.build(method, ++this.state.localSeq, headers, body);
  }

  /**
   * The ACK for a 2xx to our INVITE (RFC 3261 §13.2.2.4): built like any request in the dialog
   * (route set, remote target), with the INVITE's CSeq number and no Contact.
   */
  ack(inviteSeq: number): SipRequest {
    const req = this.build('ACK', inviteSeq, {});
    req.headers.delete('contact');
    return req;
  }

  private build(method: string, seq: number, headers: Record<string, string>, body?: { type: string; content: string | Buffer }): SipRequest {
    const s = this.state;
    const h = new Headers();
    h.set('from', `<${s.localUri}>;tag=${s.localTag}`);
    h.set('to', `<${s.remoteUri}>;tag=${s.remoteTag}`);
    h.set('call-id', s.callId);
    h.set('cseq', `${seq} ${method}`);
    h.set('max-forwards', '70');
    h.set('contact', s.localContact);
    const routes = s.routeSet ?? [];
    let uriText = s.remoteTarget;
    if (routes.length > 0) {
      if (isLooseRoute(routes[0])) {
        // RFC 3261 §12.2.1.1: loose routing, the Request-URI is the remote target
        h.set('route', [...routes]);
      } else {
        // strict routing (RFC 2543 proxies): the first route becomes the Request-URI, with the
        // parameters a Request-URI may not carry dropped (§19.1.1 Table 1: method, header
        // parts), and the remote target goes last in Route
        const first = routeUri(routes[0]);
        const bare = isSipUri(first) ? { ...first, headers: null, params: first.params.filter((p) => p.name.toLowerCase() !== 'method') } : first;
        uriText = formatUri(bare);
        h.set('route', [...routes.slice(1), `<${s.remoteTarget}>`]);
      }
    }
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    let buf: Buffer = Buffer.alloc(0);
    if (body) {
      h.set('content-type', body.type);
      buf = typeof body.content === 'string' ? Buffer.from(body.content) : body.content;
    }
    if (this.target === null || this.target.text !== uriText) this.target = { text: uriText, uri: parseUri(uriText) };
    return new SipRequest(method, this.target.uri, uriText, h, buf);
  }

  /** the Request-URI, parsed once (a presence fan-out builds thousands of NOTIFYs per change) */
  private target: { text: string; uri: Uri } | null = null;

  /**
   * A target refresh (RFC 3261 §12.2: re-INVITE, UPDATE): the remote target becomes the request's
   * Contact. The route set never changes after the dialog is made.
   */
  refreshTarget(contact: string | null): void {
    if (contact !== null) this.state.remoteTarget = contact;
  }

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
