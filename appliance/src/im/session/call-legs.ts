import { Headers } from '../../sip/message/headers.js';
import { SipRequest, type SipResponse } from '../../sip/message/message.js';
import { parseUri, formatUri } from '../../sip/message/uri.js';
import { Dialog, destinationFor } from '../../sip/dialog/dialog.js';
import type { SipStack } from '../../sip/stack.js';
import type { ServerTransaction } from '../../sip/transaction/server-transaction.js';
import type { Destination } from '../../sip/transport/transport-types.js';

/** Our Contact for a dialog over `transport`: a user part so in-dialog requests reach the session handler. */
export function ownContact(stack: SipStack, transport: Destination['transport'], user: string): string {
  const port = stack.ports[transport] ?? stack.ports.UDP ?? 5060;
  const param = transport === 'UDP' ? '' : `;transport=${transport.toLowerCase()}`;
  return `<sip:${user}@${stack.advertisedHost}:${port}${param}>`;
}

/** The first Contact URI of a message, as text, or null. */
export function contactOf(msg: SipRequest | SipResponse): string | null {
  const c = msg.contacts;
  return c === '*' || c.length === 0 ? null : formatUri(c[0].uri);
}

/**
 * The caller's dialog (we are its UAS, RFC 3261 §12.1.1): made from the INVITE and our To tag.
 * Requests we send in it (BYE) go over the caller's flow.
 */
export function callerDialog(req: SipRequest, tx: ServerTransaction, localTag: string, localContact: string): Dialog {
  const target = contactOf(req) ?? formatUri(req.from.uri);
  return new Dialog({
    callId: req.callId,
    localTag,
    remoteTag: req.fromTag ?? '',
    localUri: formatUri(req.to.uri),
    remoteUri: formatUri(req.from.uri),
    remoteTarget: target,
    localContact,
    localSeq: 0,
    remoteSeq: req.cseq.seq,
    destination: destinationFor(parseUri(target), tx.source),
  });
}

/** The callee's dialog (we are its UAC, RFC 3261 §12.1.2): made from our INVITE and its 2xx. */
export function calleeDialog(invite: SipRequest, res: SipResponse, destination: Destination): Dialog {
  return new Dialog({
    callId: invite.callId,
    localTag: invite.fromTag ?? '',
    remoteTag: res.toTag ?? '',
    localUri: formatUri(invite.from.uri),
    remoteUri: formatUri(invite.to.uri),
    remoteTarget: contactOf(res) ?? invite.uriText,
    localContact: invite.headers.get('contact') ?? '',
    localSeq: invite.cseq.seq,
    remoteSeq: 0,
    destination,
  });
}

/** The ACK for a 2xx (RFC 3261 §13.2.2.4): in the dialog, with the INVITE's CSeq number. */
export function ackFor(invite: SipRequest, res: SipResponse): SipRequest {
  const h = new Headers();
  h.set('from', invite.headers.get('from') ?? '');
  h.set('to', res.headers.get('to') ?? '');
  h.set('call-id', invite.callId);
  h.set('cseq', `${invite.cseq.seq} ACK`);
  h.set('max-forwards', '70');
  const target = contactOf(res) ?? invite.uriText;
  return new SipRequest('ACK', parseUri(target), target, h, Buffer.alloc(0));
}

/** Sends a BYE in a dialog and forgets it (a failed BYE ends the dialog all the same, RFC 3261 §15.1.1). */
export function sendBye(stack: SipStack, dialog: Dialog, reason?: string): void {
  const req = dialog.request('BYE', reason ? { reason: `SIP;cause=200;text="${reason}"` } : {});
  stack.sendRequest(req, dialog.state.destination, { onFinal: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined });
}
