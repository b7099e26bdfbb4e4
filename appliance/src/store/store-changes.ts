import type { DataSource, EntityManager } from 'typeorm';
import { StoreChangeEntity } from './entities.js';
import { writesOf, type WriteQueue } from './write-queue.js';
import type { Logger } from '../log.js';

/** What a node caches from the store, one counter each in `store_changes`. */
export type StoreTopic = 'users' | 'profiles' | 'quota' | 'recordings' | `documents:${string}`;

/** The topic of one XCAP application usage's documents (caches of them follow it). */
export function documentsTopic(auid: string): StoreTopic {
  return `documents:${auid}`;
}

/**
 * The application usages whose documents a node caches across nodes (storage-policy.ts: the
 * im-preferences' "store everything"). Only their writes bump a topic: a bump is two statements
 * more in the commit, a quarter of an XCAP element PUT's server time, and no node follows the
 * other usages (every node runs the same code, so this set is the same everywhere, the CLI too).
 */
const FOLLOWED_USAGES: ReadonlySet<string> = new Set(['im-preferences']);

/** The topic a write of `auid`'s documents marks, or null when no node follows that usage. */
export function followedDocumentsTopic(auid: string): StoreTopic | null {
  return FOLLOWED_USAGES.has(auid) ? documentsTopic(auid) : null;
}

/**
 * Inside a write-queue transaction: this write changes `topic`'s data, so the transaction's commit
 * bumps its counter and every node's watcher reloads that cache.
 */
export function markChanged(em: EntityManager, topic: StoreTopic): void {
  writesOf(em.connection).markChanged(topic);
}

interface Subscription {
  /** the version this node's cache is known to reflect */
  seen: number;
  reload: () => Promise<void>;
}

export interface StoreChangeWatcherOptions {
  /** how often the counters are read (ms) */
  intervalMs: number;
}

/**
 * Tells this node's caches of the store (users, service profiles, the quota ledger, recording
 * conversations, storage preferences) that another node or process changed their data. Every
 * write that changes cached data bumps its topic's counter row in `store_changes` inside its own
 * transaction (`markChanged`); the watcher reads that one small table once per interval, for all
 * topics, and calls the reload of each topic whose counter moved. The node's own commits move the
 * counters too: a commit that takes a topic exactly one past what this node has seen is this
 * node's alone, and its cache is already current, so it reloads nothing.
 *
 * The same on PostgreSQL (a plain SELECT of the table; no LISTEN/NOTIFY needed). On SQLite the
 * poll first asks `PRAGMA data_version`, which moves only when another connection commits
 * (sqlite.org/pragma.html#pragma_data_version), and skips the query while nothing changed.
 *
 * @example
 * const changes = new StoreChangeWatcher(ds, { intervalMs: 500 }, log);
 * await changes.open();            // before the caches load: a change meanwhile is not missed
 * await users.load();
 * changes.subscribe('users', () => users.reload());
 * changes.start();
 */
export class StoreChangeWatcher {
  private readonly topics = new Map<string, Subscription>();
  /** versions read by `open`, for topics subscribed after it */
  private opened = new Map<string, number>();
  private readonly writes: WriteQueue;
  private readonly sqlite: boolean;
  private dataVersion = -1;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;

  constructor(
    private readonly ds: DataSource,
    private readonly opts: StoreChangeWatcherOptions,
    private readonly log?: Logger,
  ) {
    this.writes = writesOf(ds);
    this.sqlite = ds.options.type === 'sqlite';
  }

  /** Reads every topic's version: what the caches loaded after this reflect at least. */
  async open(): Promise<void> {
    this.opened = await this.versions();
    this.writes.onTopicsCommitted = (versions) => {
      for (const [topic, v] of versions) {
        const t = this.topics.get(topic);
        // one past what we had seen: no other writer came between, and our cache made this change itself
        if (t !== undefined && v === t.seen + 1) t.seen = v;
      }
    };
  }

  /** `reload` is called whenever another node or process has changed `topic`'s data. */
  subscribe(topic: StoreTopic, reload: () => Promise<void>): void {
    this.topics.set(topic, { seen: this.opened.get(topic) ?? 0, reload });
  }

  /** Polls every `intervalMs` until `stop`. */
  start(): void {
    this.timer = setInterval(() => void this.poll(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round: reads the counters (unless SQLite says no other connection committed) and reloads what moved. */
  poll(): Promise<void> {
    this.polling ??= this.round().finally(() => (this.polling = null));
    return this.polling;
  }

  private async round(): Promise<void> {
    try {
      if (this.sqlite) {
        const rows = (await this.ds.query('PRAGMA data_version')) as { data_version: number }[];
        const v = rows[0]?.data_version ?? 0;
        if (v === this.dataVersion) return;
        this.dataVersion = v;
      }
      for (const [topic, version] of await this.versions()) {
        const t = this.topics.get(topic);
        if (t === undefined || version <= t.seen) continue;
        const before = t.seen;
        t.seen = version;
        try {
          await t.reload();
          this.log?.debug({ topic, version }, 'cache reloaded after a change by another node');
        } catch (err) {
          // tried again at the next round
          t.seen = before;
          this.dataVersion = -1;
          this.log?.warn({ err, topic }, 'cache reload failed');
        }
      }
    } catch (err) {
      this.dataVersion = -1;
      this.log?.warn({ err }, 'store change poll failed');
    }
  }

  /**
   * Every topic's version. Read through the write queue: on SQLite the single connection is shared
   * with the queue's transactions, and a read in the middle of one would see its uncommitted bumps.
   */
  private async versions(): Promise<Map<string, number>> {
    const rows = await this.writes.transaction((em) => em.getRepository(StoreChangeEntity).find());
    return new Map(rows.map((r) => [r.topic, r.version]));
  }
}
