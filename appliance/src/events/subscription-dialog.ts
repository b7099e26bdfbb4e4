import type { SipRequest } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { SipStack } from '../sip/stack.js';
import { SipError } from '../sip/errors.js';
import { Dialog, dialogDestination, routeSetOf } from '../sip/dialog/dialog.js';
import { SyntaxFault } from '../sip/message/scanner.js';
import { formatUri, type Uri } from '../sip/message/uri.js';

/**
 * The route set a SUBSCRIBE's Record-Route gives its dialog (RFC 3261 §12.1.1); an unreadable
 * Record-Route is the request's fault (400).
 */
export function subscribeRouteSet(req: SipRequest): string[] {
  try {
    return routeSetOf(req.headers.all('record-route'), 'uas');
  } catch (err) {
    if (err instanceof SyntaxFault) throw new SipError(400, err.message);
    throw err;
  }
}

/**
 * The dialog a SUBSCRIBE creates (RFC 3261 §12.1.1): our new tag, our URI the request's To and
 * theirs its From, the subscriber's Contact as remote target, and NOTIFYs following the route set.
 */
export function dialogForSubscribe(stack: SipStack, req: SipRequest, tx: ServerTransaction, contact: Uri, routeSet: string[]): Dialog {
  const transport = tx.source.transport;
  const port = stack.ports[transport] ?? stack.ports.UDP;
  const user = req.sipUri?.user ?? 'parley';
  const remoteTarget = formatUri(contact);
  return new Dialog({
    callId: req.callId,
    localTag: stack.newId(),
    remoteTag: req.fromTag ?? '',
    localUri: formatUri(req.to.uri),
    remoteUri: formatUri(req.from.uri),
    remoteTarget,
    localContact: `<sip:${user}@${stack.advertisedHost}:${port};transport=${transport.toLowerCase()}>`,
    localSeq: 0,
    remoteSeq: req.cseq.seq,
    destination: dialogDestination(routeSet, remoteTarget, tx.source),
    routeSet,
  });
}
