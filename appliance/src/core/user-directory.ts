import type { DataSource, Repository } from 'typeorm';
import { UserEntity, type UserRow } from '../store/entities.js';
import { ha1 } from '../sip/auth/digest.js';
import type { Logger } from '../log.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';

export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** RFC 3261 user part characters we allow in user names (no escaping needed in a SIP URI). */
const USERNAME = /^[a-zA-Z0-9][a-zA-Z0-9._~!$&'()*+,;=-]{0,63}$/;

/**
 * The service profiles of our users. The CLI writes through it; the server
 * keeps every user in memory (authentication is on the hot path) and reloads
 * when another process (the CLI) has committed to the store.
 */
export class UserDirectory {
  private readonly repo: Repository<UserRow>;
  private readonly writes: WriteQueue;
  private byName = new Map<string, UserRow>();
  private dataVersion = -1;
  private watcher: NodeJS.Timeout | null = null;
  /** told of users that were disabled or removed by another process (their bindings go) */
  onServiceRevoked: ((usernames: string[]) => void) | null = null;

  constructor(
    private readonly ds: DataSource,
    private readonly realm: string,
    private readonly log?: Logger,
  ) {
    this.repo = ds.getRepository(UserEntity);
    this.writes = writesOf(ds);
  }

  /** Loads every user and watches the store for changes from other processes. */
  async load(watchMs = 500): Promise<void> {
    await this.reload();
    this.watcher = setInterval(() => void this.refreshIfChanged(), watchMs);
    this.watcher.unref();
  }

  stop(): void {
    if (this.watcher) clearInterval(this.watcher);
  }

  private async reload(): Promise<void> {
    const rows = await this.repo.find();
    const before = this.byName;
    this.byName = new Map(rows.map((u) => [u.username, u]));
    this.dataVersion = await this.currentDataVersion();
    const revoked = [...before.values()].filter((old) => !old.disabled && (this.byName.get(old.username)?.disabled ?? true)).map((u) => u.username);
    if (revoked.length > 0) this.onServiceRevoked?.(revoked);
  }

  private async currentDataVersion(): Promise<number> {
    const rows = (await this.ds.query('PRAGMA data_version')) as { data_version: number }[];
    return rows[0]?.data_version ?? 0;
  }

  /** SQLite's data_version changes when another connection commits (sqlite.org/pragma.html#pragma_data_version). */
  private async refreshIfChanged(): Promise<void> {
    try {
      if ((await this.currentDataVersion()) !== this.dataVersion) {
        await this.reload();
        this.log?.info({ users: this.byName.size }, 'user directory reloaded');
      }
    } catch (err) {
      this.log?.warn({ err }, 'user directory refresh failed');
    }
  }

  /** From memory: the hot path of every authentication. */
  get(username: string): UserRow | undefined {
    return this.byName.get(username);
  }

  async list(): Promise<UserRow[]> {
    return this.repo.find({ order: { username: 'ASC' } });
  }

  async add(username: string, password: string): Promise<UserRow> {
    if (!USERNAME.test(username)) throw new UserError(`invalid user name '${username}': use letters, digits and . _ ~ - (up to 64)`);
    checkPassword(password);
    if (await this.repo.findOneBy({ username })) throw new UserError(`user '${username}' already exists`);
    const now = Date.now();
    const row = this.repo.create({
      username,
      disabled: false,
      realm: this.realm,
      ha1Md5: ha1('MD5', username, this.realm, password),
      ha1Sha256: ha1('SHA-256', username, this.realm, password),
      createdAt: now,
      updatedAt: now,
    });
    const saved = await this.writes.transaction((em) => em.getRepository(UserEntity).save(row));
    this.byName.set(username, saved);
    return saved;
  }

  /**
   * Creates many users in one transaction: all or none. Every bad entry is
   * reported (with its position) before anything is written.
   */
  async addMany(entries: { username: string; password: string; line: number }[]): Promise<number> {
    const problems: string[] = [];
    const seen = new Set<string>();
    const existing = new Set((await this.repo.find({ select: { username: true } })).map((u) => u.username));
    for (const e of entries) {
      try {
        if (!USERNAME.test(e.username)) throw new UserError(`invalid user name '${e.username}'`);
        checkPassword(e.password);
        if (existing.has(e.username) || seen.has(e.username)) throw new UserError(`user '${e.username}' already exists`);
        seen.add(e.username);
      } catch (err) {
        problems.push(`line ${e.line}: ${(err as Error).message}`);
      }
    }
    if (problems.length > 0) throw new UserError(`nothing imported:\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''}`);
    const now = Date.now();
    const rows = entries.map((e) => ({
      username: e.username,
      disabled: false,
      realm: this.realm,
      ha1Md5: ha1('MD5', e.username, this.realm, e.password),
      ha1Sha256: ha1('SHA-256', e.username, this.realm, e.password),
      createdAt: now,
      updatedAt: now,
    }));
    await this.writes.transaction(async (em) => {
      // SQLite limits bound parameters per statement: insert in slices
      for (let i = 0; i < rows.length; i += 100) await em.getRepository(UserEntity).insert(rows.slice(i, i + 100));
    });
    return rows.length;
  }

  async setDisabled(username: string, disabled: boolean): Promise<void> {
    const row = await this.mustFind(username);
    row.disabled = disabled;
    row.updatedAt = Date.now();
    await this.writes.transaction((em) => em.getRepository(UserEntity).save(row));
    this.byName.set(username, row);
  }

  async setPassword(username: string, password: string): Promise<void> {
    checkPassword(password);
    const row = await this.mustFind(username);
    row.realm = this.realm;
    row.ha1Md5 = ha1('MD5', username, this.realm, password);
    row.ha1Sha256 = ha1('SHA-256', username, this.realm, password);
    row.updatedAt = Date.now();
    await this.writes.transaction((em) => em.getRepository(UserEntity).save(row));
    this.byName.set(username, row);
  }

  async remove(username: string): Promise<void> {
    const row = await this.mustFind(username);
    await this.writes.transaction((em) => em.getRepository(UserEntity).remove(row));
    this.byName.delete(username);
  }

  private async mustFind(username: string): Promise<UserRow> {
    const row = await this.repo.findOneBy({ username });
    if (!row) throw new UserError(`no such user '${username}'`);
    return row;
  }
}

function checkPassword(pw: string): void {
  if (pw.length < 4) throw new UserError('password too short (at least 4 characters)');
  if (pw.length > 256) throw new UserError('password too long (at most 256 characters)');
}
