import type { SipRequest } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { SipStack } from '../sip/stack.js';
import { SipError } from '../sip/errors.js';
import { Dialog, dialogId, destinationFor } from '../sip/dialog/dialog.js';
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

/** CSeqs handed out between two writes of a subscription's ceiling (see `seqCeiling`). */
const SEQ_BLOCK = 1000;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyPackage = EventPackage<any>;

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
  /** packages by kind */
  private readonly packages = new Map<string, AnyPackage>();
  /** packages by event: the first whose `claims` accepts a request takes it, else the last (the default) */
  private readonly byEvent = new Map<string, AnyPackage[]>();
  private readonly subs = new Map<string, Subscription>();
  /** live subscriptions per event and resource, for fan-out */
  private readonly byResource = new Map<string, Set<Subscription>>();
  private readonly perUser = new Map<string, number>();
  private readonly perFlow = new Map<string, number>();
  private readonly rate: SubscribeRate;
  /** subscriptions whose 2xx has not left yet: their NOTIFYs wait (RFC 6665 allows either order; clients want this one) */
  private readonly unanswered = new WeakSet<Subscription>();
  private readonly notifier: NotifySender;

  constructor(
    private readonly stack: SipStack,
    private readonly auth: Authenticator,
    private readonly domain: LocalDomain,
    private readonly store: SubscriptionStore | null,
    private readonly opts: SubscriptionOptions,
    private readonly log: Logger,
  ) {
    this.rate = new SubscribeRate(opts.rate);
    this.notifier = new NotifySender(stack, (kind) => this.packages.get(kind), opts.minNotifyInterval, log, {
      held: (sub) => this.unanswered.has(sub),
      gone: (sub, reason) => this.drop(sub, reason),
      sent: (sub) => this.raiseCeiling(sub),
    });
  }

  /** Adds an event package; returns the router's SUBSCRIBE handler for it. */
  register<D>(pkg: EventPackage<D>): (req: SipRequest, tx: ServerTransaction) => Promise<void> {
    this.packages.set(kindOf(pkg), pkg);
    const list = this.byEvent.get(pkg.event) ?? [];
    // packages that claim requests go first, the event's default package last
    if (pkg.claims) list.unshift(pkg);
    else list.push(pkg);
    this.byEvent.set(pkg.event, list);
    return this.handle;
  }

  /** Live subscriptions of one package (by kind) to one resource. */
  watchersOf(kind: string, resource: string): Subscription[] {
    return [...(this.byResource.get(`${kind}|${resource}`) ?? [])];
  }

  /** Every live subscription of one package (by kind). */
  allOf(kind: string): Subscription[] {
    return [...this.subs.values()].filter((s) => s.kind === kind);
  }

  /** Subscriptions whose first NOTIFY has left, per package (what /health reports). */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of this.packages.keys()) out[p] = 0;
    for (const s of this.subs.values()) if (s.fullSent) out[s.kind] = (out[s.kind] ?? 0) + 1;
    return out;
  }

  /**
   * Live subscriptions per package (by kind) and state, whether or not their first NOTIFY has
   * left (what /metrics reports; `counts()` is the /health view).
   */
  countsByState(): Record<string, { pending: number; active: number }> {
    const out: Record<string, { pending: number; active: number }> = {};
    for (const p of this.packages.keys()) out[p] = { pending: 0, active: 0 };
    for (const s of this.subs.values()) {
      if (s.state === 'terminated') continue;
      out[s.kind] ??= { pending: 0, active: 0 };
      out[s.kind][s.state]++;
    }
    return out;
  }

  /** Whether NOTIFYs go over this flow (so its connection must stay open). O(1). */
  usesFlow(flowId: string): boolean {
    return this.perFlow.has(flowId);
  }

  readonly handle = async (req: SipRequest, tx: ServerTransaction): Promise<void> => {
    const event = parseEventHeader(req.headers.get('event'));
    const candidates = event === null ? undefined : this.byEvent.get(event.package);
    if (candidates === undefined) throw new SipError(489, 'Bad Event', { 'Allow-Events': [...this.byEvent.keys()].join(', ') });
    if (req.toTag !== undefined) {
      await this.inDialog(req, tx);
      return;
    }
    const user = authenticateSip(this.auth, req, tx.source, false);
    const subscriber: Subscriber = { username: user.username, aor: this.domain.aor(user.username) };
    this.admit(subscriber.aor);
    let pkg = candidates[candidates.length - 1];
    for (const p of candidates) {
      if (p.claims === undefined || (await p.claims(req))) {
        pkg = p;
        break;
      }
    }
    // a package that needs an extension (RLS: eventlist, RFC 4662 §5) checks Require itself
    if (pkg.claims === undefined) checkRequire(req);
    await this.subscribe(pkg, req, tx, subscriber);
  };

  /** A SUBSCRIBE storm from one subscriber gets 503 + Retry-After (RFC 3261 §21.5.4); others go on. */
  private admit(aor: string): void {
    const wait = this.rate.take(aor);
    if (wait > 0) throw new SipError(503, 'Too many subscription requests', { 'Retry-After': String(wait) });
  }

  private async subscribe(pkg: AnyPackage, req: SipRequest, tx: ServerTransaction, subscriber: Subscriber): Promise<void> {
    checkAccept(req, pkg);
    const expires = this.expiresOf(req);
    const contact = req.contacts === '*' ? undefined : req.contacts[0];
    if (contact === undefined) throw new SipError(400, 'SUBSCRIBE needs a Contact');
    if (expires > 0 && (this.perUser.get(`${kindOf(pkg)}|${subscriber.aor}`) ?? 0) >= this.opts.maxPerUser) {
      throw new SipError(403, `Too many subscriptions (at most ${this.opts.maxPerUser} per user)`);
    }
    const opened = await pkg.open(req, subscriber);
    const localTag = this.stack.newId();
    const transport = tx.source.transport;
    const port = this.stack.ports[transport] ?? this.stack.ports.UDP;
    const user = req.sipUri?.user ?? 'parley';
    const dialog = new Dialog({
      callId: req.callId,
      localTag,
      remoteTag: req.fromTag ?? '',
      // RFC 3261 §12.1.1: our URI is the To of the request, theirs its From
      localUri: formatUri(req.to.uri),
      remoteUri: formatUri(req.from.uri),
      remoteTarget: formatUri(contact.uri),
      localContact: `<sip:${user}@${this.stack.advertisedHost}:${port};transport=${transport.toLowerCase()}>`,
      localSeq: 0,
      remoteSeq: req.cseq.seq,
      destination: destinationFor(contact.uri, tx.source),
    });
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
    this.add(sub);
    await this.persist(sub);
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
   * A SUBSCRIBE inside one of our dialogs: a refresh, or an unsubscribe with Expires: 0 (RFC 6665
   * §4.2.1.2). The dialog identifiers (our random tag among them) tie it to the subscription its
   * authenticated subscriber made. Credentials, when present, must be that subscriber's, and so
   * must the From: nobody refreshes or ends someone else's subscription.
   */
  private async inDialog(req: SipRequest, tx: ServerTransaction): Promise<void> {
    const sub = this.subs.get(dialogId(req.callId, req.toTag ?? '', req.fromTag ?? ''));
    const pkg = sub === undefined ? undefined : this.packages.get(sub.kind);
    if (sub === undefined || pkg === undefined || parseEventHeader(req.headers.get('event'))?.package !== sub.event) throw new SipError(481, 'Subscription Does Not Exist');
    this.admit(sub.subscriber);
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
      this.countFlow(sub, -1);
      sub.dialog.state.remoteTarget = formatUri(contact.uri);
      sub.dialog.state.destination = destinationFor(contact.uri, tx.source);
      this.countFlow(sub, 1);
    }
    this.arm(sub, expires);
    await this.persist(sub);
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

  /** Moves a subscription between pending and active (e.g. the presentity accepted the watcher): a NOTIFY at once. */
  async setState(sub: Subscription, state: 'pending' | 'active'): Promise<void> {
    if (sub.state === 'terminated' || sub.state === state) return;
    sub.state = state;
    this.notifier.kick(sub, { full: true, urgent: true });
    await this.persist(sub);
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
    if (sub.expiryTimer) clearTimeout(sub.expiryTimer);
    if (sub.paceTimer) clearTimeout(sub.paceTimer);
    if (!this.subs.delete(sub.id)) return;
    this.countFlow(sub, -1);
    const key = `${sub.kind}|${sub.resource}`;
    const set = this.byResource.get(key);
    set?.delete(sub);
    if (set?.size === 0) this.byResource.delete(key);
    const userKey = `${sub.kind}|${sub.subscriber}`;
    const n = (this.perUser.get(userKey) ?? 1) - 1;
    if (n > 0) this.perUser.set(userKey, n);
    else this.perUser.delete(userKey);
    if (this.store && persistable(sub)) this.store.remove(sub.id).catch((err: unknown) => this.log.warn({ err }, 'subscription removal not stored'));
    try {
      this.packages.get(sub.kind)?.ended?.(sub, reason);
    } catch (err) {
      this.log.error({ err, event: sub.event }, 'event package failed on a subscription end');
    }
  }

  private add(sub: Subscription): void {
    this.subs.set(sub.id, sub);
    this.countFlow(sub, 1);
    const key = `${sub.kind}|${sub.resource}`;
    let set = this.byResource.get(key);
    if (set === undefined) {
      set = new Set();
      this.byResource.set(key, set);
    }
    set.add(sub);
    const userKey = `${sub.kind}|${sub.subscriber}`;
    this.perUser.set(userKey, (this.perUser.get(userKey) ?? 0) + 1);
  }

  private countFlow(sub: Subscription, delta: 1 | -1): void {
    const flow = sub.dialog.state.destination.flowId;
    if (flow === undefined) return;
    const n = (this.perFlow.get(flow) ?? 0) + delta;
    if (n > 0) this.perFlow.set(flow, n);
    else this.perFlow.delete(flow);
  }

  private arm(sub: Subscription, expires: number): void {
    if (sub.expiryTimer) clearTimeout(sub.expiryTimer);
    sub.expiresAt = Date.now() + expires * 1000;
    sub.expiryTimer = setTimeout(() => {
      this.terminate(sub, 'timeout').catch((err: unknown) => this.log.error({ err, event: sub.event }, 'final NOTIFY failed'));
    }, expires * 1000);
    sub.expiryTimer.unref();
  }

  private expiresOf(req: SipRequest): number {
    const asked = expiresValue(req.headers.get('expires')) ?? this.opts.defaultExpires;
    return grantedExpires(asked, { min: this.opts.minExpires, max: this.opts.maxExpires });
  }

  /**
   * A restarted process must send NOTIFYs with CSeqs above those already sent (RFC 3261
   * §12.2.1.1). Writing the CSeq of every NOTIFY would cost a commit each; instead a ceiling is
   * stored, a thousand ahead, and a restart starts from it.
   */
  private raiseCeiling(sub: Subscription): void {
    if (sub.dialog.state.localSeq < sub.seqCeiling || sub.state === 'terminated') return;
    sub.seqCeiling = sub.dialog.state.localSeq + SEQ_BLOCK;
    this.persist(sub).catch((err: unknown) => this.log.warn({ err }, 'subscription not stored'));
  }

  private async persist(sub: Subscription): Promise<void> {
    if (this.store === null || !persistable(sub) || sub.state === 'terminated') return;
    const pkg = this.packages.get(sub.kind);
    await this.store.save({
      id: sub.id,
      event: sub.kind,
      subscriber: sub.subscriber,
      resource: sub.resource,
      state: sub.state,
      expiresAt: sub.expiresAt,
      dialog: sub.dialog.state,
      data: { package: pkg?.persist ? pkg.persist(sub.data) : sub.data, eventId: sub.eventId },
      seqCeiling: sub.seqCeiling,
    });
  }

  /**
   * Brings back the stored subscriptions after a restart and sends each a NOTIFY with the
   * current state, so subscribers learn whatever changed while the server was down.
   */
  async restore(): Promise<number> {
    if (this.store === null) return 0;
    let n = 0;
    for (const saved of await this.store.loadAll()) {
      const pkg = this.packages.get(saved.event);
      if (pkg === undefined) continue;
      const dialog = new Dialog({ ...saved.dialog, localSeq: saved.seqCeiling });
      let data: unknown;
      const { package: packageData, eventId } = saved.data as { package: unknown; eventId: string | null };
      try {
        data = pkg.revive ? pkg.revive(packageData) : packageData;
      } catch (err) {
        this.log.warn({ err, event: saved.event }, 'stored subscription dropped: its data cannot be read');
        continue;
      }
      const sub = new Subscription(saved.event, pkg.event, dialog, saved.subscriber, saved.resource, saved.state, data);
      sub.seqCeiling = saved.seqCeiling;
      sub.eventId = eventId ?? null;
      this.arm(sub, Math.max(1, Math.round((saved.expiresAt - Date.now()) / 1000)));
      this.add(sub);
      await this.persist(sub);
      pkg.started?.(sub);
      this.notifier.kick(sub, { full: true, urgent: true });
      n++;
    }
    return n;
  }

  /**
   * Stops: subscriptions that cannot outlive the process (their NOTIFYs go over a connection,
   * which dies with it) are ended with `deactivated`, which tells the subscriber to subscribe
   * again (RFC 6665 §4.2.2); the stored ones wait for the next start.
   */
  stop(): void {
    for (const sub of [...this.subs.values()]) {
      if (!persistable(sub) || this.store === null) {
        sub.state = 'terminated';
        this.notifier.send(sub, subscriptionState('terminated', { reason: 'deactivated' }), null);
      }
      if (sub.expiryTimer) clearTimeout(sub.expiryTimer);
      if (sub.paceTimer) clearTimeout(sub.paceTimer);
    }
    this.subs.clear();
    this.notifier.clear();
    this.byResource.clear();
    this.perFlow.clear();
    this.perUser.clear();
  }
}

function kindOf(pkg: AnyPackage): string {
  return pkg.kind ?? pkg.event;
}

function ended(sub: Subscription): boolean {
  return sub.state === 'terminated';
}

/** A subscription reached at an address (not over one connection) can be kept across a restart. */
function persistable(sub: Subscription): boolean {
  return sub.dialog.state.destination.flowId === undefined;
}

/** RFC 6665 §8.3.1 / RFC 3261 §21.4.7: a SUBSCRIBE whose Accept allows none of our body types gets 406. */
function checkAccept(req: SipRequest, pkg: AnyPackage): void {
  const accept = req.headers.all('accept');
  if (accept.length === 0) return;
  const types = accept
    .join(',')
    .split(',')
    .map((t) => t.split(';')[0].trim().toLowerCase());
  const ok = pkg.accept.some((ours) => types.some((t) => t === ours || t === '*/*' || (t.endsWith('/*') && ours.startsWith(t.slice(0, -1)))));
  if (!ok) throw new SipError(406, 'Not Acceptable', { Accept: pkg.accept.join(', ') });
}
