import type { DocumentStore } from '../xdms/document-store.js';
import type { Logger } from '../log.js';
import { PREFERENCES_AUID, parsePreferences } from '../im/participating/terminating-policy.js';

export interface StoragePolicyOptions {
  /** `history.storeAll`: the site stores every user's conversations */
  storeAll: boolean;
}

/**
 * Who has their conversations stored without asking each time (H1, Y3): everyone when the site
 * says so (`history.storeAll`), else the users whose im-preferences document says
 * `<store-conversations>true</store-conversations>` ("store all my conversations").
 *
 * Asked on the pager's and the session's hot paths, so the answer is synchronous: the users who
 * prefer it are read once at start-up and kept current from the document store's change events.
 * Those events are this node's; another node learns of an edit when it re-reads (see
 * docs/architecture.md, "Stored conversations").
 */
export class StoragePolicy {
  private readonly users = new Set<string>();
  /** per owner, a change counter: a read that raced an edit does not overwrite it */
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly docs: DocumentStore,
    private readonly opts: StoragePolicyOptions,
    private readonly log: Logger,
  ) {}

  /** Reads every user's preference once and follows later edits. */
  async load(): Promise<void> {
    this.docs.onChange((change) => {
      if (change.auid !== PREFERENCES_AUID || change.path !== 'index') return;
      void this.reread(change.owner);
    });
    for (const row of await this.docs.listAuid(PREFERENCES_AUID)) {
      if (row.path === 'index') this.set(row.owner, parsePreferences(row.content).storeConversations);
    }
  }

  /** Whether everything `aor` takes part in is stored for them without a request. */
  storesAll(aor: string): boolean {
    return this.opts.storeAll || this.users.has(aor.toLowerCase());
  }

  /** Whether anyone at all has "store everything" (a cheap first test). */
  get anyone(): boolean {
    return this.opts.storeAll || this.users.size > 0;
  }

  private async reread(owner: string): Promise<void> {
    const generation = (this.generations.get(owner) ?? 0) + 1;
    this.generations.set(owner, generation);
    try {
      const row = await this.docs.get({ auid: PREFERENCES_AUID, owner, path: 'index' });
      if (this.generations.get(owner) !== generation) return;
      this.set(owner, row === null ? false : parsePreferences(row.content).storeConversations);
    } catch (err) {
      this.log.warn({ err, owner }, 'storage preference not re-read');
    }
  }

  private set(owner: string, on: boolean): void {
    if (on) this.users.add(owner.toLowerCase());
    else this.users.delete(owner.toLowerCase());
  }
}
