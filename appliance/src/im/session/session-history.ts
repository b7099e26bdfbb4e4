import type { DataSource } from 'typeorm';
import { SessionHistoryEntity, type SessionHistoryRow } from '../../store/entities.js';
import { writesOf, type WriteQueue } from '../../store/write-queue.js';
import type { UsageSink } from '../../usage/usage-types.js';

export type SessionRecord = Omit<SessionHistoryRow, 'id' | 'sentCount' | 'receivedCount'> & Partial<Pick<SessionHistoryRow, 'sentCount' | 'receivedCount'>>;

/** One page of a user's history, newest first; `next` is the `before` of the following page (null: no more). */
export interface HistoryPage {
  rows: SessionHistoryRow[];
  next: number | null;
}

/** What support searches session history by (all optional; times in ms, `to` exclusive). */
export interface HistoryQuery {
  /** an AOR: sessions they were caller or callee in, memberships they had, or a room URI's memberships */
  user?: string;
  from?: number;
  to?: number;
  /** 1-based */
  page?: number;
  pageSize?: number;
}

/** A page of search results with the total that matched (for a paged table). */
export interface HistorySearchResult {
  rows: SessionHistoryRow[];
  total: number;
  page: number;
  pageSize: number;
}

const MAX_PAGE = 500;

/**
 * Session history (H2): one row per finished one-to-one or large-message session and per room
 * membership, written through the WriteQueue (group commit with other writes). Exploded pager
 * messages (P3) are not sessions and have no row: the per-recipient report and usage records say
 * what became of them.
 */
export class SessionHistory {
  private readonly writes: WriteQueue;
  /** Usage records (C5): one per finished session, beside its history row. */
  usage: UsageSink | null = null;

  constructor(private readonly ds: DataSource) {
    this.writes = writesOf(ds);
  }

  /** Records a finished session or membership; resolves after the commit. `bytes`: message bytes switched or stored, both ways, when known. */
  async record(r: SessionRecord, bytes?: number): Promise<void> {
    this.usage?.record({ kind: r.kind === 'large-message' ? 'large-message' : 'session', at: r.startedAt, user: r.caller, peer: r.callee, outcome: 'ended', reason: r.endReason, messages: r.messageCount, durationMs: r.durationMs, bytes: bytes ?? null });
    await this.writes.transaction((em) => em.insert(SessionHistoryEntity, { sentCount: 0, receivedCount: 0, ...r }));
  }

  /**
   * One user's history, newest first, a page at a time (keyset paging by row id, so a page stays
   * right while new rows are written): rows with id < `before`, at most `limit`.
   *
   * @example
   * let page = await history.of('sip:alice@example.com', { limit: 50 });
   * while (page.next !== null) page = await history.of('sip:alice@example.com', { before: page.next, limit: 50 });
   */
  async of(aor: string, opts: { before?: number; limit?: number } = {}): Promise<HistoryPage> {
    const limit = clamp(opts.limit ?? 50);
    const q = this.ds
      .getRepository(SessionHistoryEntity)
      .createQueryBuilder('h')
      .where('(h.caller = :aor OR h.callee = :aor)', { aor })
      .orderBy('h.id', 'DESC')
      .take(limit + 1);
    if (opts.before !== undefined) q.andWhere('h.id < :before', { before: opts.before });
    const rows = await q.getMany();
    const more = rows.length > limit;
    if (more) rows.length = limit;
    return { rows, next: more ? rows[rows.length - 1].id : null };
  }

  /** Support's search (console): by user and start-time range, newest first, a numbered page with the total. */
  async search(query: HistoryQuery): Promise<HistorySearchResult> {
    const pageSize = clamp(query.pageSize ?? 50);
    const page = Math.max(1, Math.floor(query.page ?? 1));
    const q = this.ds.getRepository(SessionHistoryEntity).createQueryBuilder('h').orderBy('h.startedAt', 'DESC').addOrderBy('h.id', 'DESC');
    if (query.user !== undefined) q.andWhere('(h.caller = :user OR h.callee = :user)', { user: query.user });
    if (query.from !== undefined) q.andWhere('h.startedAt >= :from', { from: query.from });
    if (query.to !== undefined) q.andWhere('h.startedAt < :to', { to: query.to });
    const [rows, total] = await q
      .skip((page - 1) * pageSize)
      .take(pageSize)
      .getManyAndCount();
    return { rows, total, page, pageSize };
  }
}

function clamp(n: number): number {
  return Math.min(MAX_PAGE, Math.max(1, Math.floor(n)));
}
