import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import { formatUri } from '../../sip/message/uri.js';
import { SyntaxFault } from '../../sip/message/scanner.js';
import { SipError } from '../../sip/errors.js';
import { Dialog, dialogDestination, routeSetOf } from '../../sip/dialog/dialog.js';
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
 * The route set a message carries (RFC 3261 §12.1): 400 for a Record-Route we cannot read, since
 * a dialog without its route set could not reach the peer.
 */
function routeSetFrom(msg: SipRequest | SipResponse, side: 'uas' | 'uac'): string[] {
  try {
    return routeSetOf(msg.headers.all('record-route'), side);
  } catch (err) {
    if (err instanceof SyntaxFault) throw new SipError(400, err.message);
    throw err;
  }
}

/**
 * The caller's dialog (we are its UAS, RFC 3261 §12.1.1): made from the INVITE and our To tag,
 * with the request's Record-Route as its route set. Requests we send in it (BYE) go over the
 * caller's flow, or to the first route (§12.2.1.1).
 */
export function callerDialog(req: SipRequest, tx: ServerTransaction, localTag: string, localContact: string): Dialog {
  const target = contactOf(req) ?? formatUri(req.from.uri);
  const routeSet = routeSetFrom(req, 'uas');
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
    destination: dialogDestination(routeSet, target, tx.source),
    routeSet,
  });
}

/**
 * The callee's dialog (we are its UAC, RFC 3261 §12.1.2): made from our INVITE and its 2xx, the
 * 2xx's Record-Route reversed as the route set. Over UDP, requests go to the first route when
 * there is one; otherwise where the INVITE went (the device's flow or registered address).
 * An unreadable Record-Route leaves the route set empty: the 2xx has made the dialog whatever
 * we think of it, and the BYE that ends it must still go out.
 */
function calleeDialog(invite: SipRequest, res: SipResponse, destination: Destination): Dialog {
  let routeSet: string[];
  try {
    routeSet = routeSetOf(res.headers.all('record-route'), 'uac');
  } catch {
    routeSet = [];
  }
  const remoteTarget = contactOf(res) ?? invite.uriText;
  const viaRoute = routeSet.length > 0 && destination.transport === 'UDP';
  return new Dialog({
    callId: invite.callId,
    localTag: invite.fromTag ?? '',
    remoteTag: res.toTag ?? '',
    localUri: formatUri(invite.from.uri),
    remoteUri: formatUri(invite.to.uri),
    remoteTarget,
    localContact: invite.headers.get('contact') ?? '',
    localSeq: invite.cseq.seq,
    remoteSeq: 0,
    destination: viaRoute ? dialogDestination(routeSet, remoteTarget, { ...destination, flowId: destination.flowId ?? '' }) : destination,
    routeSet,
  });
}

/**
 * The ACK for a 2xx to one of our INVITEs (RFC 3261 §13.2.2.4), sent outside any transaction in
 * the dialog the 2xx made (route set included). Returns that dialog.
 */
export function acknowledge(stack: SipStack, invite: SipRequest, res: SipResponse, destination: Destination, headers: Record<string, string> = {}): Dialog {
  const dialog = calleeDialog(invite, res, destination);
  const ack = dialog.ack(invite.cseq.seq);
  for (const [name, value] of Object.entries(headers)) ack.headers.set(name, value);
  stack.sendStateless(ack, dialog.state.destination);
  return dialog;
}

/**
 * Sends a BYE in a dialog and forgets it (a failed BYE ends the dialog all the same, RFC 3261
 * §15.1.1). `reason` goes into a Reason header (RFC 3326 §2) with `cause`, the SIP status that
 * best says why.
 */
export function sendBye(stack: SipStack, dialog: Dialog, reason?: string, cause = 200): void {
  const req = dialog.request('BYE', reason ? { reason: `SIP;cause=${cause};text="${reason.replace(/["\\\r\n]/g, '')}"` } : {});
  stack.sendRequest(req, dialog.state.destination, { onFinal: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined });
}
