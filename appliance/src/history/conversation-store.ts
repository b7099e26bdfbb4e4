import { randomBytes } from 'node:crypto';
import type { DataSource, EntityManager, Repository } from 'typeorm';
import { In } from 'typeorm';
import { ConversationEntity, ConversationMessageEntity, type ConversationRow, type ConversationMessageRow } from '../store/entities.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';
import { markChanged, type StoreChangeWatcher } from '../store/store-changes.js';
import type { MessageCipher } from '../im/deferred/message-cipher.js';
import { storableContent } from './stored-text.js';
import { AppendBatch } from './append-batch.js';
import type { UsageSink } from '../usage/usage-types.js';

/** A message handed to storage: who sent it to whom, and its content as it travelled. */
export interface NewConversationMessage {
  sender: string;
  recipients: string[];
  contentType: string;
  body: Buffer;
}

/** A stored message as its owner reads it back: the body opened. */
export interface ReadMessage extends Omit<ConversationMessageRow, 'body' | 'recipients'> {
  recipients: string[];
  body: Buffer;
}

/**
 * Counts what each user stores against their quota (H3); the quota module implements it.
 * `admit` is asked synchronously before a write is queued, so a burst cannot overshoot;
 * `charge` runs inside the write's own transaction, so the count and the data never disagree.
 */
export interface StorageAccount {
  /** null when `bytes` more may be stored for `owner`, else the reason storage is refused */
  admit(owner: string, bytes: number): string | null;
  charge(em: EntityManager, owner: string, deltaBytes: number): Promise<void>;
  /** gives back bytes `admit` let in that were not charged after all (the conversation was gone, the write failed) */
  release?(owner: string, bytes: number): void;
  /** like `admit`, without reserving anything: would `bytes` more be refused, and why */
  check?(owner: string, bytes: number): string | null;
}

/** Why a message was not stored. */
export type AppendRefusal = { refused: 'notification' } | { refused: 'gone' } | { refused: 'quota'; reason: string } | { refused: 'profile'; reason: string };

/**
 * Changes an owner makes to their stored conversations in one go (the im-history document, H1):
 * deletions, renames, stopped recordings and re-saves (a copy of a conversation under a new name).
 */
export interface ConversationChanges {
  remove: string[];
  rename: { publicId: string; name: string }[];
  stop: string[];
  copy: { of: string; name: string }[];
}

/** What applying {@link ConversationChanges} came to: the new conversations of the copies, in order. */
export type ChangesOutcome = { created: string[] } | { stale: true } | { refused: 'quota'; reason: string };

export interface ConversationStoreOptions {
  /** index the words of text messages for keyword search (conversation_fts) */
  keywordIndex: boolean;
}

/**
 * The IM conversation storage database (seed 5.4.7, H1): conversations owned by one user, their
 * messages sealed at rest with the message store's key (as deferred messages are, P2), each stamped
 * with the server's time. Every write goes through the store's write queue; a message, its index
 * entry, its conversation's counters and its owner's quota charge commit together.
 *
 * Recording conversations (the ones new messages go to) are kept in memory by owner and capture
 * key, so the pager's hot path asks a Map, not SQLite. Every write that starts or ends a recording
 * bumps the `recordings` topic, so another node (`follow`) reloads them within its watch interval.
 */
export class ConversationStore {
  private readonly repo: Repository<ConversationRow>;
  private readonly writes: WriteQueue;
  private readonly batch: AppendBatch;
  /** `${owner}\n${captureKey}` → the recording conversation */
  private readonly recording = new Map<string, ConversationRow>();
  /** starts under way, by owner and capture key (start() is single-flight per conversation) */
  private readonly starting = new Map<string, Promise<ConversationRow>>();
  /** appends that arrived while their conversation's start was under way, in arrival order, by owner and capture key */
  private readonly waitingForStart = new Map<string, ((row: ConversationRow | null, err?: unknown) => void)[]>();
  /** owners with at least one recording conversation (a cheap first test on the pager's path) */
  private readonly recordingOwners = new Map<string, number>();
  /** this node's starts and stops so far: a reload that raced one of them reads again */
  private localEdits = 0;
  account: StorageAccount | null = null;
  /** Usage records (C5): each message stored or refused, each conversation deleted with the bytes it freed. */
  usage: UsageSink | null = null;
  /** the owner's service profile (Y1): null when `owner` may store, else why not; asked before the quota */
  gate: ((owner: string) => string | null) | null = null;
  /** told after a committed change to one of `owner`'s conversations (a new one, a new message, an edit) */
  onChanged: ((owner: string) => void) | null = null;

  constructor(
    private readonly ds: DataSource,
    private readonly cipher: MessageCipher,
    private readonly opts: ConversationStoreOptions,
  ) {
    this.repo = ds.getRepository(ConversationEntity);
    this.writes = writesOf(ds);
    this.batch = new AppendBatch(this.writes, () => this.account, opts.keywordIndex);
  }

  async load(): Promise<void> {
    for (const c of await this.repo.find({ where: { recording: true } })) this.remember(c);
  }

  /** Reloads the recording conversations whenever another node or process starts or stops one. */
  follow(changes: StoreChangeWatcher): void {
    changes.subscribe('recordings', () => this.reloadRecordings());
  }

  private async reloadRecordings(): Promise<void> {
    for (;;) {
      const edits = this.localEdits;
      // through the write queue: after this node's starts and stops queued before it
      const rows = await this.writes.transaction((em) => em.find(ConversationEntity, { where: { recording: true } }));
      // one of our own starts or stops landed while reading: what was read may predate it
      if (edits !== this.localEdits) continue;
      this.recording.clear();
      this.recordingOwners.clear();
      for (const c of rows) this.remember(c);
      return;
    }
  }

  /** Whether `owner` records anything now. */
  records(owner: string): boolean {
    return this.recordingOwners.has(owner);
  }

  /** The conversation recording under `captureKey` for `owner`, if one is. */
  recordingFor(owner: string, captureKey: string): ConversationRow | undefined {
    return this.recording.get(`${owner}\n${captureKey}`);
  }

  /**
   * Stores `m` in `owner`'s conversation recording under `captureKey`, starting that conversation
   * first with `startAs` when none records (null: store only where one records). Messages stored
   * this way keep the order of the calls, also across a start: the ones that wait for it are
   * queued in the same step that makes the new conversation visible, so a message accepted later
   * cannot overtake one waiting for the row (both would otherwise resume from the same store
   * commit, in whichever order their promise chains happen to run). Resolves undefined when
   * nothing records it.
   */
  appendRecording(
    owner: string,
    captureKey: string,
    startAs: { kind: string; peers: string[]; name: string } | null,
    m: NewConversationMessage,
    at = Date.now(),
  ): Promise<{ conversation: ConversationRow; stored: ReadMessage | AppendRefusal } | undefined> {
    const key = `${owner}\n${captureKey}`;
    const appendTo = async (conversation: ConversationRow) => ({ conversation, stored: await this.append(conversation, m, at) });
    const waiting = this.waitingForStart.get(key);
    if (waiting === undefined) {
      const recording = this.recording.get(key);
      if (recording !== undefined) return appendTo(recording);
      if (startAs === null) return Promise.resolve(undefined);
      const list: ((row: ConversationRow | null, err?: unknown) => void)[] = [];
      this.waitingForStart.set(key, list);
      // the list is handed over where the row becomes known (insertRecording). When start() gave us
      // a start already past that point (its row handed to an earlier list, then stopped before
      // the start's promise settled), it is handed over here, so that it never waits for good.
      const release = (row: ConversationRow | null, err?: unknown): void => {
        if (this.waitingForStart.get(key) === list) this.releaseWaiting(key, row, err);
      };
      this.start(owner, startAs.kind, captureKey, startAs.peers, startAs.name).then(
        (row) => release(row),
        (err: unknown) => release(null, err),
      );
    }
    return new Promise((resolve, reject) => {
      this.waitingForStart.get(key)!.push((row, err) => (row === null ? reject(err) : resolve(appendTo(row))));
    });
  }

  /** Queues the appends that waited for `key`'s start, in their order, onto `row` (or fails them). */
  private releaseWaiting(key: string, row: ConversationRow | null, err?: unknown): void {
    const waiting = this.waitingForStart.get(key);
    if (waiting === undefined) return;
    this.waitingForStart.delete(key);
    for (const w of waiting) w(row, err);
  }

  /**
   * Starts recording (or finds the conversation already recording) under `captureKey`. `publicId`
   * lets a caller name the conversation on the wire before the row is written (a session's 200).
   */
  start(owner: string, kind: string, captureKey: string, peers: string[], name: string, publicId = newPublicId()): Promise<ConversationRow> {
    const existing = this.recordingFor(owner, captureKey);
    if (existing) return Promise.resolve(existing);
    // one start per conversation at a time: two messages of a new pager conversation arriving
    // together both wait for the same row, and append in the order they asked (not two rows)
    const key = `${owner}\n${captureKey}`;
    const inFlight = this.starting.get(key);
    if (inFlight !== undefined) return inFlight;
    const started = this.insertRecording(owner, kind, captureKey, peers, name, publicId).finally(() => this.starting.delete(key));
    this.starting.set(key, started);
    return started;
  }

  private async insertRecording(owner: string, kind: string, captureKey: string, peers: string[], name: string, publicId: string): Promise<ConversationRow> {
    this.localEdits++;
    const row = await this.writes.transaction(async (em) => {
      // another node (or process) may have started it since our cache was read: the unique
      // recording index would refuse a second row, so that one is adopted
      const theirs = await em.findOne(ConversationEntity, { where: { owner, captureKey, recording: true } });
      if (theirs !== null) return theirs;
      markChanged(em, 'recordings');
      const now = Date.now();
      const fresh: Omit<ConversationRow, 'id'> = {
        publicId,
        owner,
        kind,
        captureKey,
        name,
        peers: JSON.stringify(peers),
        recording: true,
        createdAt: now,
        firstAt: 0,
        lastAt: 0,
        messageCount: 0,
        bytes: 0,
      };
      const result = await em.insert(ConversationEntity, fresh);
      return { ...fresh, id: Number(result.identifiers[0].id) };
    });
    // two starts may have raced; the first one remembered wins and the other row stays as a plain conversation
    const raced = this.recordingFor(owner, captureKey);
    if (raced && raced.id !== row.id) {
      // before the await: a message accepted meanwhile sees `raced` and must queue after these
      this.releaseWaiting(`${owner}\n${captureKey}`, raced);
      await this.writes.transaction((em) => {
        markChanged(em, 'recordings');
        return em.update(ConversationEntity, { id: row.id }, { recording: false });
      });
      return raced;
    }
    if (raced) this.forget(raced);
    this.remember(row);
    this.releaseWaiting(`${owner}\n${captureKey}`, row);
    this.onChanged?.(owner);
    return row;
  }

  /** Stops recording under `captureKey` (the session ended, or the owner asked); the conversation stays. */
  async stop(owner: string, captureKey: string): Promise<void> {
    const c = this.recordingFor(owner, captureKey);
    if (!c) return;
    this.forget(c);
    this.localEdits++;
    await this.writes.transaction((em) => {
      markChanged(em, 'recordings');
      return em.update(ConversationEntity, { id: c.id }, { recording: false });
    });
    this.onChanged?.(owner);
  }

  /**
   * Whether anything more `owner` stores would be refused now: their profile allows no storage, or
   * they are at their quota (asked without reserving; a session's set-up says so in its answer).
   * With `peer`, a conversation with them is refused before it starts: a usage record (C5), as a
   * refused message is.
   */
  refusalFor(owner: string, peer?: string): Extract<AppendRefusal, { reason: string }> | null {
    const barred = this.gate?.(owner) ?? null;
    const full = barred === null ? (this.account?.check?.(owner, 1) ?? null) : null;
    const refusal = barred !== null ? ({ refused: 'profile', reason: barred } as const) : full !== null ? ({ refused: 'quota', reason: full } as const) : null;
    if (refusal !== null && peer !== undefined) this.usage?.record({ kind: 'conversation', user: owner, peer, outcome: 'refused', reason: refusal.reason, bytes: 0 });
    return refusal;
  }

  /**
   * Stores one message in a conversation, stamped now. IMDNs are not content and are not stored;
   * for an owner whose profile allows no storage, or past the owner's quota, nothing is stored (the caller says so; live delivery is not its business).
   */
  async append(conversation: ConversationRow, m: NewConversationMessage, at = Date.now()): Promise<ReadMessage | AppendRefusal> {
    const content = storableContent(m.contentType, m.body);
    if (content.notification) return { refused: 'notification' };
    const bytes = m.body.length;
    const peer = (JSON.parse(conversation.peers) as string[])[0] ?? '';
    const barred = this.gate?.(conversation.owner) ?? null;
    if (barred !== null) {
      this.usage?.record({ kind: 'conversation', at, user: conversation.owner, peer, outcome: 'refused', reason: barred, bytes });
      return { refused: 'profile', reason: barred };
    }
    const refusal = this.account?.admit(conversation.owner, bytes) ?? null;
    if (refusal !== null) {
      this.usage?.record({ kind: 'conversation', at, user: conversation.owner, peer, outcome: 'refused', reason: refusal, bytes });
      return { refused: 'quota', reason: refusal };
    }
    const row: Omit<ConversationMessageRow, 'id'> = {
      conversationId: conversation.id,
      sender: m.sender,
      recipients: JSON.stringify(m.recipients),
      contentType: m.contentType,
      body: this.cipher.encrypt(m.body, aad(conversation.publicId)),
      bytes,
      storedAt: at,
      messageId: content.messageId,
    };
    // written with the other appends of this write-queue turn (append-batch.ts): row, index entry, counters and charge commit together
    const id = await this.batch.add({ row, owner: conversation.owner, text: content.text }).catch((err: unknown) => {
      this.account?.release?.(conversation.owner, bytes);
      throw err;
    });
    const stored: ReadMessage | AppendRefusal = id === null ? { refused: 'gone' } : { ...row, id, recipients: m.recipients, body: m.body };
    const refused = 'refused' in stored;
    if (refused) this.account?.release?.(conversation.owner, bytes);
    else this.onChanged?.(conversation.owner);
    this.usage?.record({ kind: 'conversation', at, user: conversation.owner, peer, outcome: refused ? 'refused' : 'stored', reason: refused ? 'conversation deleted' : null, bytes });
    return stored;
  }

  /** The owner's conversations, newest activity first. */
  list(owner: string): Promise<ConversationRow[]> {
    return this.repo.find({ where: { owner }, order: { lastAt: 'DESC', id: 'DESC' } });
  }

  /** A conversation by its public id (any owner: callers check ownership). */
  async get(publicId: string): Promise<ConversationRow | null> {
    return this.repo.findOne({ where: { publicId } });
  }

  /** Conversations by public id, in one query. */
  getMany(publicIds: string[]): Promise<ConversationRow[]> {
    return publicIds.length === 0 ? Promise.resolve([]) : this.repo.find({ where: { publicId: In(publicIds) } });
  }

  /** Replaces a conversation's peers (a room's participants as they are seen). */
  async setPeers(conversation: ConversationRow, peers: string[]): Promise<void> {
    conversation.peers = JSON.stringify(peers);
    await this.writes.transaction((em) => em.update(ConversationEntity, { id: conversation.id }, { peers: conversation.peers }));
  }

  async rename(publicId: string, name: string): Promise<boolean> {
    const owner = await this.writes.transaction(async (em) => {
      const row = await em.findOne(ConversationEntity, { where: { publicId } });
      if (row === null) return null;
      await em.update(ConversationEntity, { id: row.id }, { name });
      return row.owner;
    });
    if (owner !== null) this.onChanged?.(owner);
    return owner !== null;
  }

  /**
   * Deletes a conversation with all its messages and index entries, and gives its bytes back to the
   * owner's quota, in one transaction (H1: a deleted reference deletes the messages).
   * Resolves false when there was no such conversation.
   */
  async remove(publicId: string): Promise<boolean> {
    this.localEdits++;
    const gone = await this.writes.transaction(async (em) => {
      const rows = (await em.query('SELECT id, owner, bytes, peers FROM conversations WHERE public_id = ?', [publicId])) as { id: number; owner: string; bytes: number; peers: string }[];
      if (rows.length === 0) return null;
      markChanged(em, 'recordings');
      const { id, owner } = rows[0];
      await em.query('DELETE FROM conversation_fts WHERE rowid IN (SELECT id FROM conversation_messages WHERE conversation_id = ?)', [id]);
      await em.query('DELETE FROM conversation_messages WHERE conversation_id = ?', [id]);
      await em.query('DELETE FROM conversations WHERE id = ?', [id]);
      await this.account?.charge(em, owner, -Number(rows[0].bytes));
      return { id, owner, bytes: Number(rows[0].bytes), peer: (JSON.parse(rows[0].peers) as string[])[0] ?? '' };
    });
    if (gone === null) return false;
    this.usage?.record({ kind: 'conversation', user: gone.owner, peer: gone.peer, outcome: 'deleted', bytes: gone.bytes });
    for (const c of this.recording.values()) if (c.id === gone.id) this.forget(c);
    this.onChanged?.(gone.owner);
    return true;
  }

  /**
   * Applies an owner's changes to their conversations in one transaction (H1: XCAP operations act
   * on the stored data atomically): all of them or none. `unchanged` is asked first, inside the
   * transaction, with the owner's conversations as they are now: false when they are no longer
   * what the changes were worked out from (another writer came first), and nothing is done
   * ({ stale }). A copy re-seals every message for its new conversation (bodies are bound to
   * their conversation) and counts against the owner's quota.
   */
  async applyChanges(owner: string, changes: ConversationChanges, unchanged: (rows: ConversationRow[]) => boolean): Promise<ChangesOutcome> {
    this.localEdits++;
    const removed: ConversationRow[] = [];
    const copied: ConversationRow[] = [];
    const outcome = await this.writes.transaction(async (em): Promise<ChangesOutcome & { gone?: number[] }> => {
      removed.length = copied.length = 0;
      const rows = await em.find(ConversationEntity, { where: { owner } });
      if (!unchanged(rows)) return { stale: true };
      const byId = new Map(rows.map((r) => [r.publicId, r]));
      const copyBytes = changes.copy.reduce((n, c) => n + (byId.get(c.of)?.bytes ?? 0), 0);
      const refusal = copyBytes > 0 ? (this.account?.admit(owner, copyBytes) ?? null) : null;
      if (refusal !== null) return { refused: 'quota', reason: refusal };
      const created: string[] = [];
      for (const c of changes.copy) {
        created.push(await this.copyIn(em, byId.get(c.of)!, c.name));
        copied.push(byId.get(c.of)!);
      }
      for (const r of changes.rename) await em.update(ConversationEntity, { id: byId.get(r.publicId)!.id }, { name: r.name });
      if (changes.stop.length > 0 || changes.remove.length > 0) markChanged(em, 'recordings');
      for (const id of changes.stop) await em.update(ConversationEntity, { id: byId.get(id)!.id }, { recording: false });
      const gone: number[] = [];
      for (const id of changes.remove) {
        const row = byId.get(id)!;
        removed.push(row);
        await em.query('DELETE FROM conversation_fts WHERE rowid IN (SELECT id FROM conversation_messages WHERE conversation_id = ?)', [row.id]);
        await em.query('DELETE FROM conversation_messages WHERE conversation_id = ?', [row.id]);
        await em.query('DELETE FROM conversations WHERE id = ?', [row.id]);
        gone.push(row.id);
      }
      const delta = copyBytes - changes.remove.reduce((n, id) => n + byId.get(id)!.bytes, 0);
      if (delta !== 0) await this.account?.charge(em, owner, delta);
      return { created, gone: [...gone, ...changes.stop.map((id) => byId.get(id)!.id)] };
    });
    if ('created' in outcome) {
      const ended = new Set(outcome.gone);
      for (const c of [...this.recording.values()]) if (ended.has(c.id)) this.forget(c);
      this.onChanged?.(owner);
      // C5: a re-save stores its bytes again, a deletion frees them
      const peerOf = (c: ConversationRow): string => (JSON.parse(c.peers) as string[])[0] ?? '';
      for (const c of copied) this.usage?.record({ kind: 'conversation', user: owner, peer: peerOf(c), outcome: 'stored', bytes: c.bytes });
      for (const c of removed) this.usage?.record({ kind: 'conversation', user: owner, peer: peerOf(c), outcome: 'deleted', bytes: c.bytes });
      return { created: outcome.created };
    }
    return outcome;
  }

  /** Copies a conversation with its messages (re-sealed) and index entries; returns the copy's public id. */
  private async copyIn(em: EntityManager, from: ConversationRow, name: string): Promise<string> {
    const publicId = randomBytes(12).toString('base64url');
    const fresh: Omit<ConversationRow, 'id'> = { ...from, publicId, name, captureKey: `resave:${publicId}`, recording: false, createdAt: Date.now() };
    delete (fresh as Partial<ConversationRow>).id;
    const id = Number((await em.insert(ConversationEntity, fresh)).identifiers[0].id);
    for (let after = 0; ; ) {
      const page = await em.getRepository(ConversationMessageEntity).createQueryBuilder('m').where('m.conversationId = :c AND m.id > :after', { c: from.id, after }).orderBy('m.id', 'ASC').limit(500).getMany();
      if (page.length === 0) break;
      for (const m of page) {
        const body = this.cipher.decrypt(m.body, aad(from.publicId));
        const row: Omit<ConversationMessageRow, 'id'> = { ...m, conversationId: id, body: this.cipher.encrypt(body, aad(publicId)) };
        delete (row as Partial<ConversationMessageRow>).id;
        const newId = Number((await em.insert(ConversationMessageEntity, row)).identifiers[0].id);
        const text = this.opts.keywordIndex ? storableContent(m.contentType, body).text : null;
        if (text !== null) await em.query('INSERT INTO conversation_fts (rowid, body) VALUES (?, ?)', [newId, text]);
      }
      after = page[page.length - 1].id;
    }
    return publicId;
  }

  /** A page of a conversation's messages in order, opened: those with id > `after`, at most `limit`. */
  async messages(conversation: ConversationRow, after = 0, limit = 100): Promise<ReadMessage[]> {
    const rows = await this.ds
      .getRepository(ConversationMessageEntity)
      .createQueryBuilder('m')
      .where('m.conversationId = :id AND m.id > :after', { id: conversation.id, after })
      .orderBy('m.id', 'ASC')
      .limit(limit)
      .getMany();
    return rows.map((r) => ({ ...r, recipients: JSON.parse(r.recipients) as string[], body: this.cipher.decrypt(r.body, aad(conversation.publicId)) }));
  }

  private remember(c: ConversationRow): void {
    this.recording.set(`${c.owner}\n${c.captureKey}`, c);
    this.recordingOwners.set(c.owner, (this.recordingOwners.get(c.owner) ?? 0) + 1);
  }

  private forget(c: ConversationRow): void {
    if (!this.recording.delete(`${c.owner}\n${c.captureKey}`)) return;
    const n = (this.recordingOwners.get(c.owner) ?? 1) - 1;
    if (n > 0) this.recordingOwners.set(c.owner, n);
    else this.recordingOwners.delete(c.owner);
  }
}

/** A new conversation's public id: url-safe and unguessable (96 random bits). */
export function newPublicId(): string {
  return randomBytes(12).toString('base64url');
}

/** Binds a sealed body to its conversation: a body moved to another conversation does not open. */
function aad(publicId: string): string {
  return `conversation:${publicId}`;
}
