import type { DocumentStore } from '../xdms/document-store.js';
import type { Logger } from '../log.js';
import { followedDocumentsTopic, type StoreChangeWatcher } from '../store/store-changes.js';
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
 * Those events are this node's; an edit on another node (or process) bumps the im-preferences
 * documents' topic, and `follow` reads every preference again (docs/architecture.md, "State and scale").
 */
export class StoragePolicy {
  private users = new Set<string>();
  /** this node's edits so far: a full re-read that raced one of them reads again */
  private edits = 0;
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
      this.edits++;
      void this.reread(change.owner);
    });
    await this.readAll();
  }

  /** Reads every preference again whenever another node or process edits an im-preferences document. */
  follow(changes: StoreChangeWatcher): void {
    // only followed usages' writes bump their topic (store-changes.ts): this one must be among them
    const topic = followedDocumentsTopic(PREFERENCES_AUID);
    if (topic === null) throw new Error(`${PREFERENCES_AUID} is not a followed usage (store-changes.ts)`);
    changes.subscribe(topic, () => this.readAll());
  }

  private async readAll(): Promise<void> {
    for (;;) {
      const edits = this.edits;
      const rows = await this.docs.listAuid(PREFERENCES_AUID);
      // an edit of this node's came in meanwhile: what was read may predate it
      if (edits !== this.edits) continue;
      const users = new Set<string>();
      for (const row of rows) if (row.path === 'index' && parsePreferences(row.content).storeConversations) users.add(row.owner.toLowerCase());
      this.users = users;
      return;
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
