import { randomBytes } from 'node:crypto';
import type { UserRow } from '../store/entities.js';
import type { LocalDomain } from './local-domain.js';
import { UserError, type UserDirectory } from './user-directory.js';
import { ProfileError, type ServiceProfiles } from './service-profiles.js';
import type { ProfileOverrides, ServiceProfile } from './service-profile.js';
import { judgeImport, readImportCsv, rejectedCsv, type ImportVerdict } from './user-import.js';

/** What else a user owns: XCAP documents (by owner AOR) and stored messages (by recipient). */
export interface UserBelongings {
  deleteDocumentsOf(ownerAor: string): Promise<number>;
  purgeStoredFor(username: string): Promise<number>;
}

export interface ImportOptions {
  dryRun: boolean;
  onConflict: 'skip' | 'stop';
  generatePasswords: boolean;
  requireHeader: boolean;
  maxRows: number;
}

export interface ImportOutcome {
  applied: boolean;
  created: number;
  rows: (Omit<ImportVerdict, 'fields' | 'entry'> & { password?: string })[];
  rejectedCsv: string;
}

/** A generated password: 128 random bits, 22 characters of base64url. */
export function generatePassword(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * User management: the one code path for `parley user …` and the admin API (issue 8), over the
 * user directory and what a user owns. The rules themselves (names, display names, passwords)
 * are the directory's and `@parley/shared`'s.
 */
export class UserManagement {
  constructor(
    readonly users: UserDirectory,
    private readonly belongings: UserBelongings,
    private readonly domain: Pick<LocalDomain, 'aor'>,
    /** service profiles (Y1, Y3); null where a caller has no use for them */
    readonly profiles: ServiceProfiles | null = null,
  ) {}

  /** The user's service profile: what applies, and their own overrides. */
  async profile(name: string): Promise<{ username: string; profile: ServiceProfile; overrides: ProfileOverrides }> {
    const row = await this.users.find(name);
    const profiles = this.mustHaveProfiles();
    return { username: row.username, profile: profiles.of(row.username), overrides: profiles.overridesOf(row.username) };
  }

  /** Changes the user's overrides (null: back to the default); returns them before and after. */
  async setProfile(name: string, change: Partial<ProfileOverrides>): Promise<{ username: string; before: ProfileOverrides; after: ProfileOverrides; profile: ServiceProfile }> {
    const row = await this.users.find(name);
    const profiles = this.mustHaveProfiles();
    let outcome;
    try {
      outcome = await profiles.update(row.username, change);
    } catch (err) {
      if (err instanceof ProfileError) throw new UserError(err.message);
      throw err;
    }
    return { username: row.username, ...outcome, profile: profiles.of(row.username) };
  }

  private mustHaveProfiles(): ServiceProfiles {
    if (this.profiles === null) throw new Error('service profiles are not available here');
    return this.profiles;
  }

  /** Creates a user; without a password one is generated and returned (once). */
  async create(name: string, password: string | undefined, displayName: string | null): Promise<{ row: UserRow; generated?: string }> {
    const generated = password === undefined ? generatePassword() : undefined;
    const row = await this.users.add(name, password ?? generated!, displayName);
    return { row, generated };
  }

  setDisabled(name: string, disabled: boolean): Promise<UserRow> {
    return this.users.setDisabled(name, disabled);
  }

  setDisplayName(name: string, displayName: string | null): Promise<UserRow> {
    return this.users.setDisplayName(name, displayName);
  }

  /** Sets the password, or a generated one (returned once) when none is given. */
  async resetPassword(name: string, password?: string): Promise<{ generated?: string }> {
    const generated = password === undefined ? generatePassword() : undefined;
    await this.users.setPassword(name, password ?? generated!);
    return { generated };
  }

  /**
   * Deletes a user: the account (registrations drop at once), then every XCAP document they own
   * (groups, block list, preferences...) and every message stored for them. Messages they sent
   * to others stay with their recipients.
   */
  async remove(name: string): Promise<{ row: UserRow; documents: number; storedMessages: number }> {
    const row = await this.users.remove(name);
    const documents = await this.belongings.deleteDocumentsOf(this.domain.aor(row.username));
    const storedMessages = await this.belongings.purgeStoredFor(row.username);
    await this.profiles?.remove(row.username);
    return { row, documents, storedMessages };
  }

  /**
   * Imports users from CSV. Every row gets a verdict first. A dry run stops there. Otherwise,
   * with `stop`, any conflicting or invalid row means nothing is imported; with `skip`, those
   * rows are left out and the rest created, in one transaction (all of them or none).
   */
  async import(text: string, o: ImportOptions): Promise<ImportOutcome> {
    const rows = readImportCsv(text, { requireHeader: o.requireHeader, maxRows: o.maxRows });
    const verdicts = judgeImport(rows, await this.users.names(), { generatePasswords: o.generatePasswords });
    const problems = verdicts.some((v) => v.verdict !== 'create');
    const apply = !o.dryRun && (!problems || o.onConflict === 'skip');
    const passwords = new Map<number, string>();
    let created = 0;
    if (apply) {
      const entries = verdicts
        .filter((v) => v.verdict === 'create')
        .map((v) => {
          let password = v.entry!.password;
          if (password === null) {
            password = generatePassword();
            passwords.set(v.line, password);
          }
          return { username: v.entry!.username, password, displayName: v.entry!.displayName };
        });
      created = entries.length > 0 ? await this.users.insertMany(entries) : 0;
    }
    return {
      applied: apply && created > 0,
      created,
      rows: verdicts.map((v) => ({ line: v.line, name: v.name, verdict: v.verdict, ...(v.reason ? { reason: v.reason } : {}), ...(passwords.has(v.line) ? { password: passwords.get(v.line)! } : {}) })),
      rejectedCsv: rejectedCsv(verdicts),
    };
  }
}

export { UserError };
