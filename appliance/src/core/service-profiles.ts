import type { DataSource, Repository } from 'typeorm';
import { UserProfileEntity, type UserProfileRow } from '../store/entities.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';
import { markChanged, type StoreChangeWatcher } from '../store/store-changes.js';
import type { Logger } from '../log.js';
import { effectiveProfile, normalizeContentTypes, NO_OVERRIDES, type ProfileOverrides, type ServiceProfile } from './service-profile.js';

/** Why a profile change was refused. */
export class ProfileError extends Error {
  constructor(
    message: string,
    readonly field: keyof ServiceProfile | null = null,
  ) {
    super(message);
    this.name = 'ProfileError';
  }
}

/** The bounds of a configured or overridden maximum message size, in bytes. */
export const MAX_MESSAGE_BYTES_RANGE = { min: 1, max: 256 * 2 ** 20 } as const;

/**
 * Users' service profiles (Y1, Y3): the configured defaults and, in the `user_profiles` table, each
 * user's overrides. Every message path asks `of(username)` on its hot path, so every override is
 * kept in memory; like the user directory, the cache reloads when another process (the CLI) or
 * node has changed the `profiles` topic (store/store-changes.ts), so each node sees a change within
 * the watch interval.
 */
export class ServiceProfiles {
  private readonly repo: Repository<UserProfileRow>;
  private readonly writes: WriteQueue;
  private overrides = new Map<string, ProfileOverrides>();
  /** effective profiles, built once per user until their overrides change */
  private readonly effective = new Map<string, ServiceProfile>();

  constructor(
    ds: DataSource,
    readonly defaults: ServiceProfile,
    private readonly log?: Logger,
  ) {
    this.repo = ds.getRepository(UserProfileEntity);
    this.writes = writesOf(ds);
  }

  /** Loads every override. */
  async load(): Promise<void> {
    await this.reload();
  }

  /** Reloads the overrides whenever another process or node changes them. */
  follow(changes: StoreChangeWatcher): void {
    changes.subscribe('profiles', async () => {
      await this.reload();
      this.log?.info({ overrides: this.overrides.size }, 'service profiles reloaded');
    });
  }

  private async reload(): Promise<void> {
    const rows = await this.repo.find();
    this.overrides = new Map(rows.map((r) => [r.username, overridesOf(r)]));
    this.effective.clear();
  }

  /** The user's effective profile, from memory (the hot path of every message). */
  of(username: string): ServiceProfile {
    const name = username.toLowerCase();
    let p = this.effective.get(name);
    if (p === undefined) {
      p = effectiveProfile(this.defaults, this.overrides.get(name) ?? NO_OVERRIDES);
      this.effective.set(name, p);
    }
    return p;
  }

  /** The user's overrides (null: the default), from memory. */
  overridesOf(username: string): ProfileOverrides {
    return this.overrides.get(username.toLowerCase()) ?? NO_OVERRIDES;
  }

  /**
   * Changes some of a user's overrides: a value sets it, null goes back to the default, a field
   * left out stays. Returns the overrides before and after (for the audit log).
   */
  async update(username: string, change: Partial<ProfileOverrides>): Promise<{ before: ProfileOverrides; after: ProfileOverrides }> {
    const name = username.toLowerCase();
    const before = { ...((await this.storedOverrides(name)) ?? NO_OVERRIDES) };
    const after: ProfileOverrides = { ...before };
    for (const key of Object.keys(change) as (keyof ProfileOverrides)[]) {
      if (change[key] !== undefined) (after as Record<string, unknown>)[key] = change[key];
    }
    after.contentTypes = after.contentTypes === null ? null : checkedTypes(after.contentTypes);
    if (after.maxMessageBytes !== null && (!Number.isInteger(after.maxMessageBytes) || after.maxMessageBytes < MAX_MESSAGE_BYTES_RANGE.min || after.maxMessageBytes > MAX_MESSAGE_BYTES_RANGE.max)) {
      throw new ProfileError(`maximum message size must be a whole number of bytes from ${MAX_MESSAGE_BYTES_RANGE.min} to ${MAX_MESSAGE_BYTES_RANGE.max}`, 'maxMessageBytes');
    }
    const none = Object.values(after).every((v) => v === null);
    await this.writes.transaction(async (em) => {
      markChanged(em, 'profiles');
      const repo = em.getRepository(UserProfileEntity);
      if (none) await repo.delete({ username: name });
      else await repo.save({ username: name, ...after, contentTypes: after.contentTypes === null ? null : JSON.stringify(after.contentTypes), updatedAt: Date.now() });
    });
    if (none) this.overrides.delete(name);
    else this.overrides.set(name, after);
    this.effective.delete(name);
    return { before, after };
  }

  /** Forgets a deleted user's overrides (a new user of that name starts from the defaults). */
  async remove(username: string): Promise<void> {
    const name = username.toLowerCase();
    await this.writes.transaction((em) => {
      markChanged(em, 'profiles');
      return em.getRepository(UserProfileEntity).delete({ username: name });
    });
    this.overrides.delete(name);
    this.effective.delete(name);
  }

  private async storedOverrides(name: string): Promise<ProfileOverrides | null> {
    const row = await this.repo.findOneBy({ username: name });
    return row === null ? null : overridesOf(row);
  }
}

function checkedTypes(list: string[]): string[] {
  try {
    return normalizeContentTypes(list);
  } catch (err) {
    throw new ProfileError((err as Error).message, 'contentTypes');
  }
}

function overridesOf(r: UserProfileRow): ProfileOverrides {
  return {
    im: r.im === null ? null : Boolean(r.im),
    groupChat: r.groupChat === null ? null : Boolean(r.groupChat),
    storage: r.storage === null ? null : Boolean(r.storage),
    maxMessageBytes: r.maxMessageBytes,
    contentTypes: r.contentTypes === null ? null : (JSON.parse(r.contentTypes) as string[]),
  };
}
