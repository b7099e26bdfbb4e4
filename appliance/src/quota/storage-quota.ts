import type { DataSource, EntityManager } from 'typeorm';
import type { StorageAccount } from '../history/conversation-store.js';
import type { DeferredAccount } from '../im/deferred/deferred-store.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';
import { markChanged, type StoreChangeWatcher } from '../store/store-changes.js';
import { levelOf, percentOf } from './quota-levels.js';

export interface QuotaOptions {
  /** bytes every user may store unless an override says otherwise (config quota.defaultBytes) */
  defaultBytes: number;
  /** warning thresholds in percent, ascending (config quota.warnAt); 100 (refusal) is always one more */
  warnAt: number[];
  /** the service's own identity: its notices to a user are stored for them without counting (config quota.serviceUser) */
  serviceAor: string;
  /** conversation owners are AORs, the ledger's keys user names */
  domain: { aor(user: string): string; userOf(aor: string): string | null };
}

/** One user's storage as the ledger has it. */
export interface UserUsage {
  user: string;
  conversationBytes: number;
  deferredBytes: number;
  usedBytes: number;
  quotaBytes: number;
  /** the quota is the user's own, not the default */
  override: boolean;
  /** whole percent of the quota used (floor) */
  percent: number;
  /** the highest threshold the user was warned about (0: none; 100: storage refused) */
  level: number;
}

/** A threshold crossed upwards: the user is to be told. */
export interface QuotaWarning {
  level: number;
  usage: UserUsage;
}

interface Row {
  conversation: number;
  deferred: number;
  warned: number;
}

type Column = 'conversation_bytes' | 'deferred_bytes';

/**
 * Per-user storage quotas (H3) over an exact usage ledger (`storage_usage`): conversation bytes
 * plus deferred bytes, charged by SQL increments inside the very transactions that store or delete
 * the messages (the conversation store's and the deferred store's hooks), so the ledger and the
 * data never disagree and nothing is rescanned. The ledger is read once at start and mirrored in
 * memory; the mirror is updated as each increment runs, so a reload through the write queue sees
 * exactly what the mirror holds. `admit` is synchronous and reserves the bytes, so a burst of
 * concurrent writes cannot overshoot a quota.
 *
 * Another process (the CLI: `parley quota set`, `recount`, `user remove`) or node changes the store
 * directly; every ledger or quota write bumps the `quota` topic (once per commit), and the store
 * change watcher tells the running server to read the ledger again.
 */
export class StorageQuota {
  /** Told when a user's usage first crosses a threshold upwards (the notices' business). */
  onWarning: ((w: QuotaWarning) => void) | null = null;
  /** The hook of the conversation store (`conversations.account`); owners are AORs. */
  readonly conversations: StorageAccount;
  /** The hook of the deferred store; recipients are user names. */
  readonly deferred: DeferredAccount;
  private rows = new Map<string, Row>();
  private overrides = new Map<string, number>();
  /** bytes admitted but not yet charged, per user */
  private readonly reserved = new Map<string, number>();
  /** per user, the crossings to 100 % since start (`timesReached`) */
  private readonly reachings = new Map<string, number>();
  private readonly writes: WriteQueue;
  private readonly thresholds: number[];

  constructor(
    ds: DataSource,
    private readonly opts: QuotaOptions,
  ) {
    this.writes = writesOf(ds);
    this.thresholds = [...new Set([...opts.warnAt, 100])].sort((a, b) => a - b);
    const userOf = (aor: string): string => opts.domain.userOf(aor) ?? aor;
    this.conversations = {
      admit: (owner, bytes) => this.admit(userOf(owner), bytes),
      charge: (em, owner, delta) => this.charge(em, userOf(owner), 'conversation_bytes', delta),
      release: (owner, bytes) => this.unreserve(userOf(owner), bytes),
      check: (owner, bytes) => this.check(userOf(owner), bytes),
    };
    this.deferred = {
      counts: (senderAor) => senderAor !== opts.serviceAor,
      admit: (user, bytes) => this.admit(user, bytes),
      charge: (em, user, delta) => this.charge(em, user, 'deferred_bytes', delta),
      release: (user, bytes) => this.unreserve(user, bytes),
    };
  }

  /** The thresholds warned about, in percent, 100 last. */
  get levels(): readonly number[] {
    return this.thresholds;
  }

  get defaultBytes(): number {
    return this.opts.defaultBytes;
  }

  /** Reads the ledger and the overrides (once, at start). */
  async load(): Promise<void> {
    await this.writes.transaction((em) => this.read(em));
  }

  /** Reads the ledger again whenever another process or node changes it. */
  follow(changes: StoreChangeWatcher): void {
    changes.subscribe('quota', () => this.writes.transaction((em) => this.read(em)));
  }

  /** One user's usage and quota, from memory. */
  usage(user: string): UserUsage {
    const r = this.rows.get(user) ?? { conversation: 0, deferred: 0, warned: 0 };
    const quota = this.quotaOf(user);
    const used = r.conversation + r.deferred;
    return { user, conversationBytes: r.conversation, deferredBytes: r.deferred, usedBytes: used, quotaBytes: quota, override: this.overrides.has(user), percent: percentOf(used, quota), level: r.warned };
  }

  /** Everyone the ledger or the overrides know of (users with nothing stored and no override are not listed). */
  known(): string[] {
    return [...new Set([...this.rows.keys(), ...this.overrides.keys()])];
  }

  quotaOf(user: string): number {
    return this.overrides.get(user) ?? this.opts.defaultBytes;
  }

  /**
   * Sets a user's own quota, or (null) returns them to the default. A lower quota may put the
   * user past a threshold at once: they are warned like after a store.
   */
  async setQuota(user: string, bytes: number | null): Promise<{ before: number | null; after: number | null }> {
    return this.writes.transaction(async (em) => {
      markChanged(em, 'quota');
      const before = this.overrides.get(user) ?? null;
      if (bytes === null) {
        await em.query('DELETE FROM storage_quotas WHERE username = ?', [user]);
        this.overrides.delete(user);
      } else {
        await em.query('INSERT INTO storage_quotas (username, bytes, updated_at) VALUES (?, ?, ?) ON CONFLICT (username) DO UPDATE SET bytes = excluded.bytes, updated_at = excluded.updated_at', [user, bytes, Date.now()]);
        this.overrides.set(user, bytes);
      }
      await this.evaluate(em, user, true);
      return { before, after: bytes };
    });
  }

  /**
   * The repair path (`parley quota recount`, after a restore): recomputes conversation and
   * deferred bytes from the stored messages for one user or everyone, and writes them to the
   * ledger. Warned levels stay; the next store or delete re-evaluates them.
   */
  async recount(user?: string): Promise<{ user: string; before: number; after: number }[]> {
    return this.writes.transaction(async (em) => {
      markChanged(em, 'quota');
      const convSql =
        'SELECT c.owner AS owner, SUM(m.bytes) AS bytes FROM conversation_messages m JOIN conversations c ON c.id = m.conversation_id' +
        (user === undefined ? '' : ' WHERE c.owner = ?') +
        ' GROUP BY c.owner';
      const conv = (await em.query(convSql, user === undefined ? [] : [this.opts.domain.aor(user)])) as { owner: string; bytes: number }[];
      // deferred bodies are sealed: the ledger counts them as sent (message-cipher.ts SEALED_OVERHEAD)
      const defSql =
        'SELECT recipient, SUM(MAX(LENGTH(body) - 28, 0)) AS bytes FROM deferred_messages WHERE sender_aor != ?' + (user === undefined ? '' : ' AND recipient = ?') + ' GROUP BY recipient';
      const def = (await em.query(defSql, user === undefined ? [this.opts.serviceAor] : [this.opts.serviceAor, user])) as { recipient: string; bytes: number }[];
      const fresh = new Map<string, { conversation: number; deferred: number }>();
      const entry = (u: string) => fresh.get(u) ?? fresh.set(u, { conversation: 0, deferred: 0 }).get(u)!;
      for (const c of conv) entry(this.opts.domain.userOf(c.owner) ?? c.owner).conversation += Number(c.bytes);
      for (const d of def) entry(d.recipient).deferred += Number(d.bytes);
      const listed = user === undefined ? ((await em.query('SELECT username FROM storage_usage')) as { username: string }[]).map((r) => r.username) : [];
      const users = user === undefined ? new Set([...listed, ...this.rows.keys(), ...fresh.keys()]) : new Set([user]);
      const out: { user: string; before: number; after: number }[] = [];
      for (const u of users) {
        const f = fresh.get(u) ?? { conversation: 0, deferred: 0 };
        const row = this.row(u);
        out.push({ user: u, before: row.conversation + row.deferred, after: f.conversation + f.deferred });
        await em.query(
          'INSERT INTO storage_usage (username, conversation_bytes, deferred_bytes) VALUES (?, ?, ?) ON CONFLICT (username) DO UPDATE SET conversation_bytes = excluded.conversation_bytes, deferred_bytes = excluded.deferred_bytes',
          [u, f.conversation, f.deferred],
        );
        row.conversation = f.conversation;
        row.deferred = f.deferred;
      }
      return out.sort((a, b) => a.user.localeCompare(b.user));
    });
  }

  /** null when `bytes` more fit in the user's quota (counting what is admitted but not yet stored), else why not. */
  check(user: string, bytes: number): string | null {
    const u = this.usage(user);
    const taken = u.usedBytes + (this.reserved.get(user) ?? 0);
    if (taken + bytes <= u.quotaBytes) return null;
    // what is admitted but not yet committed is used too (a burst's earlier messages)
    return `Storage quota reached (${taken} of ${u.quotaBytes} bytes used)`;
  }

  /** `check`, and when the bytes fit they are reserved until charged or released; a refusal tells the user once. */
  private admit(user: string, bytes: number): string | null {
    const refusal = this.check(user, bytes);
    if (refusal === null) this.reserved.set(user, (this.reserved.get(user) ?? 0) + bytes);
    else this.reached(user);
    return refusal;
  }

  private unreserve(user: string, bytes: number): void {
    const left = (this.reserved.get(user) ?? 0) - bytes;
    if (left > 0) this.reserved.set(user, left);
    else this.reserved.delete(user);
  }

  /** Inside the write's transaction: the ledger's SQL increment, then the mirror, then the thresholds. */
  private async charge(em: EntityManager, user: string, column: Column, delta: number): Promise<void> {
    if (delta === 0) return;
    markChanged(em, 'quota');
    await em.query(`INSERT INTO storage_usage (username, ${column}) VALUES (?, ?) ON CONFLICT (username) DO UPDATE SET ${column} = ${column} + excluded.${column}`, [user, delta]);
    const row = this.row(user);
    if (column === 'conversation_bytes') row.conversation += delta;
    else row.deferred += delta;
    if (delta > 0) this.unreserve(user, delta);
    await this.evaluate(em, user, delta < 0);
  }

  /**
   * Warns once per threshold crossing: a level above the one stored is told and stored; with
   * `mayLower` (usage went down, or the quota changed) a lower level is stored silently, so the
   * next crossing is told again.
   */
  private async evaluate(em: EntityManager, user: string, mayLower: boolean): Promise<void> {
    // only the server, which can tell the user, moves the warned level (the CLI leaves it to it)
    if (this.onWarning === null) return;
    const row = this.row(user);
    const level = levelOf(row.conversation + row.deferred, this.quotaOf(user), this.thresholds);
    if (level === row.warned || (level < row.warned && !mayLower)) return;
    const before = row.warned;
    row.warned = level;
    if (level >= 100 && before < 100) this.countReaching(user);
    markChanged(em, 'quota');
    await em.query('INSERT INTO storage_usage (username, warned_level) VALUES (?, ?) ON CONFLICT (username) DO UPDATE SET warned_level = excluded.warned_level', [user, level]);
    if (level > before) this.warn(user, level);
  }

  /**
   * How many times `user` has reached their quota since start (a crossing to 100 %): counted at
   * once, where the crossing's notice waits for its turn, so a refusal knows which crossing it
   * belongs to (history/refusal-notices.ts tells each conversation once per crossing).
   */
  timesReached(user: string): number {
    return this.reachings.get(user) ?? 0;
  }

  private countReaching(user: string): void {
    this.reachings.set(user, (this.reachings.get(user) ?? 0) + 1);
  }

  /** A store was refused: the user hears "quota reached" once, until usage goes down again. */
  private reached(user: string): void {
    const row = this.row(user);
    if (row.warned >= 100) return;
    row.warned = 100;
    this.countReaching(user);
    void this.writes
      .transaction((em) => {
        markChanged(em, 'quota');
        return em.query('INSERT INTO storage_usage (username, warned_level) VALUES (?, 100) ON CONFLICT (username) DO UPDATE SET warned_level = 100', [user]);
      })
      .catch(() => undefined);
    this.warn(user, 100);
  }

  private warn(user: string, level: number): void {
    const usage = this.usage(user);
    // after the current write's turn: the notice is a write of its own when it is stored
    if (this.onWarning !== null) setImmediate(() => this.onWarning?.({ level, usage }));
  }

  private row(user: string): Row {
    let r = this.rows.get(user);
    if (r === undefined) {
      r = { conversation: 0, deferred: 0, warned: 0 };
      this.rows.set(user, r);
    }
    return r;
  }

  private async read(em: EntityManager): Promise<void> {
    const before = new Map([...this.known()].map((u) => [u, this.usage(u)]));
    const usage = (await em.query('SELECT username, conversation_bytes AS c, deferred_bytes AS d, warned_level AS w FROM storage_usage')) as { username: string; c: number; d: number; w: number }[];
    const quotas = (await em.query('SELECT username, bytes FROM storage_quotas')) as { username: string; bytes: number }[];
    // the warned level is moved by this server only (the CLI leaves it): what it holds in memory may be
    // ahead of the store (a "reached" notice whose write is still queued), so a reload keeps it
    const held = this.rows;
    this.rows = new Map(usage.map((r) => [r.username, { conversation: Number(r.c), deferred: Number(r.d), warned: held.get(r.username)?.warned ?? Number(r.w) }]));
    this.overrides = new Map(quotas.map((q) => [q.username, Number(q.bytes)]));
    // another process changed a quota or recounted: those users' levels follow, up (told) or down
    for (const u of this.known()) {
      const was = before.get(u);
      const now = this.usage(u);
      if (was !== undefined && was.usedBytes === now.usedBytes && was.quotaBytes === now.quotaBytes) continue;
      if (was === undefined && now.usedBytes === 0) continue;
      await this.evaluate(em, u, true);
    }
  }
}
