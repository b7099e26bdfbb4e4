import type { DataSource, Repository } from 'typeorm';
import { LessThan, In, Not } from 'typeorm';
import { BindingEntity, type BindingRow } from '../store/entities.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';
import type { Logger } from '../log.js';

export type Binding = BindingRow;

/**
 * The location service (RFC 3261 §10, C1): bindings in memory for lookups on
 * every message, written through to the store so a restart keeps them.
 */
export class LocationService {
  private readonly byAor = new Map<string, Binding[]>();
  /** bindings per flow, kept with byAor, so that the transports' idle check is O(1) */
  private readonly perFlow = new Map<string, number>();
  private readonly repo: Repository<BindingRow>;
  private readonly writes: WriteQueue;
  private sweeper: NodeJS.Timeout | null = null;
  /** called when a user gains a contact (the deferred store pushes then) */
  onRegistered: ((aor: string) => void) | null = null;
  /** called after any change of an AOR's bindings (registration state as presence, R4) */
  onBindingsChanged: ((aor: string) => void) | null = null;

  constructor(
    ds: DataSource,
    private readonly log: Logger,
  ) {
    this.repo = ds.getRepository(BindingEntity);
    this.writes = writesOf(ds);
  }

  /**
   * Loads the stored bindings. Those over TCP, TLS or WebSocket are dropped:
   * their connections died with the previous process (RFC 5626 §3: a flow is its connection).
   */
  async load(): Promise<void> {
    await this.writes.transaction(async (em) => {
      await em.getRepository(BindingEntity).delete({ expiresAt: LessThan(Date.now()) });
      await em.getRepository(BindingEntity).delete({ transport: Not('UDP') });
    });
    for (const b of await this.repo.find({ order: { id: 'ASC' } })) {
      this.list(b.aor).push(b);
      this.countFlow(b, 1);
    }
    this.sweeper = setInterval(() => void this.sweep(), 5_000);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  private list(aor: string): Binding[] {
    let l = this.byAor.get(aor);
    if (l === undefined) {
      l = [];
      this.byAor.set(aor, l);
    }
    return l;
  }

  private countFlow(b: Binding, delta: 1 | -1): void {
    const n = (this.perFlow.get(b.flowId) ?? 0) + delta;
    if (n > 0) this.perFlow.set(b.flowId, n);
    else this.perFlow.delete(b.flowId);
  }

  /** Whether a binding was registered over this flow (RFC 5626 §5: the connection must stay open). O(1). */
  usesFlow(flowId: string): boolean {
    return this.perFlow.has(flowId);
  }

  /** Live bindings of an AOR, highest q first (RFC 3261 §16.6 ordering hint). */
  lookup(aor: string, now = Date.now()): Binding[] {
    const l = this.byAor.get(aor);
    if (l === undefined) return [];
    const live = l.filter((b) => b.expiresAt > now);
    return live.length > 1 ? live.sort((a, b) => b.q - a.q) : live;
  }

  /** Live registrations: users with at least one device, devices, and devices per transport (admin status). */
  stats(now = Date.now()): { users: number; devices: number; byTransport: Record<string, number> } {
    const byTransport: Record<string, number> = {};
    let users = 0;
    let devices = 0;
    for (const l of this.byAor.values()) {
      let live = 0;
      for (const b of l) {
        if (b.expiresAt <= now) continue;
        live++;
        byTransport[b.transport] = (byTransport[b.transport] ?? 0) + 1;
      }
      if (live > 0) users++;
      devices += live;
    }
    return { users, devices, byTransport };
  }

  get size(): number {
    let n = 0;
    for (const l of this.byAor.values()) n += l.length;
    return n;
  }

  /**
   * Applies one REGISTER's changes atomically, in memory and in the store. With `maxContacts`,
   * the change is rolled back and false returned if the AOR would then hold more bindings than
   * that: counted inside the commit, so the limit holds even with several writers on one store.
   */
  async apply(aor: string, upserts: Binding[], removals: string[], maxContacts = Infinity): Promise<boolean> {
    const known = this.byAor.get(aor) ?? [];
    try {
      await this.writes.transaction(async (em) => {
        const r = em.getRepository(BindingEntity);
        if (removals.length > 0) await r.delete({ aor, contactUri: In(removals) });
        for (const b of upserts) {
          const existing = known.find((x) => x.contactUri === b.contactUri);
          if (existing) b.id = existing.id;
          const saved = await r.save(b);
          b.id = saved.id;
        }
        if (upserts.length > 0 && Number.isFinite(maxContacts)) {
          // a plain statement: this runs in the serialised write path of every REGISTER
          const [row] = (await em.query('SELECT COUNT(*) AS n FROM bindings WHERE aor = ? AND expires_at > ?', [aor, Date.now()])) as { n: number }[];
          if (Number(row.n) > maxContacts) throw new OverLimit();
        }
      });
    } catch (err) {
      if (err instanceof OverLimit) return false;
      throw err;
    }
    // Fetched again after the commit: the sweep may have replaced or dropped the list meanwhile.
    const l = this.list(aor);
    for (const uri of removals) {
      const i = l.findIndex((x) => x.contactUri === uri);
      if (i >= 0) this.countFlow(l.splice(i, 1)[0], -1);
    }
    for (const b of upserts) {
      const i = l.findIndex((x) => x.contactUri === b.contactUri);
      if (i >= 0) {
        this.countFlow(l[i], -1);
        l[i] = b;
      } else l.push(b);
      this.countFlow(b, 1);
    }
    if (l.length === 0) this.byAor.delete(aor);
    if (upserts.length > 0) this.onRegistered?.(aor);
    this.onBindingsChanged?.(aor);
    return true;
  }

  /** Drops every binding of an AOR (its user was disabled or removed). */
  async removeAor(aor: string): Promise<void> {
    const l = this.byAor.get(aor);
    if (l === undefined) return;
    this.byAor.delete(aor);
    for (const b of l) this.countFlow(b, -1);
    this.onBindingsChanged?.(aor);
    await this.writes.transaction((em) => em.getRepository(BindingEntity).delete({ aor }));
    this.log.info({ aor }, 'bindings removed: service revoked');
  }

  /** RFC 5626 §5.2 spirit: a binding reached over a flow dies with it. */
  async flowClosed(flowId: string): Promise<void> {
    let removed = 0;
    this.perFlow.delete(flowId);
    for (const [aor, l] of this.byAor) {
      const keep = l.filter((b) => b.flowId !== flowId);
      removed += l.length - keep.length;
      if (keep.length === 0) this.byAor.delete(aor);
      else if (keep.length !== l.length) this.byAor.set(aor, keep);
      if (keep.length !== l.length) this.onBindingsChanged?.(aor);
    }
    if (removed > 0) {
      await this.writes.transaction((em) => em.getRepository(BindingEntity).delete({ flowId }));
      this.log.debug({ flowId, removed }, 'bindings of a closed flow removed');
    }
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const [aor, l] of this.byAor) {
      for (const b of l) if (b.expiresAt <= now) this.countFlow(b, -1);
      const keep = l.filter((b) => b.expiresAt > now);
      if (keep.length === 0) this.byAor.delete(aor);
      else if (keep.length !== l.length) this.byAor.set(aor, keep);
      if (keep.length !== l.length) this.onBindingsChanged?.(aor);
    }
    try {
      await this.writes.transaction((em) => em.getRepository(BindingEntity).delete({ expiresAt: LessThan(now) }));
    } catch (err) {
      this.log.warn({ err }, 'binding sweep failed');
    }
  }
}

/** Rolls a binding change back when the AOR would hold too many contacts. */
class OverLimit extends Error {}
