import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import { SipRequest as Request } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server-transaction.js';
import type { SipStack } from '../../sip/stack.js';
import { SipError } from '../../sip/errors.js';
import { parseUri } from '../../sip/message/uri.js';
import type { LocationService, Binding } from '../../core/location-service.js';
import type { LocalDomain } from '../../core/local-domain.js';
import { fork, branchesFor } from '../../core/forker.js';
import type { DeferredStore } from '../deferred/deferred-store.js';
import type { DeferredDelivery } from '../deferred/deferred-delivery.js';

export interface PagerOptions {
  /** how long live delivery waits before the message is stored instead (under the sender's 32 s Timer F) */
  deliveryTimeoutMs: number;
  maxStoredPerUser: number;
}

/**
 * Pager-mode IM (RFC 3428, P1/P2): a MESSAGE to one of our users goes to all
 * their devices at once; the first 2xx answers the sender. With no device, or
 * none able to take it now, the message is stored and the sender gets 202.
 */
export class MessageHandler {
  constructor(
    private readonly stack: SipStack,
    private readonly domain: LocalDomain,
    private readonly location: LocationService,
    private readonly store: DeferredStore,
    private readonly delivery: DeferredDelivery,
    private readonly opts: PagerOptions,
  ) {}

  /**
   * `senderAor` is the authenticated identity; `recipient` a known, enabled user.
   * With `storeOnly` (the recipient's preference) the message goes straight to storage.
   */
  async handle(req: SipRequest, tx: ServerTransaction, senderAor: string, recipient: string, storeOnly = false): Promise<void> {
    const aor = this.domain.aor(recipient);
    const bindings = storeOnly ? [] : this.location.lookup(aor);
    if (bindings.length > 0) {
      const outcome = await fork(this.stack, branchesFor(bindings, (b) => this.forwarded(req, b, senderAor)), this.opts.deliveryTimeoutMs);
      if (outcome.answered) {
        this.relay(tx, outcome.answered);
        return;
      }
      if (!outcome.unavailable && outcome.best !== null) {
        this.relay(tx, outcome.best);
        return;
      }
    }
    await this.defer(req, tx, senderAor, recipient);
    if (bindings.length > 0) this.delivery.scheduleRetry(recipient, 1);
  }

  /** RFC 3428 §7: a MESSAGE that cannot be delivered now is stored; 202 says "accepted, not yet delivered". */
  private async defer(req: SipRequest, tx: ServerTransaction, senderAor: string, recipient: string): Promise<void> {
    if (this.store.pendingFor(recipient) >= this.opts.maxStoredPerUser) {
      throw new SipError(480, "Recipient's message store is full");
    }
    await this.store.add({
      recipient,
      fromHeader: req.headers.get('from') ?? `<${senderAor}>`,
      senderAor,
      contentType: req.headers.get('content-type') ?? 'text/plain',
      body: req.body,
      receivedAt: Date.now(),
    });
    this.stack.reply(tx, 202, 'Accepted');
  }

  /** The request as sent to one device (RFC 3261 §16.6): new Request-URI, Max-Forwards-1, asserted identity. */
  private forwarded(req: SipRequest, b: Binding, senderAor: string): SipRequest {
    const h = req.headers.clone();
    h.delete('proxy-authorization'); // consumed here (RFC 3261 §22.3)
    h.delete('route');
    h.set('max-forwards', String((req.maxForwards ?? 70) - 1));
    // RFC 3325 §9.1: we assert the identity we authenticated, replacing any claim
    h.set('p-asserted-identity', `<${senderAor}>`);
    h.delete('p-preferred-identity');
    return new Request(req.method, parseUri(b.contactUri), b.contactUri, h, req.body);
  }

  /** Sends a device's response back to the sender without our Via (RFC 3261 §16.7 step 9). */
  private relay(tx: ServerTransaction, res: SipResponse): void {
    const vias = res.headers.all('via');
    const rest = vias.length > 0 ? dropFirstVia(vias) : [];
    res.headers.set('via', rest);
    res.invalidate();
    tx.respond(res);
  }
}

/** Removes the topmost Via element, which may share a header line with others. */
function dropFirstVia(values: readonly string[]): string[] {
  const first = values[0];
  const comma = topLevelComma(first);
  return comma < 0 ? values.slice(1) : [first.slice(comma + 1).trim(), ...values.slice(1)];
}

function topLevelComma(s: string): number {
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) return i;
  }
  return -1;
}
