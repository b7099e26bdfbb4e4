import type { SipRequest } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { SipStack } from '../sip/stack.js';
import { SipError } from '../sip/errors.js';
import { type Dialog, dialogId, dialogDestination } from '../sip/dialog/dialog.js';
import { formatUri, isSipUri, aorOf, type Uri } from '../sip/message/uri.js';
import { expiresValue, grantedExpires } from '../sip/expires.js';
import { parseEventHeader, subscriptionState, type TerminationReason } from '../sip/event-header.js';
import type { LocalDomain } from '../core/local-domain.js';
import type { Authenticator } from '../core/authenticator.js';
import { authenticateSip } from '../core/sip-authentication.js';
import { checkRequire } from '../core/extensions.js';
import type { Logger } from '../log.js';
import type { EventPackage, Subscriber } from './event-package.js';
import { Subscription } from './subscription.js';
import type { SubscriptionStore } from './subscription-store.js';
import { SubscribeRate, type SubscribeRateOptions } from './subscribe-rate.js';
import { NotifySender } from './notify-sender.js';
import { SubscriptionRegistry } from './subscription-registry.js';
import { SubscriptionPersistence, SEQ_BLOCK } from './subscription-persistence.js';
import { checkAccept } from './accept.js';
import { dialogForSubscribe, subscribeRouteSet } from './subscription-dialog.js';
import { PackageTable, kindOf, type AnyPackage } from './package-table.js';

export interface SubscriptionOptions {
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  /** subscriptions one user may hold per event package */
  maxPerUser: number;
  /** least ms between two NOTIFYs of one subscription for changes of state, unless the package sets its own */
  minNotifyInterval: number;
  /** SUBSCRIBEs per subscriber: a burst, then a steady rate (503 past it) */
  rate: SubscribeRateOptions;
}

/**
 * The notifier side of SIP-specific event notification (RFC 6665), written once for every event
 * package (presence, presence.winfo, RLS, xcap-diff): subscription dialogs, authentication,
 * refresh and expiry, fetches, NOTIFY pacing, termination with reasons, limits, and persistence
 * across a restart. Packages (`EventPackage`) only decide what is allowed and what NOTIFYs say.
 *
 * @example
 * const subscriptions = new SubscriptionService(stack, auth, domain, store, opts, log);
 * router.serveEvent('presence', subscriptions.register(presencePackage));
 */
export class SubscriptionService {
  private readonly packages = new PackageTable();
  private readonly subs = new SubscriptionRegistry();
  private readonly stored: SubscriptionPersistence;
  private readonly rate: SubscribeRate;
  /** subscriptions whose 2xx has not left yet: their NOTIFYs wait (RFC 6665 allows either order; clients want this one) */
  private readonly unanswered = new WeakSet<Subscription>();
  private readonly notifier: NotifySender;

  constructor(
    private readonly stack: SipStack,
    private readonly auth: Authenticator,
    private readonly domain: LocalDomain,
    store: SubscriptionStore | null,
    private readonly opts: SubscriptionOptions,
    private readonly log: Logger,
  ) {
    this.rate = new SubscribeRate(opts.rate);
    this.stored = new SubscriptionPersistence(store, (kind) => this.packages.get(kind), log);
    this.notifier = new NotifySender(stack, (kind) => this.packages.get(kind), opts.minNotifyInterval, log, {
      held: (sub) => this.unanswered.has(sub),
      gone: (sub, reason) => this.drop(sub, reason),
      sent: (sub) => this.stored.raiseCeiling(sub),
    });
  }

  /** Adds an event package; returns the router's SUBSCRIBE handler for it. */
  register<D>(pkg: EventPackage<D>): (req: SipRequest, tx: ServerTransaction) => Promise<void> {
    this.packages.add(pkg);
    return this.handle;
  }

  /** Live subscriptions of one package (by kind) to one resource. */
  watchersOf(kind: string, resource: string): Subscription[] {
    return this.subs.watchersOf(kind, resource);
  }

  /** Every live subscription of one package (by kind). */
  allOf(kind: string): Subscription[] {
    return this.subs.allOf(kind);
  }

  /** Subscriptions whose first NOTIFY has left, per package (what /health reports). */
  counts(): Record<string, number> {
    return this.subs.notifiedCounts(this.packages.kinds());
  }

  /** Live subscriptions per package and state, first NOTIFY sent or not (what /metrics reports). */
  countsByState(): Record<string, { pending: number; active: number }> {
    return this.subs.countsByState(this.packages.kinds());
  }

  /** Whether NOTIFYs go over this flow (so its connection must stay open). O(1). */
  usesFlow(flowId: string): boolean {
    return this.subs.usesFlow(flowId);
  }

  readonly handle = async (req: SipRequest, tx: ServerTransaction): Promise<void> => {
    const event = parseEventHeader(req.headers.get('event'));
    this.packages.checkServed(event?.package);
    if (req.toTag !== undefined) {
      await this.inDialog(req, tx);
      return;
    }
    const user = authenticateSip(this.auth, req, tx.source, false);
    const subscriber: Subscriber = { username: user.username, aor: this.domain.aor(user.username) };
    this.admit(subscriber.aor);
    const pkg = await this.packages.pick(event!.package, req);
    // a package that needs an extension (RLS: eventlist, RFC 4662 §5) checks Require itself
    if (pkg.claims === undefined) checkRequire(req);
    await this.subscribe(pkg, req, tx, subscriber);
  };

  /** A SUBSCRIBE storm from one subscriber gets 503 + Retry-After (RFC 3261 §21.5.4); others go on. */
  private admit(aor: string): void {
    const wait = this.rate.take(aor);
    if (wait > 0) throw new SipError(503, 'Too many subscription requests', { 'Retry-After': String(wait) });
  }

  private async subscribe(pkg: AnyPackage, req: SipRequest, tx: ServerTransaction, subscriber: Subscriber, shared?: Dialog): Promise<void> {
    checkAccept(req, pkg);
    const expires = this.expiresOf(req);
    const contact = req.contacts === '*' ? undefined : req.contacts[0];
    if (contact === undefined) throw new SipError(400, 'SUBSCRIBE needs a Contact');
    const routeSet = subscribeRouteSet(req);
    if (expires > 0 && this.subs.countOf(kindOf(pkg), subscriber.aor) >= this.opts.maxPerUser) {
      throw new SipError(403, `Too many subscriptions (at most ${this.opts.maxPerUser} per user)`);
    }
    const opened = await pkg.open(req, subscriber);
    const dialog = shared ?? dialogForSubscribe(this.stack, req, tx, contact.uri, routeSet);
    const localTag = dialog.state.localTag;
    const sub = new Subscription(kindOf(pkg), pkg.event, dialog, subscriber.aor, opened.resource, opened.state, opened.data);
    sub.eventId = parseEventHeader(req.headers.get('event'))?.id ?? null;
    if (expires === 0) {
      // a fetch (RFC 6665 §4.4.3): one NOTIFY with the current state, and the subscription is over
      this.stack.reply(tx, 200, 'OK', { toTag: localTag, headers: { Expires: '0', Contact: dialog.state.localContact } });
      sub.state = 'terminated';
      const body = opened.state === 'active' ? await pkg.render(sub, true) : null;
      this.notifier.send(sub, subscriptionState('terminated', { reason: 'timeout' }), body);
      return;
    }
    this.arm(sub, expires);
    sub.seqCeiling = SEQ_BLOCK;
    // registered before anything is awaited, so a change meanwhile marks it dirty and is not lost
    this.unanswered.add(sub);
    this.subs.add(sub);
    await this.stored.save(sub);
    if (ended(sub)) throw new SipError(500, 'Subscription ended while being set up');
    this.stack.reply(tx, 200, 'OK', { toTag: localTag, headers: { Expires: String(expires), Contact: dialog.state.localContact } });
    this.unanswered.delete(sub);
    pkg.started?.(sub);
    // the first NOTIFY is part of this request's work: if its state cannot be read, the failure
    // is this request's (logged by the router as a failure after the final response)
    sub.dirty = sub.wantFull = true;
    await this.notifier.deliver(sub, true);
  }

  /**
   * A SUBSCRIBE in a dialog of another usage that a package owns (RFC 6665 §4.5.2: a conference
   * participant subscribing inside its INVITE dialog with the focus). The dialog says who the
   * subscriber is, as it does for a BYE; credentials, when sent, must be theirs.
   */
  private async inSharedDialog(req: SipRequest, tx: ServerTransaction): Promise<boolean> {
    const event = parseEventHeader(req.headers.get('event'))?.package;
    for (const pkg of event === undefined ? [] : this.packages.forEvent(event)) {
      const shared = pkg.sharedDialog?.(req);
      if (!shared) continue;
      this.admit(shared.subscriber.aor);
      if (req.headers.all('proxy-authorization').length > 0) {
        const user = authenticateSip(this.auth, req, tx.source, false);
        if (this.domain.aor(user.username) !== shared.subscriber.aor) throw new SipError(403, 'Not the participant of this dialog');
      }
      if (!shared.dialog.acceptRemoteSeq(req.cseq.seq)) throw new SipError(500, 'Out of order request');
      await this.subscribe(pkg, req, tx, shared.subscriber, shared.dialog);
      return true;
    }
    return false;
  }

  /**
   * A SUBSCRIBE inside one of our dialogs: a refresh, or an unsubscribe with Expires: 0 (RFC 6665
   * §4.2.1.2). The dialog identifiers (our random tag among them) tie it to the subscription its
   * authenticated subscriber made. Credentials, when present, must be that subscriber's, and so
   * must the From: nobody refreshes or ends someone else's subscription.
   */
  private async inDialog(req: SipRequest, tx: ServerTransaction): Promise<void> {
    const sub = this.subs.get(dialogId(req.callId, req.toTag ?? '', req.fromTag ?? ''));
    if (sub === undefined && (await this.inSharedDialog(req, tx))) return;
    const pkg = sub === undefined ? undefined : this.packages.get(sub.kind);
    if (sub === undefined || pkg === undefined) throw new SipError(481, 'Subscription Does Not Exist');
    this.admit(sub.subscriber);
    // RFC 6665 §4.2.1.2, §8.2.1: a subscription is the dialog with its Event package and id; a
    // SUBSCRIBE in our dialog naming another one refreshes nothing of ours, and we hold one
    // subscription per dialog (RFC 6665 deprecates dialog reuse): 489, and ours carries on
    const event = parseEventHeader(req.headers.get('event'));
    if (event?.package !== sub.event || event.id !== sub.eventId) {
      throw this.packages.badEvent('Bad Event: not the subscription of this dialog');
    }
    if (req.headers.all('proxy-authorization').length > 0) {
      const user = authenticateSip(this.auth, req, tx.source, false);
      if (this.domain.aor(user.username) !== sub.subscriber) throw new SipError(403, 'Not the subscriber of this dialog');
    }
    if (this.canonical(req.from.uri) !== sub.subscriber) throw new SipError(403, 'Not the subscriber of this dialog');
    if (!sub.dialog.acceptRemoteSeq(req.cseq.seq)) throw new SipError(500, 'Out of order request');
    checkAccept(req, pkg);
    const expires = this.expiresOf(req);
    if (expires === 0) {
      this.stack.reply(tx, 200, 'OK', { headers: { Expires: '0' } });
      await this.terminate(sub, 'timeout');
      return;
    }
    // RFC 6665 §4.1.2.1 / RFC 3261 §12.2: a refresh may carry a new remote target
    const contact = req.contacts === '*' ? undefined : req.contacts[0];
    if (contact !== undefined) {
      this.subs.moveFlow(sub, () => {
        sub.dialog.state.remoteTarget = formatUri(contact.uri);
        // the route set stays as the dialog was made (RFC 3261 §12.2); only the target moves
        sub.dialog.state.destination = dialogDestination(sub.dialog.state.routeSet ?? [], sub.dialog.state.remoteTarget, tx.source);
      });
    }
    this.arm(sub, expires);
    await this.stored.save(sub);
    this.stack.reply(tx, 200, 'OK', { headers: { Expires: String(expires), Contact: sub.dialog.state.localContact } });
    // RFC 6665 §4.2.2: a NOTIFY with the current state follows every accepted refresh
    this.notifier.kick(sub, { full: true, urgent: true });
  }

  /** The AOR a From URI names, as the directory spells our users (user parts are case-insensitive). */
  private canonical(uri: Uri): string {
    if (!isSipUri(uri) || uri.user === null) return formatUri(uri);
    return this.domain.isLocal(uri.host) ? this.domain.aor(uri.user.toLowerCase()) : aorOf(uri);
  }

  /** Tells the framework that the next NOTIFY must carry the full state again (paced as a change). */
  resync(sub: Subscription): void {
    this.notifier.kick(sub, { full: true, urgent: false });
  }

  /** Tells the framework that a subscription's state changed: a NOTIFY follows, paced by the package's rate. */
  changed(sub: Subscription): void {
    this.notifier.kick(sub, { full: false, urgent: false });
  }

  /**
   * A change the subscriber must hear of without waiting for the package's rate: a change of
   * subscription state inside the package's body (an RLS member's instance becoming active, RFC
   * 4662), like the subscription's own state changes. Partial state, as for `changed`.
   */
  changedNow(sub: Subscription): void {
    this.notifier.kick(sub, { full: false, urgent: true });
  }

  /** Moves a subscription between pending and active (e.g. the presentity accepted the watcher): a NOTIFY at once. */
  async setState(sub: Subscription, state: 'pending' | 'active'): Promise<void> {
    if (sub.state === 'terminated' || sub.state === state) return;
    sub.state = state;
    this.notifier.kick(sub, { full: true, urgent: true });
    await this.stored.save(sub);
  }

  /**
   * Ends a subscription with a final NOTIFY (RFC 6665 §4.2.2) carrying the reason, so the
   * subscriber knows whether to try again: `rejected` (the presentity's rules said no) and
   * `noresource` are final, `deactivated` and `timeout` invite a new SUBSCRIBE.
   */
  async terminate(sub: Subscription, reason: TerminationReason, retryAfter?: number): Promise<void> {
    if (sub.state === 'terminated') return;
    const wasActive = sub.state === 'active';
    this.drop(sub, reason);
    const pkg = this.packages.get(sub.kind);
    const body = wasActive && reason !== 'rejected' && reason !== 'noresource' && pkg ? await pkg.render(sub, true) : null;
    this.notifier.send(sub, subscriptionState('terminated', { reason, retryAfter }), body);
  }

  private drop(sub: Subscription, reason: TerminationReason): void {
    sub.state = 'terminated';
    this.stopTimers(sub);
    if (!this.subs.remove(sub)) return;
    this.stored.remove(sub);
    try {
      this.packages.get(sub.kind)?.ended?.(sub, reason);
    } catch (err) {
      this.log.error({ err, event: sub.event }, 'event package failed on a subscription end');
    }
  }

  private arm(sub: Subscription, expires: number): void {
    if (sub.expiryTimer) this.stack.timerQueues.stop(sub.expiryTimer);
    sub.expiresAt = Date.now() + expires * 1000;
    // on the stack's timer queues: subscriptions mostly ask for the same few intervals (3600 s…)
    sub.expiryTimer = this.stack.timerQueues.start(expires * 1000, () => {
      sub.expiryTimer = null;
      // RFC 6665 §4.1.3: a subscription still pending when it runs out ends with giveup (no
      // authorisation came in time), which RFC 3857's watcher information reports as such
      this.terminate(sub, sub.state === 'pending' ? 'giveup' : 'timeout').catch((err: unknown) => this.log.error({ err, event: sub.event }, 'final NOTIFY failed'));
    });
  }

  private stopTimers(sub: Subscription): void {
    if (sub.expiryTimer) this.stack.timerQueues.stop(sub.expiryTimer);
    if (sub.paceTimer) this.stack.timerQueues.stop(sub.paceTimer);
    sub.expiryTimer = sub.paceTimer = null;
  }

  private expiresOf(req: SipRequest): number {
    const asked = expiresValue(req.headers.get('expires')) ?? this.opts.defaultExpires;
    return grantedExpires(asked, { min: this.opts.minExpires, max: this.opts.maxExpires });
  }

  /**
   * Brings back the stored subscriptions after a restart and sends each a NOTIFY with the
   * current state, so subscribers learn whatever changed while the server was down.
   */
  async restore(): Promise<number> {
    const loaded = await this.stored.load();
    for (const { sub, pkg } of loaded) {
      this.arm(sub, Math.max(1, Math.round((sub.expiresAt - Date.now()) / 1000)));
      this.subs.add(sub);
      await this.stored.save(sub);
      pkg.started?.(sub);
      this.notifier.kick(sub, { full: true, urgent: true });
    }
    return loaded.length;
  }

  /**
   * Stops: subscriptions that cannot outlive the process (their NOTIFYs go over a connection,
   * which dies with it) are ended with `deactivated`, which tells the subscriber to subscribe
   * again (RFC 6665 §4.2.2); the stored ones wait for the next start.
   */
  stop(): void {
    for (const sub of [...this.subs.all()]) {
      if (!this.stored.keeps(sub)) {
        sub.state = 'terminated';
        this.notifier.send(sub, subscriptionState('terminated', { reason: 'deactivated' }), null);
      }
      this.stopTimers(sub);
    }
    this.subs.clear();
    this.notifier.clear();
  }
}

function ended(sub: Subscription): boolean {
  return sub.state === 'terminated';
}
