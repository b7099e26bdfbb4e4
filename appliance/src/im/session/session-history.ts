import type { DataSource } from 'typeorm';
import { SessionHistoryEntity, type SessionHistoryRow } from '../../store/entities.js';
import { writesOf, type WriteQueue } from '../../store/write-queue.js';
import type { UsageSink } from '../../usage/usage-types.js';

export type SessionRecord = Omit<SessionHistoryRow, 'id'>;

/** Writes one row per finished session through the WriteQueue (group commit with other writes). */
export class SessionHistory {
  private readonly writes: WriteQueue;
  /** Usage records (C5): one per finished session, beside its history row. */
  usage: UsageSink | null = null;

  constructor(private readonly ds: DataSource) {
    this.writes = writesOf(ds);
  }

  /** Records a finished session; resolves after the commit. `bytes`: message bytes switched or stored, both ways, when known. */
  async record(r: SessionRecord, bytes?: number): Promise<void> {
    this.usage?.record({ kind: r.kind === 'large-message' ? 'large-message' : 'session', at: r.startedAt, user: r.caller, peer: r.callee, outcome: 'ended', reason: r.endReason, messages: r.messageCount, durationMs: r.durationMs, bytes: bytes ?? null });
    await this.writes.transaction((em) => em.insert(SessionHistoryEntity, r));
  }

  /** The newest sessions of one user, caller or callee (for tests now, the history issue later). */
  async of(aor: string, limit = 50): Promise<SessionHistoryRow[]> {
    return this.ds.getRepository(SessionHistoryEntity).find({ where: [{ caller: aor }, { callee: aor }], order: { id: 'DESC' }, take: limit });
  }
}
