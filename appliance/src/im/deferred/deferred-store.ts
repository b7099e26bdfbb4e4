import type { DataSource, Repository } from 'typeorm';
import { In, LessThan } from 'typeorm';
import { DeferredMessageEntity, type DeferredMessageRow } from '../../store/entities.js';
import type { MessageCipher } from './message-cipher.js';
import { writesOf, type WriteQueue } from '../../store/write-queue.js';
import type { Logger } from '../../log.js';

/** What the pager hands over: the row's content before it is sealed and numbered. */
export type NewDeferredMessage = Pick<DeferredMessageRow, 'recipient' | 'fromHeader' | 'senderAor' | 'contentType' | 'body' | 'receivedAt'> & { callId?: string | null };

export interface StoredMessage extends Omit<DeferredMessageRow, 'body'> {
  body: Buffer;
}

export interface DeferredLimits {
  /** seconds a stored message is kept */
  retention: number;
  /** messages one recipient may have waiting */
  maxPerUser: number;
  /** of those, messages from one sender (so one sender cannot fill a recipient's store for everyone) */
  maxPerSender: number;
}

/** Why a message could not be given a place in the store. */
export type StoreRefusal = 'recipient-full' | 'sender-share-full';

/**
 * Durable store-and-forward for pager messages (P2). `add` resolves only after
 * the row is committed; the store's write queue lets inserts that arrive
 * together share one commit, so a burst costs one fsync, not one per message.
 */
export class DeferredStore {
  /** Told how many stored messages expired unread in one sweep (/metrics). */
  onExpired: ((n: number) => void) | null = null;
  /**
   * Told of each expired message in CPIM, decrypted, before it is deleted: its sender may have
   * asked for a negative delivery notification (RFC 5438 §7.2.1.1). Other content asks nothing.
   */
  onExpiredMessage: ((m: { recipient: string; senderAor: string; contentType: string; body: Buffer }) => void) | null = null;
  private readonly repo: Repository<DeferredMessageRow>;
  /**
   * Messages per recipient, and per recipient and sender: stored ones plus places reserved by
   * messages being committed. A place is taken synchronously before the commit is awaited, so a
   * burst of concurrent messages can never take more than the limits (the check and the count
   * are one step on the event loop).
   */
  private readonly counts = new Map<string, number>();
  private readonly bySender = new Map<string, number>();
  private readonly writes: WriteQueue;

  constructor(
    private readonly ds: DataSource,
    private readonly cipher: MessageCipher,
    private readonly limits: DeferredLimits,
    private readonly log: Logger,
  ) {
    this.repo = ds.getRepository(DeferredMessageEntity);
    this.writes = writesOf(ds);
  }

  async load(): Promise<void> {
    await this.purgeExpired();
    const rows = (await this.ds.query('SELECT recipient, sender_aor AS sender, COUNT(*) AS n FROM deferred_messages GROUP BY recipient, sender_aor')) as {
      recipient: string;
      sender: string;
      n: number;
    }[];
    for (const r of rows) this.bump(r.recipient, r.sender, Number(r.n));
  }

  pendingFor(recipient: string): number {
    return this.counts.get(recipient) ?? 0;
  }

  get recipients(): string[] {
    return [...this.counts.keys()];
  }

  /** Messages from `sender` waiting for `recipient` (stored or being stored). */
  pendingFrom(recipient: string, sender: string): number {
    return this.bySender.get(`${recipient}|${sender}`) ?? 0;
  }

  /**
   * Stores a message; resolves after its commit (P2: the 202 follows durability). Refused,
   * with nothing written, when the recipient's store or the sender's share of it is full.
   */
  async add(m: NewDeferredMessage): Promise<{ stored: true } | { stored: false; refusal: StoreRefusal }> {
    if (this.pendingFor(m.recipient) >= this.limits.maxPerUser) return { stored: false, refusal: 'recipient-full' };
    if (this.pendingFrom(m.recipient, m.senderAor) >= this.limits.maxPerSender) return { stored: false, refusal: 'sender-share-full' };
    this.bump(m.recipient, m.senderAor, 1);
    const sealed = this.cipher.encrypt(m.body, m.recipient);
    const expiresAt = m.receivedAt + this.limits.retention * 1000;
    try {
      await this.writes.transaction((em) =>
        em.query(
          'INSERT INTO deferred_messages (recipient, from_header, sender_aor, content_type, body, received_at, expires_at, attempts, next_attempt_at, call_id) VALUES (?,?,?,?,?,?,?,0,?,?)',
          [m.recipient, m.fromHeader, m.senderAor, m.contentType, sealed, m.receivedAt, expiresAt, m.receivedAt, m.callId ?? null],
        ),
      );
    } catch (err) {
      this.bump(m.recipient, m.senderAor, -1);
      throw err;
    }
    return { stored: true };
  }

  /** The oldest stored messages of a recipient, decrypted, in arrival order. */
  async oldest(recipient: string, limit: number): Promise<StoredMessage[]> {
    const rows = await this.repo.find({ where: { recipient }, order: { id: 'ASC' }, take: limit });
    const now = Date.now();
    return rows.filter((r) => r.expiresAt > now).map((r) => ({ ...r, body: this.cipher.decrypt(r.body, r.recipient) }));
  }

  /**
   * Removes delivered messages (each answered 2xx), in as few statements as SQLite allows. Only
   * the rows still there are counted down: one may have expired and been purged meanwhile.
   */
  async removeMany(ms: Pick<StoredMessage, 'id' | 'recipient' | 'senderAor'>[]): Promise<void> {
    if (ms.length === 0) return;
    const gone = await this.writes.transaction(async (em) => {
      const found = new Set<number>();
      // in slices: SQLite limits the parameters of one statement
      for (let i = 0; i < ms.length; i += 500) {
        const ids = ms.slice(i, i + 500).map((m) => m.id);
        const rows = (await em.query(`SELECT id FROM deferred_messages WHERE id IN (${ids.map(() => '?').join(',')})`, ids)) as { id: number }[];
        for (const r of rows) found.add(Number(r.id));
        if (rows.length > 0) await em.getRepository(DeferredMessageEntity).delete({ id: In(ids) });
      }
      return found;
    });
    for (const m of ms) if (gone.has(m.id)) this.bump(m.recipient, m.senderAor, -1);
  }

  async recordFailure(id: number, attempts: number, nextAttemptAt: number): Promise<void> {
    await this.writes.transaction((em) => em.getRepository(DeferredMessageEntity).update({ id }, { attempts, nextAttemptAt }));
  }

  /**
   * Per recipient: how many messages wait, the oldest's arrival and the bytes stored (sealed
   * bodies), most messages first. Never the bodies (the admin console's stored-messages page).
   */
  async summary(page: number, pageSize: number): Promise<{ items: { user: string; count: number; oldestAt: number; bytes: number }[]; total: number }> {
    const rows = (await this.ds.query(
      'SELECT recipient, COUNT(*) AS n, MIN(received_at) AS oldest, SUM(LENGTH(body)) AS bytes FROM deferred_messages GROUP BY recipient ORDER BY n DESC, recipient ASC LIMIT ? OFFSET ?',
      [pageSize, (page - 1) * pageSize],
    )) as { recipient: string; n: number; oldest: number; bytes: number }[];
    const [{ total }] = (await this.ds.query('SELECT COUNT(DISTINCT recipient) AS total FROM deferred_messages')) as { total: number }[];
    return { items: rows.map((r) => ({ user: r.recipient, count: Number(r.n), oldestAt: Number(r.oldest), bytes: Number(r.bytes) })), total: Number(total) };
  }

  /** Deletes every message stored for a recipient (an admin's purge, or the user's removal); returns how many. */
  async purgeRecipient(recipient: string): Promise<number> {
    const gone = await this.writes.transaction(async (em) => {
      const rows = (await em.query('SELECT sender_aor AS sender FROM deferred_messages WHERE recipient = ?', [recipient])) as { sender: string }[];
      if (rows.length > 0) await em.getRepository(DeferredMessageEntity).delete({ recipient });
      return rows;
    });
    for (const r of gone) this.bump(recipient, r.sender, -1);
    if (gone.length > 0) this.log.info({ recipient, n: gone.length }, 'stored messages purged');
    return gone.length;
  }

  private bump(recipient: string, sender: string, n: number): void {
    add(this.counts, recipient, n);
    add(this.bySender, `${recipient}|${sender}`, n);
  }

  private async tellExpired(ids: number[]): Promise<void> {
    for (let i = 0; i < ids.length; i += EXPIRED_BATCH) {
      const rows = await this.repo.find({ where: { id: In(ids.slice(i, i + EXPIRED_BATCH)) }, select: { id: true, recipient: true, senderAor: true, contentType: true, body: true } });
      for (const r of rows) {
        try {
          this.onExpiredMessage?.({ recipient: r.recipient, senderAor: r.senderAor, contentType: r.contentType, body: this.cipher.decrypt(r.body, r.recipient) });
        } catch (err) {
          this.log.warn({ err, id: r.id }, 'expired message not reported');
        }
      }
    }
  }

  /** Drops messages older than the retention period (default 30 days). */
  async purgeExpired(now = Date.now()): Promise<number> {
    const expired = await this.repo.find({ where: { expiresAt: LessThan(now) }, select: { id: true, recipient: true, senderAor: true, contentType: true } });
    if (expired.length === 0) return 0;
    if (this.onExpiredMessage !== null) await this.tellExpired(expired.filter((r) => r.contentType.toLowerCase().startsWith('message/cpim')).map((r) => r.id));
    await this.writes.transaction(async (em) => {
      // in slices: SQLite limits the parameters of one statement
      for (let i = 0; i < expired.length; i += 500) await em.getRepository(DeferredMessageEntity).delete({ id: In(expired.slice(i, i + 500).map((r) => r.id)) });
    });
    for (const r of expired) this.bump(r.recipient, r.senderAor, -1);
    this.onExpired?.(expired.length);
    this.log.info({ n: expired.length }, 'expired stored messages removed');
    return expired.length;
  }
}

/** Rows read for the expiry hook at a time (bodies are decrypted, so not all at once). */
const EXPIRED_BATCH = 200;

function add(map: Map<string, number>, key: string, n: number): void {
  const v = (map.get(key) ?? 0) + n;
  if (v > 0) map.set(key, v);
  else map.delete(key);
}
