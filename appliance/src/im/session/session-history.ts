import type { DataSource } from 'typeorm';
import { SessionHistoryEntity, type SessionHistoryRow } from '../../store/entities.js';
import { writesOf, type WriteQueue } from '../../store/write-queue.js';

export type SessionRecord = Omit<SessionHistoryRow, 'id'>;

/** Writes one row per finished session through the WriteQueue (group commit with other writes). */
export class SessionHistory {
  private readonly writes: WriteQueue;

  constructor(private readonly ds: DataSource) {
    this.writes = writesOf(ds);
  }

  /** Records a finished session; resolves after the commit. */
  async record(r: SessionRecord): Promise<void> {
    await this.writes.transaction((em) => em.insert(SessionHistoryEntity, r));
  }

  /** The newest sessions of one user, caller or callee (for tests now, the history issue later). */
  async of(aor: string, limit = 50): Promise<SessionHistoryRow[]> {
    return this.ds.getRepository(SessionHistoryEntity).find({ where: [{ caller: aor }, { callee: aor }], order: { id: 'DESC' }, take: limit });
  }
}
