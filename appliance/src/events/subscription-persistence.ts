import { Dialog } from '../sip/dialog/dialog.js';
import type { Logger } from '../log.js';
import type { EventPackage } from './event-package.js';
import { Subscription } from './subscription.js';
import type { SubscriptionStore } from './subscription-store.js';

/** CSeqs handed out between two writes of a subscription's ceiling (see `raiseCeiling`). */
export const SEQ_BLOCK = 1000;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyPackage = EventPackage<any>;

/**
 * A subscription reached at an address (not over one connection), of a package whose resources
 * outlive the process (not `transient`, as a room is), can be kept across a restart.
 */
export function persistable(sub: Subscription, pkg: AnyPackage | undefined): boolean {
  return sub.dialog.state.destination.flowId === undefined && pkg?.transient !== true;
}

/**
 * What the framework keeps of its subscriptions in the store, so that a restart keeps them
 * (issue 9, point 2): each live subscription reached at an address, the package's own data
 * as the package chooses to save it, and a CSeq ceiling.
 */
export class SubscriptionPersistence {
  constructor(
    private readonly store: SubscriptionStore | null,
    private readonly packageOf: (kind: string) => AnyPackage | undefined,
    private readonly log: Logger,
  ) {}

  /** Whether anything is kept at all (tests and tools run without a store). */
  get enabled(): boolean {
    return this.store !== null;
  }

  /** Whether this subscription is kept in the store (and so outlives a stop). */
  keeps(sub: Subscription): boolean {
    return this.store !== null && persistable(sub, this.packageOf(sub.kind));
  }

  async save(sub: Subscription): Promise<void> {
    if (this.store === null || !this.keeps(sub) || sub.state === 'terminated') return;
    const pkg = this.packageOf(sub.kind);
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

  /** Saves without waiting; a failure is logged (the subscription goes on in memory). */
  saveLater(sub: Subscription): void {
    this.save(sub).catch((err: unknown) => this.log.warn({ err }, 'subscription not stored'));
  }

  /** Forgets an ended subscription. */
  remove(sub: Subscription): void {
    if (this.store === null || !persistable(sub, this.packageOf(sub.kind))) return;
    this.store.remove(sub.id).catch((err: unknown) => this.log.warn({ err }, 'subscription removal not stored'));
  }

  /**
   * A restarted process must send NOTIFYs with CSeqs above those already sent (RFC 3261
   * §12.2.1.1). Writing the CSeq of every NOTIFY would cost a commit each; instead a ceiling is
   * stored, a thousand ahead, and a restart starts from it.
   */
  raiseCeiling(sub: Subscription): void {
    if (sub.dialog.state.localSeq < sub.seqCeiling || sub.state === 'terminated') return;
    sub.seqCeiling = sub.dialog.state.localSeq + SEQ_BLOCK;
    this.saveLater(sub);
  }

  /**
   * The stored subscriptions, each rebuilt with its package's data (`revive`) and its dialog
   * starting from the CSeq ceiling; those whose package is gone or whose data cannot be read are
   * left out (and logged).
   */
  async load(): Promise<{ sub: Subscription; pkg: AnyPackage }[]> {
    if (this.store === null) return [];
    const out: { sub: Subscription; pkg: AnyPackage }[] = [];
    for (const saved of await this.store.loadAll()) {
      const pkg = this.packageOf(saved.event);
      if (pkg === undefined) continue;
      const { package: packageData, eventId } = saved.data as { package: unknown; eventId: string | null };
      let data: unknown;
      try {
        data = pkg.revive ? pkg.revive(packageData) : packageData;
      } catch (err) {
        this.log.warn({ err, event: saved.event }, 'stored subscription dropped: its data cannot be read');
        continue;
      }
      const dialog = new Dialog({ ...saved.dialog, localSeq: saved.seqCeiling });
      const sub = new Subscription(saved.event, pkg.event, dialog, saved.subscriber, saved.resource, saved.state, data);
      sub.seqCeiling = saved.seqCeiling;
      sub.eventId = eventId ?? null;
      sub.expiresAt = saved.expiresAt;
      out.push({ sub, pkg });
    }
    return out;
  }
}
