import type { DataSource, Repository } from 'typeorm';
import { LessThan } from 'typeorm';
import { SubscriptionEntity, type SubscriptionRow } from '../store/entities.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';
import type { DialogState } from '../sip/dialog/dialog.js';

/** A subscription as kept in the store. */
export interface SavedSubscription {
  id: string;
  event: string;
  subscriber: string;
  resource: string;
  state: 'pending' | 'active';
  expiresAt: number;
  dialog: DialogState;
  data: unknown;
  seqCeiling: number;
}

/**
 * Subscriptions in the store, so that a restart keeps them (issue: presence server, point 2).
 * Only subscriptions whose NOTIFYs go to an address (UDP, or a contact the server connects to)
 * are kept: one bound to a connection dies with it, as bindings do (RFC 5626 §5).
 */
export class SubscriptionStore {
  private readonly repo: Repository<SubscriptionRow>;
  private readonly writes: WriteQueue;

  constructor(ds: DataSource) {
    this.repo = ds.getRepository(SubscriptionEntity);
    this.writes = writesOf(ds);
  }

  async save(s: SavedSubscription): Promise<void> {
    const row: SubscriptionRow = {
      id: s.id,
      event: s.event,
      subscriber: s.subscriber,
      resource: s.resource,
      state: s.state,
      expiresAt: s.expiresAt,
      dialog: JSON.stringify(s.dialog),
      data: JSON.stringify(s.data ?? null),
      seqCeiling: s.seqCeiling,
    };
    await this.writes.transaction((em) => em.getRepository(SubscriptionEntity).save(row));
  }

  async remove(id: string): Promise<void> {
    await this.writes.transaction((em) => em.getRepository(SubscriptionEntity).delete({ id }));
  }

  /** Every live subscription kept; expired ones are dropped on the way. */
  async loadAll(now = Date.now()): Promise<SavedSubscription[]> {
    await this.writes.transaction((em) => em.getRepository(SubscriptionEntity).delete({ expiresAt: LessThan(now) }));
    const rows = await this.repo.find();
    return rows.map((r) => ({
      id: r.id,
      event: r.event,
      subscriber: r.subscriber,
      resource: r.resource,
      state: r.state === 'pending' ? 'pending' : 'active',
      expiresAt: r.expiresAt,
      dialog: JSON.parse(r.dialog) as DialogState,
      data: JSON.parse(r.data) as unknown,
      seqCeiling: r.seqCeiling,
    }));
  }
}
