import { randomBytes } from 'node:crypto';
import { Headers } from '../../sip/message/headers.js';
import { SipRequest } from '../../sip/message/message.js';
import { parseUri } from '../../sip/message/uri.js';
import type { SipStack } from '../../sip/stack.js';
import type { LocalDomain } from '../../core/local-domain.js';
import type { SenderIdentity } from '../participating/originating-policy.js';
import type { Logger } from '../../log.js';
import { writeCpim, IMDN_NS } from './cpim-envelope.js';
import { buildImdnXml, type ImdnDocument, type NotificationKind } from './imdn-xml.js';
import type { ImdnRequest } from './imdn-request.js';

/** Hands a request we originate to the pager: live to the user's devices, or stored (P2). */
export type Deliver = (req: SipRequest, from: SenderIdentity, toUser: string) => Promise<unknown>;

/** Takes a notification for an IM a list service of ours exploded (the aggregator, RFC 5438 §8.3). */
export type ToAggregator = (service: string, recipientAor: string, doc: ImdnDocument) => boolean;

/**
 * One IMDN as a CPIM body (RFC 5438 §7.2.1, §7.2.1.1): From the recipient, To the IM's sender, a Message-ID
 * of its own, DateTime now, no Disposition-Notification (an IMDN asks for none), then
 * message/imdn+xml with `Content-Disposition: notification`.
 */
export function imdnCpim(from: string, to: string, doc: ImdnDocument): Buffer {
  const xml = Buffer.from(buildImdnXml(doc));
  return writeCpim({
    headers: [
      { name: 'From', value: `<${from}>` },
      { name: 'To', value: `<${to}>` },
      { name: 'NS', value: `imdn <${IMDN_NS}>` },
      { name: 'imdn.Message-ID', value: randomBytes(9).toString('base64url') },
      { name: 'DateTime', value: new Date().toISOString() },
    ],
    contentHeaders: [
      { name: 'Content-Type', value: 'message/imdn+xml' },
      { name: 'Content-Disposition', value: 'notification' },
      { name: 'Content-Length', value: String(xml.length) },
    ],
    body: xml,
  });
}

/**
 * Notifications the server sends itself, as an intermediary on the recipient's behalf (RFC 5438
 * §8): `stored` when a message that asked for processing notifications goes to deferred storage,
 * and a negative delivery notification (`failed`) when a stored message that asked for one
 * expires undelivered. Each comes from the recipient's address, as the recipient's own would, so
 * the sender's client files it with that conversation, and reaches the sender like any MESSAGE
 * (live, or stored for later). Only local senders are notified: we relay to no other domain.
 */
export class ImdnNotifier {
  constructor(
    private readonly stack: SipStack,
    private readonly domain: LocalDomain,
    private readonly deliver: Deliver,
    private readonly log: Logger,
    private readonly aggregate: ToAggregator = () => false,
  ) {}

  /** RFC 5438 §8.1: a processing notification only when the IM asked for `processing`. */
  stored(request: ImdnRequest, recipientAor: string, senderAor: string): void {
    if (!request.dispositions.has('processing')) return;
    this.send(request, recipientAor, senderAor, 'processing', 'stored');
  }

  /** The stored IM expired (RFC 5438 §8.2 `failed`), when it asked for negative-delivery. */
  expired(request: ImdnRequest, recipientAor: string, senderAor: string): void {
    if (!request.dispositions.has('negative-delivery')) return;
    this.send(request, recipientAor, senderAor, 'delivery', 'failed');
  }

  /**
   * The stored IM was refused when its push came (the recipient's profile changed while it
   * waited), when it asked for negative-delivery: `forbidden` for a 403, as the exploder reports a
   * refused copy, else `failed` (RFC 5438 §7.2.1.1).
   */
  refused(request: ImdnRequest, recipientAor: string, senderAor: string, status: number): void {
    if (!request.dispositions.has('negative-delivery')) return;
    this.send(request, recipientAor, senderAor, 'delivery', status === 403 ? 'forbidden' : 'failed');
  }

  /**
   * `senderAor` is the authenticated sender (the originating policy made From say so), not the
   * CPIM From the client wrote: a notification the server makes up goes to whoever really sent
   * the message, so a forged CPIM From cannot aim the server's notifications at someone else.
   */
  private send(request: ImdnRequest, recipientAor: string, senderAor: string, kind: NotificationKind, status: string): void {
    const doc: ImdnDocument = { messageId: request.messageId, dateTime: request.dateTime, recipientUri: recipientAor, originalRecipientUri: request.to ?? recipientAor, kind, status };
    // our own exploder recorded its route on the copy: it aggregates this one with the recipients'
    const route = request.recordRoute[0];
    if (route !== undefined && this.aggregate(route, recipientAor, doc)) return;
    const target = senderAor;
    const user = this.domain.userOf(target);
    if (user === null) return;
    const body = imdnCpim(recipientAor, target, doc);
    const tag = this.stack.newId();
    const h = new Headers();
    h.set('from', `<${recipientAor}>;tag=${tag}`);
    h.set('to', `<${target}>`);
    h.set('call-id', `${this.stack.newId()}@${this.stack.advertisedHost}`);
    h.set('cseq', '1 MESSAGE');
    h.set('max-forwards', '70');
    h.set('content-type', 'message/cpim');
    const identity: SenderIdentity = { username: this.domain.userOf(recipientAor) ?? '', aor: recipientAor, from: `<${recipientAor}>;tag=${tag}`, asserted: `<${recipientAor}>` };
    const req = new SipRequest('MESSAGE', parseUri(target), target, h, body);
    this.deliver(req, identity, user).catch((err: unknown) => this.log.warn({ err, messageId: request.messageId, kind, status }, 'IMDN not delivered'));
  }
}
