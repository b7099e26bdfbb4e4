import { randomBytes } from 'node:crypto';
import { Headers } from '../../sip/message/headers.js';
import { SipRequest } from '../../sip/message/message.js';
import { parseUri } from '../../sip/message/uri.js';
import type { SipStack } from '../../sip/stack.js';
import type { SenderIdentity } from '../participating/originating-policy.js';
import type { Logger } from '../../log.js';
import { markExploded } from '../controlling/loop-guard.js';
import { imdnCpim, type Deliver } from './imdn-notifier.js';
import type { ImdnDocument, NotificationKind } from './imdn-xml.js';
import type { ImdnRequest } from './imdn-request.js';

export interface AggregatorOptions {
  /** ms to collect notifications of one kind before an aggregate leaves (RFC 5438 §8.3: configurable) */
  windowMs: number;
  /** ms the state of one exploded IM is kept for notifications still to come */
  stateTtlMs: number;
}

/** What the exploder keeps of one IM it exploded with notifications asked (RFC 5438 §8.3). */
interface Exploded {
  request: ImdnRequest;
  sender: SenderIdentity;
  service: string;
  /** recipient AOR (lower case) -> the AOR as the list named it */
  recipients: Map<string, string>;
  /** kinds every recipient has to answer before the state can go */
  expected: NotificationKind[];
  answered: Map<NotificationKind, Set<string>>;
  pending: Map<NotificationKind, ImdnDocument[]>;
  timers: Map<NotificationKind, NodeJS.Timeout>;
  expiry: NodeJS.Timeout;
}

/**
 * The exploder's IMDN aggregation (RFC 5438 §8.3): per exploded IM (by service and Message-ID) the
 * list of recipients, and the notifications they sent back through the IMDN-Record-Route the
 * exploder put on each copy. Notifications of one kind are collected and sent to the sender as
 * one aggregated IMDN (multipart/mixed, one message/cpim IMDN per recipient, each naming its
 * recipient in <recipient-uri> and <original-recipient-uri>) when every recipient has answered,
 * or when the window has run since the first one waiting; the window then starts again for the
 * next batch, since some notifications (display) may never come. The state goes once every
 * recipient answered every kind asked, or after the state TTL.
 */
export class ImdnAggregator {
  private readonly states = new Map<string, Exploded>();

  constructor(
    private readonly stack: SipStack,
    private readonly deliver: Deliver,
    private readonly opts: AggregatorOptions,
    private readonly log: Logger,
  ) {}

  /** IMs whose notifications are awaited now (/metrics, tests of the bookkeeping). */
  get size(): number {
    return this.states.size;
  }

  /** Remembers an IM the exploder sends to `recipients` on `sender`'s behalf. */
  track(service: string, request: ImdnRequest, sender: SenderIdentity, recipients: string[]): void {
    const expected: NotificationKind[] = [];
    if (request.dispositions.has('positive-delivery') || request.dispositions.has('negative-delivery')) expected.push('delivery');
    if (request.dispositions.has('display')) expected.push('display');
    const key = keyOf(service, request.messageId);
    this.drop(key);
    const expiry = setTimeout(() => this.finish(key), this.opts.stateTtlMs);
    expiry.unref();
    this.states.set(key, {
      request, sender, service, expected, expiry,
      recipients: new Map(recipients.map((r) => [r.toLowerCase(), r])),
      answered: new Map(), pending: new Map(), timers: new Map(),
    });
  }

  /**
   * A notification from `from` (a recipient) about an IM `service` exploded. False when no such
   * IM is tracked or `from` was not one of its recipients: the caller refuses it.
   */
  accept(service: string, from: string, doc: ImdnDocument): boolean {
    const s = this.states.get(keyOf(service, doc.messageId));
    const named = s?.recipients.get(from.toLowerCase());
    if (s === undefined || named === undefined) return false;
    if (doc.kind === 'processing' && !s.request.dispositions.has('processing')) return true;
    const answered = s.answered.get(doc.kind) ?? new Set<string>();
    if (answered.has(named.toLowerCase())) return true; // one per recipient and kind
    answered.add(named.toLowerCase());
    s.answered.set(doc.kind, answered);
    // RFC 5438 §7.1.2: the sender tells recipients apart by these two
    const part: ImdnDocument = { ...doc, recipientUri: doc.recipientUri ?? from, originalRecipientUri: named, dateTime: s.request.dateTime };
    s.pending.set(doc.kind, [...(s.pending.get(doc.kind) ?? []), part]);
    if (doc.kind !== 'processing' && answered.size === s.recipients.size) this.flush(keyOf(service, doc.messageId), doc.kind);
    else if (!s.timers.has(doc.kind)) {
      const t = setTimeout(() => this.flush(keyOf(service, doc.messageId), doc.kind), this.opts.windowMs);
      t.unref();
      s.timers.set(doc.kind, t);
    }
    return true;
  }

  stop(): void {
    for (const key of [...this.states.keys()]) this.drop(key);
  }

  /** Sends what waits of one kind as one IMDN (one recipient) or an aggregate (several). */
  private flush(key: string, kind: NotificationKind): void {
    const s = this.states.get(key);
    if (s === undefined) return;
    const t = s.timers.get(kind);
    if (t) clearTimeout(t);
    s.timers.delete(kind);
    const docs = s.pending.get(kind) ?? [];
    s.pending.delete(kind);
    if (docs.length > 0) this.send(s, docs);
    if (s.expected.every((k) => (s.answered.get(k)?.size ?? 0) === s.recipients.size)) this.finish(key);
  }

  /** The state's end: what still waits goes out first. */
  private finish(key: string): void {
    const s = this.states.get(key);
    if (s === undefined) return;
    this.drop(key);
    for (const docs of s.pending.values()) if (docs.length > 0) this.send(s, docs);
  }

  private drop(key: string): void {
    const s = this.states.get(key);
    if (s === undefined) return;
    clearTimeout(s.expiry);
    for (const t of s.timers.values()) clearTimeout(t);
    this.states.delete(key);
  }

  /**
   * To the IM's sender from the list service: one CPIM IMDN, or multipart/mixed of several
   * (RFC 5438 §8.3: the aggregated IMDN), each part from the recipient it reports on.
   */
  private send(s: Exploded, docs: ImdnDocument[]): void {
    const parts = docs.map((d) => imdnCpim(d.recipientUri ?? d.originalRecipientUri!, s.sender.aor, d));
    let contentType = 'message/cpim';
    let body = parts[0];
    if (parts.length > 1) {
      const boundary = `imdn-${randomBytes(8).toString('hex')}`;
      contentType = `multipart/mixed;boundary=${boundary}`;
      body = Buffer.concat([
        ...parts.flatMap((p) => [Buffer.from(`--${boundary}\r\nContent-Type: message/cpim\r\nContent-Disposition: notification\r\n\r\n`), p, Buffer.from('\r\n')]),
        Buffer.from(`--${boundary}--\r\n`),
      ]);
    }
    const tag = this.stack.newId();
    const identity: SenderIdentity = { username: '', aor: s.service, from: `<${s.service}>;tag=${tag}`, asserted: `<${s.service}>` };
    const h = new Headers();
    h.set('from', identity.from);
    h.set('to', `<${s.sender.aor}>`);
    h.set('call-id', `${this.stack.newId()}@${this.stack.advertisedHost}`);
    h.set('cseq', '1 MESSAGE');
    h.set('max-forwards', '70');
    h.set('content-type', contentType);
    markExploded(h, s.service);
    const req = new SipRequest('MESSAGE', parseUri(s.sender.aor), s.sender.aor, h, body);
    this.deliver(req, identity, s.sender.username).catch((err: unknown) => this.log.warn({ err, service: s.service, messageId: s.request.messageId }, 'aggregated IMDN not delivered'));
  }
}

function keyOf(service: string, messageId: string): string {
  return `${service.toLowerCase()}\n${messageId}`;
}
