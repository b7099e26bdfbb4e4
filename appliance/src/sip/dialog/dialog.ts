import net from 'node:net';
import { Headers } from '../message/headers.js';
import { SipRequest } from '../message/message.js';
import { parseUri, isSipUri, type Uri } from '../message/uri.js';
import type { Destination, Source } from '../transport/transport-types.js';

/**
 * Where to send to reach a peer: over its own flow on TCP, TLS and WebSocket,
 * else at the contact's IP; a host name is never resolved, the source address
 * stands in for it (and for a contact we cannot read).
 */
export function destinationFor(contact: Uri | null, source: Pick<Source, 'transport' | 'address' | 'port' | 'flowId'>): Destination {
  if (source.transport !== 'UDP') return { transport: source.transport, address: source.address, port: source.port, flowId: source.flowId };
  if (contact !== null && isSipUri(contact)) {
    const host = contact.host.startsWith('[') ? contact.host.slice(1, -1) : contact.host;
    if (net.isIP(host)) return { transport: 'UDP', address: host, port: contact.port ?? 5060 };
  }
  return { transport: 'UDP', address: source.address, port: source.port };
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
  request(method: string, headers: Record<string, string>, body?: { type: string; content: string }): SipRequest {
    const s = this.state;
    const h = new Headers();
    h.set('from', `<${s.localUri}>;tag=${s.localTag}`);
    h.set('to', `<${s.remoteUri}>;tag=${s.remoteTag}`);
    h.set('call-id', s.callId);
    h.set('cseq', `${++s.localSeq} ${method}`);
    h.set('max-forwards', '70');
    h.set('contact', s.localContact);
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    let buf = Buffer.alloc(0);
    if (body) {
      h.set('content-type', body.type);
      buf = Buffer.from(body.content);
    }
    return new SipRequest(method, parseUri(s.remoteTarget), s.remoteTarget, h, buf);
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
