import type { SipRequest } from '../../sip/message/message.js';
import { SipRequest as Request } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server-transaction.js';
import type { SipStack } from '../../sip/stack.js';
import { Headers } from '../../sip/message/headers.js';
import { SipError } from '../../sip/errors.js';
import { isSipUri, parseUri } from '../../sip/message/uri.js';
import type { LocalDomain } from '../../core/local-domain.js';
import type { UserDirectory } from '../../core/user-directory.js';
import { userOfUriPart } from '../../core/user-names.js';
import type { ListResolver, Member } from '../../xdms/list-resolver.js';
import type { SenderIdentity } from '../participating/originating-policy.js';
import type { TerminatingPolicy } from '../participating/terminating-policy.js';
import type { MessageHandler } from '../pager/message-handler.js';
import type { Logger } from '../../log.js';
import { markExploded, refuseIfExploded } from './loop-guard.js';
import { historyList, withHistory } from './copy-control.js';
import { messageOutcome } from '../../usage/usage-types.js';
import type { ProfilePolicy } from '../participating/profile-policy.js';
import type { PagerCapture } from '../../history/pager-capture.js';
import type { ImdnAggregator } from '../imdn/imdn-aggregator.js';
import { readCpim, writeCpim, withImdnHeader, contentHeader } from '../imdn/cpim-envelope.js';
import { requestOf, isImdnEnvelope, type ImdnRequest } from '../imdn/imdn-request.js';
import { parseImdnXml } from '../imdn/imdn-xml.js';
import { mediaTypeOf } from '../../sip/message/media-type.js';

/** The header a sender sets to get the per-recipient report (`P-Parley-Report: recipients`). */
export const REPORT_HEADER = 'P-Parley-Report';
/** The report's media type: JSON, one entry per recipient in list order. */
export const REPORT_TYPE = 'application/vnd.parley.recipient-report+json';
/** recipients served at once: a 100-member group does not open 100 forks in one event-loop turn */
const IN_FLIGHT = 16;

export interface ExploderOptions {
  /** the conference factory's user part (`sip:<factoryUser>@<domain>`) */
  factoryUser: string;
  /** recipients one request may reach, after expansion */
  maxRecipients: number;
}

/** What became of the message for one recipient, as the report shows it. */
export interface RecipientOutcome {
  uri: string;
  status: number;
  reason: string;
}

/** One fan-out: the message, who sent it, and the list service it goes out from. */
interface FanOut {
  sender: SenderIdentity;
  /** the conference factory or group URI: the marker's value, and To for a group */
  service: string;
  contentType: string;
  payload: Buffer;
  /** the sender's content before copy control wrapped it: what recipients' profiles judge (Y3) */
  original: { contentType: string; payload: Buffer };
  maxForwards: number;
  toGroup: boolean;
  /** the message's own bytes, without the copy-control list (usage records) */
  bytes: number;
  /** the message as the sender wrote it (what conversations store) */
  content: { contentType: string; body: Buffer };
  /** the IMDN request of a CPIM message asking for notifications (RFC 5438 §6.2, §7.1.1.3) */
  imdn: ImdnRequest | null;
}

/** One copy's fate: the report's status and reason, and what the usage record says. */
interface CopyOutcome {
  status: number;
  reason: string;
  stored: boolean;
  /** the usage record's reason when it says more than the report may (a polite block) */
  note?: string;
}

/**
 * The message exploder (P3), a controlling function: one MESSAGE to the conference factory with
 * an RFC 5365 URI list, or to a group URI, becomes one MESSAGE per member, each through that
 * member's terminating participating function (block lists, delivery preference) and the pager
 * (live delivery, else deferred storage). The sender gets 202 once the list is read: RFC 3428
 * §7's "accepted, not yet delivered", as no single answer can stand for all recipients. Every
 * copy carries the loop-guard marker, so a member that is itself a group or the factory refuses
 * it (S6). With `P-Parley-Report: recipients` the sender then gets a MESSAGE with each
 * recipient's final status (a 2xx response may not carry it: RFC 3428 §7 forbids a body there).
 * When the sender's URI list uses RFC 5364 copy control, each copy is multipart/mixed: the
 * message and the to/cc recipients as a `recipient-list-history` list (RFC 5365), bcc
 * recipients left out and anonymized ones counted, not named (copy-control.ts).
 */
export class MessageExploder {
  /** the members' service profiles (Y1, Y3): a member without group chat, or whose limits the message passes, gets no copy */
  profiles: ProfilePolicy | null = null;
  /** Conversation storage (H1): the sender's conversation with the group or list, when they store it. */
  capture: PagerCapture | null = null;

  constructor(
    private readonly stack: SipStack,
    private readonly domain: LocalDomain,
    private readonly users: UserDirectory,
    private readonly lists: ListResolver,
    private readonly terminating: TerminatingPolicy,
    private readonly pager: MessageHandler,
    private readonly opts: ExploderOptions,
    private readonly log: Logger,
    private readonly imdn: ImdnAggregator | null = null,
  ) {}

  /** The conference factory's URI. */
  get factoryUri(): string {
    return this.domain.aor(this.opts.factoryUser);
  }

  /** Is this (canonical) user part the conference factory's? */
  isFactory(user: string): boolean {
    return user === this.opts.factoryUser;
  }

  /** A request reaching a controlling function: refused if another one already expanded it (S6). */
  static guard(req: SipRequest): void {
    refuseIfExploded(req);
  }

  /** Fans a message out to `members` (already expanded), answering the sender 202 first. */
  explode(req: SipRequest, tx: ServerTransaction, sender: SenderIdentity, service: string, message: { contentType: string; payload: Buffer; members: Member[] }, toGroup: boolean): void {
    const seen = new Set<string>([sender.aor.toLowerCase()]);
    const recipients: string[] = [];
    for (const m of message.members) {
      const key = m.uri.toLowerCase();
      if (seen.has(key)) continue; // each member once, and never the sender
      seen.add(key);
      recipients.push(m.uri);
    }
    if (recipients.length === 0) throw new SipError(400, 'The list names no recipient');
    if (recipients.length > this.opts.maxRecipients) throw new SipError(403, `Too many recipients (at most ${this.opts.maxRecipients})`);
    const wantsReport = req.tokens(REPORT_HEADER).includes('recipients');
    const { payload, imdn } = this.withImdnRoute(service, message.contentType, message.payload);
    // RFC 5364/5365 copy control: every copy says who else got it (to and cc), never the bcc
    const history = historyList(message.members);
    const body = history === null ? { contentType: message.contentType, body: payload } : withHistory(message.contentType, payload, history, `parley-${this.stack.newId()}`);
    const fan: FanOut = { sender, service, contentType: body.contentType, payload: body.body, original: { contentType: message.contentType, payload: message.payload }, maxForwards: (req.maxForwards ?? 70) - 1, toGroup, bytes: message.payload.length, content: { contentType: message.contentType, body: message.payload }, imdn };
    if (imdn !== null) this.imdn!.track(service, imdn, sender, recipients);
    this.stack.reply(tx, 202, 'Accepted');
    // H1: stored once for the sender, every recipient listed (not once per copy)
    if (this.capture?.wantedExploded(req, sender.aor)) void this.capture.exploded(req, sender.aor, service, toGroup, recipients, fan.content);
    void this.fanOut(fan, recipients)
      .then((outcomes) => (wantsReport ? this.report(fan, outcomes) : undefined))
      .catch((err: unknown) => this.log.error({ err, service }, 'fan-out failed'));
  }

  /**
   * RFC 5438 §8: a CPIM message asking for notifications gets our IMDN-Record-Route, so the
   * recipients' notifications come back to this service, which aggregates them per recipient.
   */
  private withImdnRoute(service: string, contentType: string, payload: Buffer): { payload: Buffer; imdn: ImdnRequest | null } {
    if (this.imdn === null || mediaTypeOf(contentType) !== 'message/cpim') return { payload, imdn: null };
    const e = readCpim(payload);
    const request = e === null || isImdnEnvelope(e) ? null : requestOf(e);
    if (e === null || request === null) return { payload, imdn: null };
    return { payload: writeCpim(withImdnHeader(e, 'IMDN-Record-Route', `<${service}>`)), imdn: request };
  }

  /**
   * A notification sent back to a list service of ours (the IMDN-Record-Route of an exploded
   * copy, RFC 5438 §8): aggregated (§8.3) for the IM's sender, 202. 404 when no exploded IM with that
   * Message-ID awaits notifications from this sender; 400 when it is not an IMDN we can read.
   */
  notification(req: SipRequest, tx: ServerTransaction, sender: SenderIdentity, service: string): void {
    const e = readCpim(req.body);
    const type = e === null ? undefined : contentHeader(e, 'Content-Type');
    const doc = e === null || type === undefined || mediaTypeOf(type) !== 'message/imdn+xml' ? null : parseImdnXml(e.body.toString('utf8'));
    if (doc === null) throw new SipError(400, 'Malformed IMDN');
    if (this.imdn === null || !this.imdn.accept(service, sender.aor, doc)) throw new SipError(404, 'No message awaits this notification');
    this.stack.reply(tx, 202, 'Accepted');
  }

  private async fanOut(fan: FanOut, recipients: string[]): Promise<RecipientOutcome[]> {
    const outcomes: RecipientOutcome[] = new Array<RecipientOutcome>(recipients.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < recipients.length) {
        const i = next++;
        const copy = await this.toOne(fan, recipients[i]);
        outcomes[i] = { uri: recipients[i], status: copy.status, reason: copy.reason };
        // C5: one usage record per recipient, naming the list service it went out from
        this.pager.usage?.record({
          kind: 'exploded',
          user: fan.sender.aor,
          peer: recipients[i],
          service: fan.service,
          outcome: copy.note === undefined ? messageOutcome(copy.status, copy.stored) : 'refused',
          status: copy.status,
          reason: copy.note ?? copy.reason,
          bytes: fan.bytes,
        });
        // RFC 5438 §8.2, §12.2: a copy that could not be delivered is a negative delivery
        // notification for that recipient, when the sender asked for one
        if (fan.imdn !== null && copy.status >= 300 && fan.imdn.dispositions.has('negative-delivery')) {
          this.imdn!.accept(fan.service, recipients[i], { messageId: fan.imdn.messageId, dateTime: fan.imdn.dateTime, kind: 'delivery', status: copy.status === 403 ? 'forbidden' : 'failed' });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, recipients.length) }, worker));
    return outcomes;
  }

  /** One copy, as the member's own server would take it: routed, guarded, through their policy. */
  private async toOne(fan: FanOut, uri: string): Promise<CopyOutcome> {
    try {
      let target;
      try {
        target = parseUri(uri);
      } catch {
        throw new SipError(400, 'Bad recipient URI');
      }
      if (!isSipUri(target)) throw new SipError(416, 'Unsupported URI Scheme');
      if (!this.domain.isLocal(target.host)) throw new SipError(403, 'Relaying to other domains is not enabled');
      const name = target.user === null ? null : userOfUriPart(target.user);
      if (name === null) throw new SipError(404, 'Not Found');
      const aor = this.domain.aor(name);
      const copy = this.copyFor(fan, aor);
      // a member that is a list service itself (the factory, a group) refuses the marked copy
      if (this.isFactory(name) || (await this.lists.groupMembers(aor)) !== null) MessageExploder.guard(copy);
      const user = this.users.get(name);
      if (user === undefined) throw new SipError(404, 'Not Found');
      if (user.disabled) throw new SipError(480, 'Recipient is not available');
      // the member's profile (Y1, Y3): group chat allowed, then their size and type limits
      if (this.profiles !== null) {
        this.profiles.requireGroupChat(user.username, 'recipient');
        this.profiles.checkContent(user.username, 'recipient', fan.original.contentType, fan.original.payload);
      }
      // the member's terminating participating function (Y2): block is 403, polite-block a silent 202
      if ((await this.terminating.check(user.username, fan.sender.aor)) === 'discard') return { status: 202, reason: 'Accepted', stored: false, note: 'Discarded (polite block)' };
      const { delivery } = await this.terminating.preferences(user.username);
      const outcome = await this.pager.deliver(copy, fan.sender, user.username, delivery === 'store');
      // H1: a recipient who keeps their conversations keeps this one (the message as sent, without the copy-control list)
      if (outcome.status < 300) void this.capture?.explodedCopy(fan.sender.aor, aor, fan.service, fan.toGroup, fan.content);
      return { status: outcome.status, reason: outcome.reason, stored: outcome.response === undefined };
    } catch (err) {
      if (err instanceof SipError) return { status: err.status, reason: err.reason, stored: false };
      this.log.error({ err, uri }, 'exploder copy failed');
      return { status: 500, reason: 'Server Internal Error', stored: false };
    }
  }

  /**
   * The copy for one member, a request we originate (RFC 3261 §8.1.1) on the sender's behalf:
   * the sender's From as the originating function shows it, To the group (so a reply can go to
   * the group) or the member, a Call-ID of its own, and the loop-guard marker.
   */
  private copyFor(fan: FanOut, aor: string): Request {
    const h = new Headers();
    h.set('from', fan.sender.from);
    h.set('to', `<${fan.toGroup ? fan.service : aor}>`);
    h.set('call-id', `${this.stack.newId()}@${this.stack.advertisedHost}`);
    h.set('cseq', '1 MESSAGE');
    h.set('max-forwards', String(fan.maxForwards));
    h.set('content-type', fan.contentType);
    markExploded(h, fan.service);
    return new Request('MESSAGE', parseUri(aor), aor, h, fan.payload);
  }

  /** The per-recipient report, to the sender like any message (live, or stored for later). */
  private async report(fan: FanOut, outcomes: RecipientOutcome[]): Promise<void> {
    const service: SenderIdentity = { username: '', aor: fan.service, from: `<${fan.service}>;tag=${this.stack.newId()}`, asserted: `<${fan.service}>` };
    const h = new Headers();
    h.set('from', service.from);
    h.set('to', `<${fan.sender.aor}>`);
    h.set('call-id', `${this.stack.newId()}@${this.stack.advertisedHost}`);
    h.set('cseq', '1 MESSAGE');
    h.set('max-forwards', '70');
    h.set('content-type', REPORT_TYPE);
    markExploded(h, fan.service);
    const body = Buffer.from(JSON.stringify({ service: fan.service, recipients: outcomes }));
    try {
      await this.pager.deliver(new Request('MESSAGE', parseUri(fan.sender.aor), fan.sender.aor, h, body), service, fan.sender.username);
    } catch (err) {
      this.log.warn({ err, sender: fan.sender.aor }, 'recipient report not delivered');
    }
  }
}
