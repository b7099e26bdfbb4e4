import type { DataSource, EntityManager, Repository } from 'typeorm';
import { In, LessThan } from 'typeorm';
import { DeferredMessageEntity, type DeferredMessageRow } from '../../store/entities.js';
import { SEALED_OVERHEAD, type MessageCipher } from './message-cipher.js';
import type { UsageSink } from '../../usage/usage-types.js';
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
export type StoreRefusal = 'recipient-full' | 'sender-share-full' | 'recipient-over-quota' | 'profile';

/** What the sender is told (480 reason, MSRP REPORT comment) for each refusal. */
export function refusalReason(refusal: StoreRefusal): string {
  if (refusal === 'recipient-full') return "Recipient's message store is full";
  if (refusal === 'recipient-over-quota') return "Recipient's storage quota is full";
  if (refusal === 'profile') return "Recipient's service profile does not allow storing messages";
  return 'Too many of your messages are waiting for this recipient';
}
/**
 * Counts deferred bytes against the recipient's storage quota (H3; quota/storage-quota.ts):
 * `admit` before a message is queued, `charge` inside the transaction that stores or deletes it.
 * Bytes are the bodies as sent (the sealed row is SEALED_OVERHEAD longer).
 */
export interface DeferredAccount {
  /** false for messages that are not counted (the service's own quota notices) */
  counts(senderAor: string): boolean;
  admit(recipient: string, bytes: number): string | null;
  charge(em: EntityManager, recipient: string, deltaBytes: number): Promise<void>;
  release(recipient: string, bytes: number): void;
}

/**
 * Durable store-and-forward for pager messages (P2). `add` resolves only after
 * the row is committed; the store's write queue lets inserts that arrive
 * together share one commit, so a burst costs one fsync, not one per message.
 */
export class DeferredStore {
  /** Told how many stored messages expired unread in one sweep (/metrics). */
  onExpired: ((n: number) => void) | null = null;
  /** Usage records (C5): each message stored and expired, `user` the recipient's user name (main.ts makes it an AOR). */
  usage: UsageSink | null = null;
  /** the storage quota's hook (H3); null: nothing is counted */
  account: DeferredAccount | null = null;
  /**
   * Told of each expired message in CPIM, decrypted, once its deletion is committed: its sender
   * may have asked for a negative delivery notification (RFC 5438 §8.2). Other content asks nothing.
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
  /** ids of rows `oldest` found unreadable and logged (see there) */
  private readonly unreadable = new Set<number>();
  /** the recipient's service profile (Y1): false when nothing may be stored for them */
  gate: ((recipient: string) => boolean) | null = null;

  constructor(
    private readonly ds: DataSource,
    private readonly cipher: MessageCipher,
    private readonly limits: DeferredLimits,
    private readonly log: Logger,
  ) {
    this.repo = ds.getRepository(DeferredMessageEntity);
    this.writes = writesOf(ds);
  }

  /**
   * Counts what is stored. Messages that expired while the server was down are counted too and
   * removed by the first sweep (DeferredDelivery.start), once the expiry hook is set and the SIP
   * stack runs: their senders get the same notification as the live sweep's (RFC 5438 §8.2).
   */
  async load(): Promise<void> {
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
   * with nothing written, when the recipient's store or the sender's share of it is full, or the
   * recipient's service profile allows no storage.
   */
  async add(m: NewDeferredMessage): Promise<{ stored: true } | { stored: false; refusal: StoreRefusal }> {
    if (this.gate !== null && !this.gate(m.recipient)) return { stored: false, refusal: 'profile' };
    if (this.pendingFor(m.recipient) >= this.limits.maxPerUser) return { stored: false, refusal: 'recipient-full' };
    if (this.pendingFrom(m.recipient, m.senderAor) >= this.limits.maxPerSender) return { stored: false, refusal: 'sender-share-full' };
    const account = this.account !== null && this.account.counts(m.senderAor) ? this.account : null;
    if (account !== null && account.admit(m.recipient, m.body.length) !== null) return { stored: false, refusal: 'recipient-over-quota' };
    this.bump(m.recipient, m.senderAor, 1);
    const sealed = this.cipher.encrypt(m.body, m.recipient);
    const expiresAt = m.receivedAt + this.limits.retention * 1000;
    try {
      await this.writes.transaction(async (em) => {
        await em.query(
          'INSERT INTO deferred_messages (recipient, from_header, sender_aor, content_type, body, received_at, expires_at, attempts, next_attempt_at, call_id) VALUES (?,?,?,?,?,?,?,0,?,?)',
          [m.recipient, m.fromHeader, m.senderAor, m.contentType, sealed, m.receivedAt, expiresAt, m.receivedAt, m.callId ?? null],
        );
        await account?.charge(em, m.recipient, m.body.length);
      });
    } catch (err) {
      this.bump(m.recipient, m.senderAor, -1);
      account?.release(m.recipient, m.body.length);
      throw err;
    }
    this.usage?.record({ kind: 'deferred', at: m.receivedAt, user: m.recipient, peer: m.senderAor, outcome: 'stored', bytes: m.body.length });
    return { stored: true };
  }

  /**
   * The oldest unexpired stored messages of a recipient after `afterId` (0: from the first),
   * decrypted, in arrival order. One plain statement on the (recipient, id) index: TypeORM's find
   * built a query and transformed every row on the event loop, a third of a push's store cost.
   *
   * A row that does not decrypt (the data folder's key replaced, the row altered or moved to
   * another recipient: the recipient is the cipher's associated data) is passed over, and the
   * rows after it read in its place: it can never be delivered, and throwing here stopped every
   * later message of that recipient for good. It is kept, not deleted, and still counted against
   * the recipient's limits and quota (the original key restored and the server restarted delivers
   * it, late), until the expiry sweep removes it with the rest (`purgeExpired`, which already tells
   * nobody of a body it cannot read) or the recipient's messages are purged.
   */
  async oldest(recipient: string, limit: number, afterId = 0): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    let unreadable: number[] | null = null;
    let why = '';
    for (let after = afterId; ; ) {
      const want = limit - out.length;
      const rows = (await this.ds.query(OLDEST_SQL, [recipient, after, Date.now(), want])) as RawStored[];
      for (const r of rows) {
        const body = this.opened(r);
        if (typeof body === 'string') {
          (unreadable ??= []).push(Number(r.id));
          why ||= body;
          continue;
        }
        out.push({
          id: Number(r.id),
          recipient: r.recipient,
          fromHeader: r.fromHeader,
          senderAor: r.senderAor,
          contentType: r.contentType,
          body,
          receivedAt: Number(r.receivedAt),
          expiresAt: Number(r.expiresAt),
          attempts: Number(r.attempts),
          nextAttemptAt: Number(r.nextAttemptAt),
          callId: r.callId,
        });
      }
      if (rows.length < want || out.length === limit) break;
      after = Number(rows[rows.length - 1].id);
    }
    if (unreadable !== null) this.reportUnreadable(recipient, unreadable, why);
    return out;
  }

  /** A row's body decrypted, or why it does not decrypt (see `oldest`). */
  private opened(r: RawStored): Buffer | string {
    try {
      return this.cipher.decrypt(r.body, r.recipient);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  /**
   * Rows passed over as unreadable, logged once each while the process runs (a delivery run reads
   * them again every time it starts), with the first one's error: an error, since a message is
   * lost to its recipient unless the key comes back.
   */
  private reportUnreadable(recipient: string, ids: number[], why: string): void {
    const fresh = ids.filter((id) => !this.unreadable.has(id));
    if (fresh.length === 0) return;
    // bounded: a wrong key makes every row unreadable, and the ids are only for not logging twice
    if (this.unreadable.size + fresh.length > MAX_UNREADABLE_REMEMBERED) this.unreadable.clear();
    for (const id of fresh) this.unreadable.add(id);
    this.log.error({ recipient, ids: fresh.slice(0, 20), n: fresh.length, why }, 'stored messages that do not decrypt passed over (is message-store.key the one they were stored with?)');
  }

  /**
   * Removes delivered messages (each answered 2xx), in as few statements as SQLite allows. Only
   * the rows still there are counted down: one may have expired and been purged meanwhile.
   */
  async removeMany(ms: Pick<StoredMessage, 'id' | 'recipient' | 'senderAor'>[]): Promise<void> {
    if (ms.length === 0) return;
    const gone = await this.writes.transaction(async (em) => {
      const found = new Set<number>();
      const removed: Removed[] = [];
      // in slices: SQLite limits the parameters of one statement
      for (let i = 0; i < ms.length; i += 500) {
        const ids = ms.slice(i, i + 500).map((m) => m.id);
        const rows = (await em.query(`SELECT ${REMOVED_COLUMNS} FROM deferred_messages WHERE id IN (${ids.map(() => '?').join(',')})`, ids)) as Removed[];
        for (const r of rows) found.add(Number(r.id));
        removed.push(...rows);
        // a plain statement: the repository's delete ran TypeORM's query builder on the event loop
        if (rows.length > 0) await em.query(`DELETE FROM deferred_messages WHERE id IN (${ids.map(() => '?').join(',')})`, ids);
      }
      await this.uncharge(em, removed);
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
      const rows = (await em.query(`SELECT ${REMOVED_COLUMNS} FROM deferred_messages WHERE recipient = ?`, [recipient])) as Removed[];
      if (rows.length > 0) await em.getRepository(DeferredMessageEntity).delete({ recipient });
      await this.uncharge(em, rows);
      return rows;
    });
    for (const r of gone) this.bump(recipient, r.sender, -1);
    if (gone.length > 0) this.log.info({ recipient, n: gone.length }, 'stored messages purged');
    return gone.length;
  }

  /** Inside the deleting transaction: gives the removed messages' bytes back to their recipients' quotas. */
  private async uncharge(em: EntityManager, removed: Removed[]): Promise<void> {
    const account = this.account;
    if (account === null) return;
    const byRecipient = new Map<string, number>();
    for (const r of removed) {
      if (account.counts(r.sender)) byRecipient.set(r.recipient, (byRecipient.get(r.recipient) ?? 0) + Math.max(0, Number(r.size) - SEALED_OVERHEAD));
    }
    for (const [recipient, bytes] of byRecipient) await account.charge(em, recipient, -bytes);
  }

  private bump(recipient: string, sender: string, n: number): void {
    add(this.counts, recipient, n);
    add(this.bySender, `${recipient}|${sender}`, n);
  }

  /**
   * Drops messages past the retention period (default 30 days), EXPIRED_BATCH at a time. Each
   * batch is deleted, and its quota bytes given back, in one transaction; only after that commit
   * are senders who asked told (`onExpiredMessage`, RFC 5438 §8.2 negative-delivery). So a
   * message is reported at most once whatever happens: a crash between the commit and the
   * notification's queueing loses that notification, never sends it twice, and two sweeps at
   * once (the writes are serialised) never read the same row.
   */
  async purgeExpired(now = Date.now()): Promise<number> {
    if ((await this.repo.count({ where: { expiresAt: LessThan(now) } })) === 0) return 0;
    const told = this.onExpiredMessage !== null;
    let total = 0;
    for (;;) {
      // read inside the write: a message delivered meanwhile is neither counted down twice nor reported
      const batch = await this.writes.transaction(async (em) => {
        // the sealed body only of CPIM messages, the only ones that can ask for a notification
        const rows = (await em.query(
          `SELECT ${REMOVED_COLUMNS}, content_type AS "contentType", CASE WHEN ? AND lower(content_type) LIKE 'message/cpim%' THEN body END AS body FROM deferred_messages WHERE expires_at < ? ORDER BY id LIMIT ?`,
          [told ? 1 : 0, now, EXPIRED_BATCH],
        )) as (Removed & { contentType: string; body: Buffer | null })[];
        if (rows.length > 0) await em.getRepository(DeferredMessageEntity).delete({ id: In(rows.map((r) => r.id)) });
        await this.uncharge(em, rows);
        return rows;
      });
      for (const r of batch) {
        this.bump(r.recipient, r.sender, -1);
        this.usage?.record({ kind: 'deferred', at: now, user: r.recipient, peer: r.sender, outcome: 'expired', bytes: Math.max(0, Number(r.size) - SEALED_OVERHEAD) });
        if (r.body === null || this.onExpiredMessage === null) continue;
        try {
          this.onExpiredMessage({ recipient: r.recipient, senderAor: r.sender, contentType: r.contentType, body: this.cipher.decrypt(r.body, r.recipient) });
        } catch (err) {
          this.log.warn({ err, id: r.id }, 'expired message not reported');
        }
      }
      total += batch.length;
      if (batch.length < EXPIRED_BATCH) break;
    }
    if (total === 0) return 0;
    this.onExpired?.(total);
    this.log.info({ n: total }, 'expired stored messages removed');
    return total;
  }
}

/** What a deletion needs to know of each row: whose it was, from whom, how large sealed. */
interface Removed {
  id: number;
  recipient: string;
  sender: string;
  size: number;
}
const REMOVED_COLUMNS = 'id, recipient, sender_aor AS sender, LENGTH(body) AS size';
/**
 * A stored row as `oldest` reads it (the entity's property names; numbers may come back as strings
 * from other drivers). The aliases are quoted: PostgreSQL folds unquoted names to lower case.
 */
type RawStored = Omit<DeferredMessageRow, 'id' | 'receivedAt' | 'expiresAt' | 'attempts' | 'nextAttemptAt'> & Record<'id' | 'receivedAt' | 'expiresAt' | 'attempts' | 'nextAttemptAt', number | string>;
const OLDEST_SQL =
  'SELECT id, recipient, from_header AS "fromHeader", sender_aor AS "senderAor", content_type AS "contentType", body, received_at AS "receivedAt", expires_at AS "expiresAt", attempts, next_attempt_at AS "nextAttemptAt", call_id AS "callId"' +
  ' FROM deferred_messages WHERE recipient = ? AND id > ? AND expires_at > ? ORDER BY id LIMIT ?';
/** Unreadable rows' ids remembered so as to log each once (see `reportUnreadable`). */
const MAX_UNREADABLE_REMEMBERED = 100_000;
/** Expired rows deleted per transaction (CPIM bodies are read and decrypted, so not all at once). */
const EXPIRED_BATCH = 200;

function add(map: Map<string, number>, key: string, n: number): void {
  const v = (map.get(key) ?? 0) + n;
  if (v > 0) map.set(key, v);
  else map.delete(key);
}
