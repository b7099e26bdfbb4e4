import { stringify } from 'csv-stringify/sync';
import { inertCell } from '../util/csv-cell.js';
import type { DataSource, Repository, SelectQueryBuilder } from 'typeorm';
import { AuditEntity, type AuditRow } from '../store/entities.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';

/** What one audit record says (STYLE.md: Operations; Mattermost's audit record). */
export interface AuditRecord {
  actor: string;
  source: string;
  action: string;
  target?: string | null;
  before?: unknown;
  after?: unknown;
}

export interface AuditFilter {
  actor?: string;
  /** exact, or a prefix when it ends with '.' (`user.` is every user action) */
  action?: string;
  from?: string;
  to?: string;
}

export interface AuditEntryOut {
  id: number;
  at: string;
  actor: string;
  source: string;
  action: string;
  target: string | null;
  before: unknown;
  after: unknown;
}

/** At most this many rows in one CSV download. */
export const AUDIT_CSV_MAX_ROWS = 100_000;

const parse = (s: string | null): unknown => (s === null ? null : JSON.parse(s));

/**
 * The audit log in the store (issue 8, point 7). The API only appends and reads: there is no
 * route that edits or deletes a record. Every mutation and every failed console login is
 * recorded, with the state before and after as JSON (never a password).
 */
export class AuditLog {
  private readonly repo: Repository<AuditRow>;
  private readonly writes: WriteQueue;

  constructor(ds: DataSource) {
    this.repo = ds.getRepository(AuditEntity);
    this.writes = writesOf(ds);
  }

  /** Appends a record; resolves after its commit. */
  async record(r: AuditRecord, at = Date.now()): Promise<void> {
    const row = {
      at,
      actor: r.actor,
      source: r.source,
      action: r.action,
      target: r.target ?? null,
      before: r.before === undefined || r.before === null ? null : JSON.stringify(r.before),
      after: r.after === undefined || r.after === null ? null : JSON.stringify(r.after),
    };
    await this.writes.transaction((em) => em.getRepository(AuditEntity).insert(row));
  }

  private filtered(f: AuditFilter): SelectQueryBuilder<AuditRow> {
    const q = this.repo.createQueryBuilder('a');
    if (f.actor) q.andWhere('a.actor = :actor', { actor: f.actor.toLowerCase() });
    if (f.action) {
      if (f.action.endsWith('.')) q.andWhere("a.action LIKE :prefix ESCAPE '\\'", { prefix: `${f.action.replace(/[\\%_]/g, (c) => `\\${c}`)}%` });
      else q.andWhere('a.action = :action', { action: f.action });
    }
    if (f.from) q.andWhere('a.at >= :from', { from: Date.parse(f.from) });
    if (f.to) q.andWhere('a.at < :to', { to: Date.parse(f.to) });
    return q.orderBy('a.id', 'DESC');
  }

  /** One page of records, newest first, and how many match in all. */
  async query(f: AuditFilter, page: number, pageSize: number): Promise<{ items: AuditEntryOut[]; total: number }> {
    const [rows, total] = await this.filtered(f)
      .skip((page - 1) * pageSize)
      .take(pageSize)
      .getManyAndCount();
    return { items: rows.map(toEntry), total };
  }

  /** The matching records as CSV (header row first), newest first. */
  async csv(f: AuditFilter): Promise<string> {
    const rows = await this.filtered(f).take(AUDIT_CSV_MAX_ROWS).getMany();
    return stringify(
      // text cells made inert for spreadsheets (util/csv-cell.ts, OWASP): a target is a name someone typed
      rows.map((r) => [r.id, new Date(r.at).toISOString(), ...[r.actor, r.source, r.action, r.target ?? '', r.before ?? '', r.after ?? ''].map(inertCell)]),
      { header: true, columns: ['id', 'at', 'actor', 'source', 'action', 'target', 'before', 'after'] },
    );
  }
}

function toEntry(r: AuditRow): AuditEntryOut {
  return { id: r.id, at: new Date(r.at).toISOString(), actor: r.actor, source: r.source, action: r.action, target: r.target, before: parse(r.before), after: parse(r.after) };
}
