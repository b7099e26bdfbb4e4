import { In, type DataSource, type Repository } from 'typeorm';
import { UserEntity, type UserRow } from '../store/entities.js';
import { ha1 } from '../sip/auth/digest.js';
import type { Logger } from '../log.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';
import { markChanged, type StoreChangeWatcher } from '../store/store-changes.js';
import { PASSWORD_MAX, PASSWORD_MIN } from '@parley/shared';
import { USER_NAME_RULE, canonicalUserName, checkDisplayName } from './user-names.js';

/** Why a user operation was refused: bad input, no such user, or the name is taken. */
export type UserErrorKind = 'invalid' | 'not_found' | 'exists';

export class UserError extends Error {
  constructor(
    message: string,
    readonly kind: UserErrorKind = 'invalid',
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * The service profiles of our users. The CLI writes through it; the server
 * keeps every user in memory (authentication is on the hot path) and reloads
 * when another process (the CLI, another node) has changed the `users` topic
 * (store/store-changes.ts).
 */
export class UserDirectory {
  private readonly repo: Repository<UserRow>;
  private readonly writes: WriteQueue;
  private byName = new Map<string, UserRow>();
  private loaded = false;
  /** told of users that were disabled or removed by another process (their bindings go) */
  onServiceRevoked: ((usernames: string[]) => void) | null = null;

  constructor(
    ds: DataSource,
    private readonly realm: string,
    private readonly log?: Logger,
  ) {
    this.repo = ds.getRepository(UserEntity);
    this.writes = writesOf(ds);
  }

  /** Loads every user. */
  async load(): Promise<void> {
    await this.reload();
  }

  /** Reloads the users whenever another process or node changes them. */
  follow(changes: StoreChangeWatcher): void {
    changes.subscribe('users', async () => {
      await this.reload();
      this.log?.info({ users: this.byName.size }, 'user directory reloaded');
    });
  }

  private async reload(): Promise<void> {
    const rows = await this.repo.find();
    const before = this.byName;
    this.byName = new Map(rows.map((u) => [u.username, u]));
    if (!this.loaded) this.warnAboutRealm(rows);
    this.loaded = true;
    const revoked = [...before.values()].filter((old) => !old.disabled && (this.byName.get(old.username)?.disabled ?? true)).map((u) => u.username);
    if (revoked.length > 0) this.onServiceRevoked?.(revoked);
  }

  /** Passwords are hashed with the realm (RFC 3261 §22.4): users made for another domain cannot log in here. */
  private warnAboutRealm(rows: UserRow[]): void {
    const others = rows.filter((u) => u.realm !== this.realm);
    if (others.length === 0) return;
    this.log?.warn(
      { realm: this.realm, users: others.slice(0, 20).map((u) => `${u.username} (${u.realm})`), count: others.length },
      'users whose passwords were set for another domain (realm) cannot log in: set their passwords again (parley user passwd NAME)',
    );
  }

  /** From memory: the hot path of every authentication. Names are case-insensitive. */
  get(username: string): UserRow | undefined {
    return this.byName.get(username) ?? this.byName.get(username.toLowerCase());
  }

  async list(): Promise<UserRow[]> {
    return this.repo.find({ order: { username: 'ASC' } });
  }

  async add(name: string, password: string, displayName: string | null = null): Promise<UserRow> {
    const username = nameOf(name);
    checkPassword(password);
    const display = displayName === null ? null : displayNameOf(displayName);
    if (await this.repo.findOneBy({ username })) throw new UserError(`user '${username}' already exists`, 'exists');
    const now = Date.now();
    const row = this.repo.create({
      username,
      displayName: display,
      disabled: false,
      realm: this.realm,
      ha1Md5: ha1('MD5', username, this.realm, password),
      ha1Sha256: ha1('SHA-256', username, this.realm, password),
      createdAt: now,
      updatedAt: now,
    });
    const saved = await this.writes.transaction((em) => {
      markChanged(em, 'users');
      return em.getRepository(UserEntity).save(row);
    });
    this.byName.set(username, saved);
    return saved;
  }

  /** Every user name in the store (lower case), for checking an import against. */
  async names(): Promise<Set<string>> {
    return new Set((await this.repo.find({ select: { username: true } })).map((u) => u.username));
  }

  /**
   * Creates many users in one transaction: all or none (a name taken meanwhile fails the whole
   * commit on the unique index). The entries must have passed `checkNewUser` (core/user-import.ts).
   */
  async insertMany(entries: { username: string; password: string; displayName: string | null }[]): Promise<number> {
    const now = Date.now();
    const rows = entries.map((e) => ({
      username: e.username,
      displayName: e.displayName,
      disabled: false,
      realm: this.realm,
      ha1Md5: ha1('MD5', e.username, this.realm, e.password),
      ha1Sha256: ha1('SHA-256', e.username, this.realm, e.password),
      createdAt: now,
      updatedAt: now,
    }));
    try {
      await this.writes.transaction(async (em) => {
        markChanged(em, 'users');
        // SQLite limits bound parameters per statement: insert in slices
        for (let i = 0; i < rows.length; i += 100) await em.getRepository(UserEntity).insert(rows.slice(i, i + 100));
      });
    } catch (err) {
      if (/UNIQUE constraint failed/.test((err as Error).message)) throw new UserError('a user of the import was created meanwhile: nothing imported, try again', 'exists');
      throw err;
    }
    // the new rows into the in-memory table (in slices: SQLite limits the parameters of one statement)
    for (let i = 0; i < rows.length; i += 500) {
      for (const r of await this.repo.find({ where: { username: In(rows.slice(i, i + 500).map((x) => x.username)) } })) this.byName.set(r.username, r);
    }
    return rows.length;
  }

  /** Disabling a user also drops their registrations at once (onServiceRevoked). */
  async setDisabled(username: string, disabled: boolean): Promise<UserRow> {
    const row = await this.mustFind(username);
    const revoked = disabled && !row.disabled;
    row.disabled = disabled;
    row.updatedAt = Date.now();
    await this.save(row);
    this.byName.set(row.username, row);
    if (revoked) this.onServiceRevoked?.([row.username]);
    return row;
  }

  async setPassword(username: string, password: string): Promise<void> {
    checkPassword(password);
    const row = await this.mustFind(username);
    row.realm = this.realm;
    row.ha1Md5 = ha1('MD5', row.username, this.realm, password);
    row.ha1Sha256 = ha1('SHA-256', row.username, this.realm, password);
    row.updatedAt = Date.now();
    await this.save(row);
    this.byName.set(row.username, row);
  }

  /** Sets (or, with null, clears) the name recipients see for this user. */
  async setDisplayName(username: string, displayName: string | null): Promise<UserRow> {
    const row = await this.mustFind(username);
    row.displayName = displayName === null ? null : displayNameOf(displayName);
    row.updatedAt = Date.now();
    await this.save(row);
    this.byName.set(row.username, row);
    return row;
  }

  /** Removes the user (their registrations go at once); their documents and stored messages are core/user-management.ts's. */
  async remove(username: string): Promise<UserRow> {
    const row = await this.mustFind(username);
    const copy = { ...row };
    await this.writes.transaction((em) => {
      markChanged(em, 'users');
      return em.getRepository(UserEntity).remove(row);
    });
    this.byName.delete(copy.username);
    if (!copy.disabled) this.onServiceRevoked?.([copy.username]);
    return copy;
  }

  /** The stored row (not the cache), or a not_found UserError. */
  find(name: string): Promise<UserRow> {
    return this.mustFind(name);
  }

  private async save(row: UserRow): Promise<void> {
    await this.writes.transaction((em) => {
      markChanged(em, 'users');
      return em.getRepository(UserEntity).save(row);
    });
  }

  private async mustFind(name: string): Promise<UserRow> {
    const username = name.toLowerCase();
    const row = await this.repo.findOneBy({ username });
    if (!row) throw new UserError(`no such user '${username}'`, 'not_found');
    return row;
  }
}

/** The canonical name, or an 'invalid' UserError naming the rule. */
export function nameOf(name: string): string {
  const username = canonicalUserName(name);
  if (username === null) throw new UserError(`invalid user name '${name}': ${USER_NAME_RULE}`);
  return username;
}

export function displayNameOf(name: string): string {
  const checked = checkDisplayName(name);
  if (checked === null) throw new UserError(`invalid display name '${name}': 1 to 128 printable characters, no double quotes or backslashes`);
  return checked;
}

export function checkPassword(pw: string): void {
  if (pw.length < PASSWORD_MIN) throw new UserError(`password too short (at least ${PASSWORD_MIN} characters)`);
  if (pw.length > PASSWORD_MAX) throw new UserError(`password too long (at most ${PASSWORD_MAX} characters)`);
}
