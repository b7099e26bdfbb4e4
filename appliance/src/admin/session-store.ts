import { createHash, randomBytes } from 'node:crypto';
import { LessThan, type DataSource, type Repository } from 'typeorm';
import { ConsoleAccountEntity, ConsoleSessionEntity, type ConsoleAccountRow, type ConsoleSessionRow } from '../store/entities.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';

export interface SessionOptions {
  /** seconds a session lasts at most */
  lifetime: number;
  /** seconds without a request after which it ends */
  idleTimeout: number;
}

/** A live session and its account. */
export interface ActiveSession {
  id: string;
  account: Pick<ConsoleAccountRow, 'name' | 'role'>;
  csrfToken: string;
  expiresAt: number;
}

/** last_seen_at is written at most this often (ms): idle expiry needs minutes, not every request's commit */
const TOUCH_EVERY_MS = 30_000;

const digest = (token: string): string => createHash('sha256').update(token).digest('base64url');

/**
 * Console sessions, in the store so that every node sharing it knows them (docs/architecture.md:
 * state and scale). The cookie carries a random 256-bit token; the store keeps only its SHA-256,
 * so a copy of the database opens no session. A session ends at `lifetime`, after `idleTimeout`
 * without a request, at logout, or when its account is disabled or its password set.
 */
export class SessionStore {
  private readonly repo: Repository<ConsoleSessionRow>;
  private readonly accounts: Repository<ConsoleAccountRow>;
  private readonly writes: WriteQueue;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    ds: DataSource,
    private readonly opts: SessionOptions,
  ) {
    this.repo = ds.getRepository(ConsoleSessionEntity);
    this.accounts = ds.getRepository(ConsoleAccountEntity);
    this.writes = writesOf(ds);
  }

  /** Sweeps ended sessions every few minutes. */
  start(): void {
    this.sweeper = setInterval(() => void this.sweep().catch(() => undefined), 5 * 60_000);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /** A new session: the token (for the cookie) and the session itself. */
  async create(account: Pick<ConsoleAccountRow, 'name' | 'role'>, now = Date.now()): Promise<{ token: string; session: ActiveSession }> {
    const token = randomBytes(32).toString('base64url');
    const row: ConsoleSessionRow = {
      id: digest(token),
      account: account.name,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + this.opts.lifetime * 1000,
    };
    await this.writes.transaction((em) => em.getRepository(ConsoleSessionEntity).insert(row));
    return { token, session: { id: row.id, account: { name: account.name, role: account.role }, csrfToken: row.csrfToken, expiresAt: row.expiresAt } };
  }

  /** The session a cookie token opens, or null (unknown, expired, idle too long, account disabled). */
  async lookup(token: string, now = Date.now()): Promise<ActiveSession | null> {
    if (token.length === 0 || token.length > 100) return null;
    const row = await this.repo.findOneBy({ id: digest(token) });
    if (row === null) return null;
    if (row.expiresAt <= now || row.lastSeenAt + this.opts.idleTimeout * 1000 <= now) {
      await this.end(row.id);
      return null;
    }
    const account = await this.accounts.findOneBy({ name: row.account });
    if (account === null || account.disabled) {
      await this.end(row.id);
      return null;
    }
    if (now - row.lastSeenAt >= TOUCH_EVERY_MS) await this.writes.transaction((em) => em.getRepository(ConsoleSessionEntity).update({ id: row.id }, { lastSeenAt: now }));
    return { id: row.id, account: { name: account.name, role: account.role }, csrfToken: row.csrfToken, expiresAt: row.expiresAt };
  }

  async end(id: string): Promise<void> {
    await this.writes.transaction((em) => em.getRepository(ConsoleSessionEntity).delete({ id }));
  }

  private async sweep(now = Date.now()): Promise<void> {
    await this.writes.transaction(async (em) => {
      const repo = em.getRepository(ConsoleSessionEntity);
      await repo.delete({ expiresAt: LessThan(now) });
      await repo.delete({ lastSeenAt: LessThan(now - this.opts.idleTimeout * 1000) });
    });
  }
}
