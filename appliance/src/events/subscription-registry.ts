import type { Subscription } from './subscription.js';

/**
 * The live subscriptions of the framework and the indexes kept beside them: by dialog (for
 * in-dialog SUBSCRIBEs), by package and resource (for fan-out), per package and subscriber (the
 * `maxPerUser` limit) and per flow (whether a connection must stay open, RFC 5626 §5). Every
 * index follows `add` and `remove`, so none can keep a subscription the others forgot.
 */
export class SubscriptionRegistry {
  private readonly byId = new Map<string, Subscription>();
  private readonly byResource = new Map<string, Set<Subscription>>();
  private readonly perUser = new Map<string, number>();
  private readonly perFlow = new Map<string, number>();

  get(id: string): Subscription | undefined {
    return this.byId.get(id);
  }

  /** Every live subscription. */
  all(): IterableIterator<Subscription> {
    return this.byId.values();
  }

  add(sub: Subscription): void {
    this.byId.set(sub.id, sub);
    this.countFlow(sub, 1);
    const key = resourceKey(sub.kind, sub.resource);
    let set = this.byResource.get(key);
    if (set === undefined) {
      set = new Set();
      this.byResource.set(key, set);
    }
    set.add(sub);
    const userKey = `${sub.kind}|${sub.subscriber}`;
    this.perUser.set(userKey, (this.perUser.get(userKey) ?? 0) + 1);
  }

  /** Takes a subscription out of every index; false when it was not (or no longer) there. */
  remove(sub: Subscription): boolean {
    if (!this.byId.delete(sub.id)) return false;
    this.countFlow(sub, -1);
    const key = resourceKey(sub.kind, sub.resource);
    const set = this.byResource.get(key);
    set?.delete(sub);
    if (set?.size === 0) this.byResource.delete(key);
    const userKey = `${sub.kind}|${sub.subscriber}`;
    const n = (this.perUser.get(userKey) ?? 1) - 1;
    if (n > 0) this.perUser.set(userKey, n);
    else this.perUser.delete(userKey);
    return true;
  }

  /** Live subscriptions of one package (by kind) to one resource, in the order they came. */
  watchersOf(kind: string, resource: string): Subscription[] {
    return [...(this.byResource.get(resourceKey(kind, resource)) ?? [])];
  }

  /** Every live subscription of one package (by kind). */
  allOf(kind: string): Subscription[] {
    return [...this.byId.values()].filter((s) => s.kind === kind);
  }

  /** How many live subscriptions a subscriber holds with one package. */
  countOf(kind: string, subscriber: string): number {
    return this.perUser.get(`${kind}|${subscriber}`) ?? 0;
  }

  /** Whether NOTIFYs go over this flow (so its connection must stay open). O(1). */
  usesFlow(flowId: string): boolean {
    return this.perFlow.has(flowId);
  }

  /** Runs `change` (a new remote target) with the flow counts kept right around it. */
  moveFlow(sub: Subscription, change: () => void): void {
    this.countFlow(sub, -1);
    change();
    this.countFlow(sub, 1);
  }

  /** Subscriptions whose first NOTIFY has left, per package kind (each of `kinds` listed, 0 or more). */
  notifiedCounts(kinds: Iterable<string>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of kinds) out[k] = 0;
    for (const s of this.all()) if (s.fullSent) out[s.kind] = (out[s.kind] ?? 0) + 1;
    return out;
  }

  /** Live subscriptions per package kind and state, whether or not their first NOTIFY has left. */
  countsByState(kinds: Iterable<string>): Record<string, { pending: number; active: number }> {
    const out: Record<string, { pending: number; active: number }> = {};
    for (const k of kinds) out[k] = { pending: 0, active: 0 };
    for (const s of this.all()) {
      if (s.state === 'terminated') continue;
      out[s.kind] ??= { pending: 0, active: 0 };
      out[s.kind][s.state]++;
    }
    return out;
  }

  clear(): void {
    this.byId.clear();
    this.byResource.clear();
    this.perUser.clear();
    this.perFlow.clear();
  }

  private countFlow(sub: Subscription, delta: 1 | -1): void {
    const flow = sub.dialog.state.destination.flowId;
    if (flow === undefined) return;
    const n = (this.perFlow.get(flow) ?? 0) + delta;
    if (n > 0) this.perFlow.set(flow, n);
    else this.perFlow.delete(flow);
  }
}

function resourceKey(kind: string, resource: string): string {
  return `${kind}|${resource}`;
}
