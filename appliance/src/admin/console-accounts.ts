import type { DataSource, Repository } from 'typeorm';
import { ConsoleAccountEntity, ConsoleSessionEntity, type ConsoleAccountRow } from '../store/entities.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';
import { dummyHash, hashPassword, verifyPassword } from './password-hash.js';

export type ConsoleRole = ConsoleAccountRow['role'];

/** A refused account operation (CLI: exit 2 with the message). */
export class AccountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccountError';
  }
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Console passwords guard every user's data: longer than SIP passwords. */
export const CONSOLE_PASSWORD_MIN = 10;

/**
 * Console accounts (issue 8): separate from SIP users, with a role, an scrypt hash and a
 * disabled flag. Made by `parley admin add` (never a default password). Disabling an account or
 * setting its password ends its sessions.
 */
export class ConsoleAccounts {
  private readonly repo: Repository<ConsoleAccountRow>;
  private readonly writes: WriteQueue;

  constructor(ds: DataSource) {
    this.repo = ds.getRepository(ConsoleAccountEntity);
    this.writes = writesOf(ds);
  }

  get(name: string): Promise<ConsoleAccountRow | null> {
    return this.repo.findOneBy({ name: name.toLowerCase() });
  }

  list(): Promise<ConsoleAccountRow[]> {
    return this.repo.find({ order: { name: 'ASC' } });
  }

  async add(name: string, role: ConsoleRole, password: string): Promise<ConsoleAccountRow> {
    const n = name.toLowerCase();
    if (!NAME.test(n)) throw new AccountError(`invalid account name '${name}': 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
    if (role !== 'admin' && role !== 'support') throw new AccountError(`invalid role '${String(role)}': admin or support`);
    checkPassword(password);
    if (await this.get(n)) throw new AccountError(`console account '${n}' already exists`);
    const now = Date.now();
    const row = { name: n, role, passwordHash: await hashPassword(password), disabled: false, createdAt: now, updatedAt: now };
    return this.writes.transaction((em) => em.getRepository(ConsoleAccountEntity).save(row));
  }

  async setDisabled(name: string, disabled: boolean): Promise<void> {
    const row = await this.mustFind(name);
    await this.writes.transaction(async (em) => {
      await em.getRepository(ConsoleAccountEntity).update({ id: row.id }, { disabled, updatedAt: Date.now() });
      if (disabled) await em.getRepository(ConsoleSessionEntity).delete({ account: row.name });
    });
  }

  async setPassword(name: string, password: string): Promise<void> {
    checkPassword(password);
    const row = await this.mustFind(name);
    const passwordHash = await hashPassword(password);
    await this.writes.transaction(async (em) => {
      await em.getRepository(ConsoleAccountEntity).update({ id: row.id }, { passwordHash, updatedAt: Date.now() });
      await em.getRepository(ConsoleSessionEntity).delete({ account: row.name });
    });
  }

  /**
   * The account when the password is right and the account enabled, else null. An unknown name
   * costs the same scrypt run as a known one (no enumeration by timing).
   */
  async verify(name: string, password: string): Promise<ConsoleAccountRow | null> {
    const row = await this.get(name);
    const ok = await verifyPassword(password, row?.passwordHash ?? (await dummyHash()));
    return ok && row !== null && !row.disabled ? row : null;
  }

  private async mustFind(name: string): Promise<ConsoleAccountRow> {
    const row = await this.get(name);
    if (row === null) throw new AccountError(`no console account '${name.toLowerCase()}'`);
    return row;
  }
}

function checkPassword(pw: string): void {
  if (pw.length < CONSOLE_PASSWORD_MIN) throw new AccountError(`password too short (at least ${CONSOLE_PASSWORD_MIN} characters)`);
  if (pw.length > 1024) throw new AccountError('password too long (at most 1024 characters)');
}
