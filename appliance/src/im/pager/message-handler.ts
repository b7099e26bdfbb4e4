import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server-transaction.js';
import type { SipStack } from '../../sip/stack.js';
import { SipError } from '../../sip/errors.js';
import { withoutTopVia } from '../../sip/message/via.js';
import { withoutFirstVia } from '../../sip/message/via-bytes.js';
import type { LocationService, Binding } from '../../core/location-service.js';
import type { LocalDomain } from '../../core/local-domain.js';
import { fork, branchesFor } from '../../core/forker.js';
import { refusalReason, type DeferredStore } from '../deferred/deferred-store.js';
import type { DeferredDelivery } from '../deferred/deferred-delivery.js';
import type { SenderIdentity } from '../participating/originating-policy.js';
import { messageToDevice } from '../device-request.js';
import { MessageRate } from './message-rate.js';
import type { Reachability } from './reachability.js';
import type { PagerCapture } from '../../history/pager-capture.js';
import { messageOutcome, type UsageSink } from '../../usage/usage-types.js';

/** What became of one message to one recipient: a device's final answer, or stored (202, no response). */
export interface DeliveryOutcome {
  status: number;
  reason: string;
  response?: SipResponse;
}

export interface PagerOptions {
  /** how long live delivery waits before the message is stored instead (under the sender's 32 s Timer F) */
  deliveryTimeoutMs: number;
  /** Retry-After (seconds) when a recipient's store, or the sender's share of it, is full */
  storeFullRetryAfter: number;
}

/**
 * Pager-mode IM (RFC 3428, P1/P2): a MESSAGE to one of our users goes to all
 * their devices at once; the first 2xx answers the sender. With no device, or
 * none able to take it now, the message is stored and the sender gets 202.
 */
export class MessageHandler {
  /** messages accepted for delivery or storage, per minute over the last hour (live status) */
  readonly rate = new MessageRate();
  /** Told what became of each MESSAGE: answered by a device, stored, or refused by a full store (/metrics). */
  onOutcome: ((outcome: 'delivered' | 'stored' | 'refused') => void) | null = null;
  /** Conversation storage (H1): told of every accepted message that someone records. */
  capture: PagerCapture | null = null;
  /** Usage records (C5): one per message per recipient, written after the answer. */
  usage: UsageSink | null = null;
  /** Told of each message that went to deferred storage (RFC 5438 §8.1 `stored` notifications). */
  onDeferred: ((req: SipRequest, sender: SenderIdentity, recipient: string) => void) | null = null;

  constructor(
    private readonly stack: SipStack,
    private readonly domain: LocalDomain,
    private readonly location: LocationService,
    private readonly store: DeferredStore,
    private readonly delivery: DeferredDelivery,
    private readonly opts: PagerOptions,
    private readonly reach: Reachability | null = null,
  ) {}

  /**
   * `sender` is the authenticated identity; `recipient` a known, enabled user.
   * With `storeOnly` (the recipient's preference) the message goes straight to storage.
   */
  async handle(req: SipRequest, tx: ServerTransaction, sender: SenderIdentity, recipient: string, storeOnly = false): Promise<void> {
    const outcome = await this.deliver(req, sender, recipient, storeOnly);
    const peer = this.domain.aor(recipient);
    // H1: does anyone store this message? O(1) tests first, so the storage checks cost nothing when nobody does
    const captured = outcome.status < 300 && this.capture !== null && this.capture.wanted(req, sender.aor, peer);
    // H3: delivered, but the sender's storage quota keeps her copy out; RFC 3261 §20.43 lets the
    // server that adds a Warning name itself as warn-agent, 399 is the miscellaneous warn-code
    const notStored = captured && this.capture!.refusedForSender(req, sender.aor, peer);
    const warning = notStored ? { warning: `399 ${this.stack.advertisedHost} "Not stored: storage quota reached"` } : undefined;
    if (outcome.response) this.relay(tx, outcome.response, warning);
    else this.stack.reply(tx, 202, 'Accepted', { headers: warning });
    // C5: after the answer, and only into a buffer (the usage recorder commits in batches)
    this.usage?.record({ kind: 'pager', user: sender.aor, peer, outcome: messageOutcome(outcome.status, outcome.response === undefined), status: outcome.status, reason: outcome.reason, bytes: req.body.length });
    // H1: an accepted message (2xx or stored) goes into the conversations that record it
    if (captured) void this.capture!.accepted(req, sender.aor, peer);
  }

  /**
   * Delivers `req` to the recipient's devices, or stores it (RFC 3428 §7), without answering
   * anyone: the pager relays the outcome to the sender, the exploder (P3) counts it per
   * recipient. `response` is the device's final answer (2xx, or a failure that is not "not
   * reachable now"); without one the message was stored (202). A full store throws 480.
   */
  async deliver(req: SipRequest, sender: SenderIdentity, recipient: string, storeOnly = false): Promise<DeliveryOutcome> {
    this.rate.count();
    const aor = this.domain.aor(recipient);
    const registered = storeOnly ? [] : this.location.lookup(aor);
    // R4: only devices that can take it now; with none, straight to storage, no fork to wait out
    const bindings = this.reach === null ? registered : this.reach.reachable(registered);
    if (bindings.length > 0) {
      const reach = this.reach;
      // a silent device tried again (see Reachability) is reachable once it answers anything, also
      // after another device's 2xx has settled the fork; no closure while nobody is silent
      const heard = reach !== null && reach.anySilent ? (i: number) => reach.answered(bindings[i]) : undefined;
      const outcome = await fork(this.stack, branchesFor(bindings, (b) => this.forwarded(req, b, sender)), this.opts.deliveryTimeoutMs, heard);
      if (outcome.answered) {
        this.onOutcome?.('delivered');
        return { status: outcome.answered.status, reason: outcome.answered.reason, response: outcome.answered };
      }
      if (reach !== null) {
        const unreached = new Set(outcome.unreached);
        const refused = new Set(outcome.transportFailed);
        // no answer while we were shedding load says nothing of the device: the answer may have
        // waited past the deadline, or been dropped, in our own receive queue. A transport that
        // refused the request (unreachable, connection gone) says it all the same.
        const ours = this.stack.overloadedWithin(this.opts.deliveryTimeoutMs);
        bindings.forEach((b, i) => {
          if (!unreached.has(i)) reach.answered(b);
          else if (!ours || refused.has(i)) reach.unreached(b);
        });
      }
      if (!outcome.unavailable && outcome.best !== null) return { status: outcome.best.status, reason: outcome.best.reason, response: outcome.best };
    }
    await this.defer(req, sender, recipient);
    this.onDeferred?.(req, sender, recipient);
    if (registered.length > 0) this.delivery.scheduleRetry(recipient, 1);
    return { status: 202, reason: 'Accepted' };
  }

  /** A polite block (Y2): the sender is told 202, as if the message were stored, and it goes nowhere. */
  acceptSilently(tx: ServerTransaction): void {
    this.stack.reply(tx, 202, 'Accepted');
  }

  /** RFC 3428 §7: a MESSAGE that cannot be delivered now is stored; 202 says "accepted, not yet delivered". */
  private async defer(req: SipRequest, sender: SenderIdentity, recipient: string): Promise<void> {
    const result = await this.store.add({
      recipient,
      fromHeader: sender.from,
      senderAor: sender.aor,
      contentType: req.headers.get('content-type') ?? 'text/plain',
      body: req.body,
      receivedAt: Date.now(),
      callId: req.callId,
    });
    this.onOutcome?.(result.stored ? 'stored' : 'refused');
    if (!result.stored) {
      // RFC 3261 §21.4.18 480 with Retry-After (§20.33): the store drains when the recipient comes online
      // a recipient over their storage quota (H3) is told the same way: live delivery would still work
      // a profile without storage is no passing state: no Retry-After then
      const retry: Record<string, string> = result.refusal === 'profile' ? {} : { 'Retry-After': String(this.opts.storeFullRetryAfter) };
      throw new SipError(480, refusalReason(result.refusal), retry);
    }
  }

  /** The request as sent to one device (RFC 3261 §16.6): new Request-URI, Max-Forwards-1, the identity we assert. */
  private forwarded(req: SipRequest, b: Binding, sender: SenderIdentity): SipRequest {
    const h = req.headers.clone();
    h.delete('proxy-authorization'); // consumed here (RFC 3261 §22.3)
    h.delete('route');
    h.set('max-forwards', String((req.maxForwards ?? 70) - 1));
    // recipients see the directory's name for the sender, not the one the client wrote (originating policy)
    h.set('from', sender.from);
    return messageToDevice(b, h, req.body, sender.asserted);
  }

  /** Sends a device's response back to the sender without our Via (RFC 3261 §16.7 step 9). */
  private relay(tx: ServerTransaction, res: SipResponse, extra?: Record<string, string>): void {
    if (extra) for (const [name, value] of Object.entries(extra)) res.headers.append(name, value);
    // cut from the bytes received when they are plain enough (and not added to), else serialised from the parse
    const wire = res.raw === null || extra ? null : withoutFirstVia(res.raw);
    // the rest keep their parsed form (the server transaction reads the new top one for rport)
    res.setVias(withoutTopVia(res.headers.all('via')), res.vias.slice(1));
    tx.respond(res, wire ?? undefined);
  }
}
