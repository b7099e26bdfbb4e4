import type { DataSource, Repository } from 'typeorm';
import { LessThan } from 'typeorm';
import { DeferredMessageEntity, type DeferredMessageRow } from '../../store/entities.js';
import type { MessageCipher } from './message-cipher.js';
import { writesOf, type WriteQueue } from '../../store/write-queue.js';
import type { Logger } from '../../log.js';

/** What the pager hands over: the row's content before it is sealed and numbered. */
export type NewDeferredMessage = Pick<DeferredMessageRow, 'recipient' | 'fromHeader' | 'senderAor' | 'contentType' | 'body' | 'receivedAt'>;

export interface StoredMessage extends Omit<DeferredMessageRow, 'body'> {
  body: Buffer;
}

/**
 * Durable store-and-forward for pager messages (P2). `add` resolves only after
 * the row is committed; the store's write queue lets inserts that arrive
 * together share one commit, so a burst costs one fsync, not one per message.
 */
export class DeferredStore {
  private readonly repo: Repository<DeferredMessageRow>;
  /** pending messages per recipient, so a REGISTER refresh costs no query */
  private readonly counts = new Map<string, number>();
  private readonly writes: WriteQueue;

  constructor(
    private readonly ds: DataSource,
    private readonly cipher: MessageCipher,
    private readonly retentionSec: number,
    private readonly log: Logger,
  ) {
    this.repo = ds.getRepository(DeferredMessageEntity);
    this.writes = writesOf(ds);
  }

  async load(): Promise<void> {
    await this.purgeExpired();
    const rows = (await this.ds.query('SELECT recipient, COUNT(*) AS n FROM deferred_messages GROUP BY recipient')) as { recipient: string; n: number }[];
    for (const r of rows) this.counts.set(r.recipient, Number(r.n));
  }

  pendingFor(recipient: string): number {
    return this.counts.get(recipient) ?? 0;
  }

  get recipients(): string[] {
    return [...this.counts.keys()];
  }

  async add(m: NewDeferredMessage): Promise<void> {
    const sealed = this.cipher.encrypt(m.body, m.recipient);
    const expiresAt = m.receivedAt + this.retentionSec * 1000;
    await this.writes.transaction((em) =>
      em.query(
        'INSERT INTO deferred_messages (recipient, from_header, sender_aor, content_type, body, received_at, expires_at, attempts, next_attempt_at) VALUES (?,?,?,?,?,?,?,0,?)',
        [m.recipient, m.fromHeader, m.senderAor, m.contentType, sealed, m.receivedAt, expiresAt, m.receivedAt],
      ),
    );
    this.counts.set(m.recipient, (this.counts.get(m.recipient) ?? 0) + 1);
  }

  /** The oldest stored messages of a recipient, decrypted, in arrival order. */
  async oldest(recipient: string, limit: number): Promise<StoredMessage[]> {
    const rows = await this.repo.find({ where: { recipient }, order: { id: 'ASC' }, take: limit });
    const now = Date.now();
    return rows.filter((r) => r.expiresAt > now).map((r) => ({ ...r, body: this.cipher.decrypt(r.body, r.recipient) }));
  }

  /** Removes a message once the recipient's device has answered 2xx. */
  async remove(id: number, recipient: string): Promise<void> {
    const result = await this.writes.transaction((em) => em.getRepository(DeferredMessageEntity).delete({ id }));
    if ((result.affected ?? 1) > 0) this.decrement(recipient, 1);
  }

  async recordFailure(id: number, attempts: number, nextAttemptAt: number): Promise<void> {
    await this.writes.transaction((em) => em.getRepository(DeferredMessageEntity).update({ id }, { attempts, nextAttemptAt }));
  }

  private decrement(recipient: string, n: number): void {
    const left = (this.counts.get(recipient) ?? 0) - n;
    if (left > 0) this.counts.set(recipient, left);
    else this.counts.delete(recipient);
  }

  /** Drops messages older than the retention period (default 30 days). */
  async purgeExpired(now = Date.now()): Promise<number> {
    const expired = await this.repo.find({ where: { expiresAt: LessThan(now) }, select: { id: true, recipient: true } });
    if (expired.length === 0) return 0;
    await this.writes.transaction((em) => em.getRepository(DeferredMessageEntity).delete({ expiresAt: LessThan(now) }));
    for (const r of expired) this.decrement(r.recipient, 1);
    this.log.info({ n: expired.length }, 'expired stored messages removed');
    return expired.length;
  }
}
