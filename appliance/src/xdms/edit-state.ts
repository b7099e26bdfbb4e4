import { DOMParser } from '@xmldom/xmldom';
import type { DocumentKey, DocumentStore } from './document-store.js';
import { ParsedDocumentCache } from './parsed-cache.js';
import type { XmlDocument } from './xml-intake.js';

/** A document as the next edit of it must see it: its DOM and the ETag of those bytes. */
export interface EditBase {
  dom: XmlDocument;
  etag: string;
  /** characters of its serialised form (the cache's budget counts them) */
  chars: number;
  /**
   * that serialised form, the stored text, when known: an element replacement is spliced into it
   * (element-span.ts) instead of the whole document being serialised again
   */
  text?: string;
}

/**
 * The latest state of the documents being edited by element and attribute PUTs
 * and DELETEs (RFC 4825 §8.2.5, §8.4: read, modify, validate, write), so that
 *
 * - an edit starts from the validated DOM the previous edit left, instead of
 *   reading and parsing the whole document again;
 * - the next edit of a document can be prepared while the previous one is still
 *   being committed: its write is queued behind the other in the store's write
 *   queue, which commits in order and shares one transaction (one fsync) among
 *   writes that arrive together.
 *
 * Nothing here is trusted on its own. Without a write of ours in flight, the DOM
 * is used only if its ETag is still the stored one (another node sharing the
 * database, or any other writer, changes it); with writes in flight, each one
 * carries the ETag it was made on as If-Match, which the store checks inside its
 * transaction, so an edit made on a state that never got stored fails there
 * (412) and the cached state is dropped. A DOM is taken out while an edit
 * changes it and put back only once that edit's write is queued: a failed edit
 * leaves nothing behind.
 */
export class EditState {
  private readonly doms: ParsedDocumentCache;
  /** per document: how many of our writes are queued, and the last of them */
  private readonly inflight = new Map<string, { count: number; last: Promise<unknown> }>();

  constructor(
    private readonly store: DocumentStore,
    /** estimated heap bytes of the DOMs kept between edits; 0 = none kept */
    maxBytes: number,
  ) {
    this.doms = new ParsedDocumentCache(maxBytes);
  }

  /**
   * The state an edit of `key` starts from (owned by the caller until it calls
   * `queued`), or null when there is no such document. Call under the document's
   * edit mutex.
   */
  async take(key: DocumentKey): Promise<EditBase | null> {
    const id = idOf(key);
    const cached = this.doms.take(key);
    const pending = this.inflight.get(id);
    // the state our last queued write makes: the store will hold it unless that write fails
    if (cached !== null && pending !== undefined) return cached;
    // no DOM of that state (an edit after it failed): read it once it is stored
    if (pending !== undefined) await pending.last.catch(() => undefined);
    if (cached !== null && (await this.store.currentEtag(key)) === cached.etag) return cached;
    const row = await this.store.get(key);
    if (row === null) return null;
    return { dom: new DOMParser().parseFromString(row.content, 'text/xml'), etag: row.etag, chars: row.content.length, text: row.content };
  }

  /**
   * An edit's write is queued: its DOM is the state the next edit starts from.
   * If the write fails, that state is dropped (the next edit reads the store).
   */
  queued(key: DocumentKey, next: EditBase, write: Promise<unknown>): void {
    const id = idOf(key);
    this.doms.keep(key, next.etag, next.dom, next.chars, next.text);
    const entry = this.inflight.get(id) ?? { count: 0, last: write };
    entry.count++;
    entry.last = write;
    this.inflight.set(id, entry);
    write.then(
      () => this.settled(id),
      () => {
        this.doms.drop(key);
        this.settled(id);
      },
    );
  }

  /** A document was written or deleted another way (a whole-document PUT or DELETE): forget its DOM. */
  forget(key: DocumentKey): void {
    this.doms.drop(key);
  }

  private settled(id: string): void {
    const entry = this.inflight.get(id);
    if (entry !== undefined && --entry.count === 0) this.inflight.delete(id);
  }
}

const idOf = (k: DocumentKey): string => `${k.auid}\u0000${k.owner}\u0000${k.path}`;
