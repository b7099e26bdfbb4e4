import type { EntityManager } from 'typeorm';
import type { ConversationMessageRow } from '../store/entities.js';
import type { WriteQueue } from '../store/write-queue.js';
import type { StorageAccount } from './conversation-store.js';

/** One message waiting for its turn: the row as it will be written, its words for the index, its owner. */
export interface PendingMessage {
  row: Omit<ConversationMessageRow, 'id'>;
  owner: string;
  /** the text put in the keyword index, or null */
  text: string | null;
}

interface Waiting extends PendingMessage {
  resolve: (id: number | null) => void;
  reject: (err: unknown) => void;
}

/** rows per multi-row INSERT: 8 parameters each, far below SQLite's 32,766 (SQLITE_MAX_VARIABLE_NUMBER) */
const ROWS_PER_INSERT = 200;

/**
 * Writes the messages appended to conversations together, one write-queue turn for all that
 * arrived since the last turn (the store's group commit, write-queue.ts): one SELECT for the
 * conversations still there, multi-row INSERTs of the messages and of their index rows, one
 * UPDATE per conversation with its summed counters, one quota charge per owner. Per message that
 * was about six statements; the rate of stored messages is bounded by them (test/bench/README.md).
 *
 * Each message still gets its own answer: its new id, or null when its conversation was deleted
 * before the turn came. The quota stays exact: each message's bytes were admitted one by one
 * before it was queued, and the summed charge commits with the rows.
 */
export class AppendBatch {
  private waiting: Waiting[] = [];

  constructor(
    private readonly writes: WriteQueue,
    private readonly account: () => StorageAccount | null,
    private readonly keywordIndex: boolean,
  ) {}

  /** Queues one message; resolves its id once committed, or null when its conversation is gone. */
  add(m: PendingMessage): Promise<number | null> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ ...m, resolve, reject });
      // the first message since the last turn asks for one; the turn takes everything queued by then
      if (this.waiting.length === 1) {
        let taken: Waiting[] = [];
        this.writes
          .transaction((em) => {
            taken = this.waiting;
            this.waiting = [];
            return this.write(em, taken);
          })
          .then(
            (ids) => taken.forEach((w, i) => w.resolve(ids[i])),
            (err: unknown) => {
              // failed before our turn began: what waits was this turn's, and no other turn is asked for
              if (taken.length === 0) [taken, this.waiting] = [this.waiting, []];
              for (const w of taken) w.reject(err);
            },
          );
      }
    });
  }

  private async write(em: EntityManager, batch: Waiting[]): Promise<(number | null)[]> {
    if (batch.length === 0) return [];
    const conversations = [...new Set(batch.map((w) => w.row.conversationId))];
    const live = new Set(
      ((await em.query(`SELECT id FROM conversations WHERE id IN (${conversations.map(() => '?').join(', ')})`, conversations)) as { id: number }[]).map((r) => Number(r.id)),
    );
    const ids: (number | null)[] = batch.map(() => null);
    const kept = batch.map((w, i) => ({ w, i })).filter(({ w }) => live.has(w.row.conversationId));
    const fts: unknown[] = [];
    for (let from = 0; from < kept.length; from += ROWS_PER_INSERT) {
      const chunk = kept.slice(from, from + ROWS_PER_INSERT);
      const values: unknown[] = [];
      for (const { w } of chunk) values.push(w.row.conversationId, w.row.sender, w.row.recipients, w.row.contentType, w.row.body, w.row.bytes, w.row.storedAt, w.row.messageId);
      const last = Number(
        await em.query(
          `INSERT INTO conversation_messages (conversation_id, sender, recipients, content_type, body, bytes, stored_at, message_id) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
          values,
        ),
      );
      // AUTOINCREMENT gives one statement's rows consecutive ids in VALUES order (each is the
      // largest so far plus one, and nothing else writes inside our turn): the last one's id is known
      chunk.forEach(({ w, i }, k) => {
        ids[i] = last - chunk.length + 1 + k;
        if (this.keywordIndex && w.text !== null) fts.push(ids[i], w.text);
      });
    }
    for (let from = 0; from < fts.length; from += 2 * ROWS_PER_INSERT) {
      const chunk = fts.slice(from, from + 2 * ROWS_PER_INSERT);
      await em.query(`INSERT INTO conversation_fts (rowid, body) VALUES ${Array.from({ length: chunk.length / 2 }, () => '(?, ?)').join(', ')}`, chunk);
    }
    // per conversation: how many, how many bytes, the first and the last stamp in append order
    const sums = new Map<number, { n: number; bytes: number; first: number; last: number }>();
    const charges = new Map<string, number>();
    for (const { w } of kept) {
      const s = sums.get(w.row.conversationId);
      if (s === undefined) sums.set(w.row.conversationId, { n: 1, bytes: w.row.bytes, first: w.row.storedAt, last: w.row.storedAt });
      else {
        s.n++;
        s.bytes += w.row.bytes;
        s.last = w.row.storedAt;
      }
      charges.set(w.owner, (charges.get(w.owner) ?? 0) + w.row.bytes);
    }
    for (const [id, s] of sums) {
      await em.query(
        'UPDATE conversations SET message_count = message_count + ?, bytes = bytes + ?, last_at = ?, first_at = CASE WHEN first_at = 0 THEN ? ELSE first_at END WHERE id = ?',
        [s.n, s.bytes, s.last, s.first, id],
      );
    }
    const account = this.account();
    for (const [owner, bytes] of charges) await account?.charge(em, owner, bytes);
    return ids;
  }
}
