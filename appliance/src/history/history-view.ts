import type { ConversationStore } from './conversation-store.js';
import { diffHistory, editableState, editableStateOf, HISTORY_DOCUMENT, renderHistory } from './history-document.js';
import type { DocumentChange } from '../xdms/document-store.js';
import { etagOf } from '../xdms/document-store.js';
import { conflict } from '../xdms/xcap-error.js';
import type { ViewDocument, XcapView } from '../xdms/xcap-view.js';
import { parseXmlBody, type XmlDocument } from '../xdms/xml-intake.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import type { Logger } from '../log.js';

export const HISTORY_AUID = 'im-history';

export interface HistoryViewOptions {
  /** the replay URI of a conversation (the SIP URI an INVITE replays it from) */
  replayUri: (publicId: string) => string;
  /** whether anyone watches `owner`'s documents (xcap-diff): only then is a change worked out and told */
  watched: (owner: string) => boolean;
}

/**
 * The im-history usage as a view of the conversation store (H1, seed 5.3.3): each user's
 * `im-history/users/<aor>/index` is generated from their stored conversations, and XCAP edits of
 * it rename, delete, stop and re-save conversations (history-document.ts says which edits mean
 * what). Changes to the conversations, whatever made them, are told to xcap-diff watchers as a
 * change of this document (RFC 5875 §4.4), each with the ETag before and after.
 */
export class HistoryView implements XcapView {
  /** told of each change of a watched user's document (wired to xcap-diff) */
  onDocumentChanged: ((change: DocumentChange) => void) | null = null;
  /** the ETag each watched user's document last had, so a change can name the one it replaced */
  private readonly lastEtag = new Map<string, string>();
  private readonly telling = new KeyedMutex();

  constructor(
    private readonly store: ConversationStore,
    private readonly opts: HistoryViewOptions,
    private readonly log: Logger,
  ) {
    store.onChanged = (owner) => this.changed(owner);
  }

  async render(owner: string, path: string): Promise<ViewDocument | null> {
    if (path !== HISTORY_DOCUMENT) return null;
    const content = renderHistory(await this.store.list(owner), this.opts.replayUri);
    return { content, etag: etagOf(content) };
  }

  async commit(owner: string, _path: string, base: ViewDocument, edited: XmlDocument): Promise<{ stale: true } | { created: string[] }> {
    const before = parseXmlBody(Buffer.from(base.content));
    const changes = diffHistory(before, edited);
    // a message stored meanwhile changes counts and times, which no edit touches: only a change to
    // what the edit was worked out from (ids, names, recording) makes it stale
    const expected = editableStateOf(before);
    const outcome = await this.store.applyChanges(owner, changes, (rows) => editableState(rows) === expected);
    if ('refused' in outcome) throw conflict('constraint-failure', `re-saving would exceed your storage quota: ${outcome.reason}`);
    if ('stale' in outcome) return outcome;
    return { created: outcome.created.map((id) => `history/conversation[@id="${id}"]`) };
  }

  /** The user's document with its ETag, for an xcap-diff subscription's full state (RFC 5875 §4.3). */
  async documentsOf(owner: string): Promise<{ auid: string; path: string; etag: string }[]> {
    const doc = await this.render(owner, HISTORY_DOCUMENT);
    this.lastEtag.set(owner, doc!.etag);
    return [{ auid: HISTORY_AUID, path: HISTORY_DOCUMENT, etag: doc!.etag }];
  }

  /**
   * A conversation of `owner` changed (a new one, a new message, an edit). Each new message is a
   * change too: the document's counts, last time and size are in it, and a client holding the old
   * ETag would otherwise learn of the change only from a 412. Worked out one at a time per owner,
   * so the ETags told form a chain.
   */
  private changed(owner: string): void {
    if (!this.opts.watched(owner)) {
      this.lastEtag.delete(owner);
      return;
    }
    this.telling
      .run(owner, async () => {
        const doc = await this.render(owner, HISTORY_DOCUMENT);
        const previous = this.lastEtag.get(owner) ?? null;
        if (doc === null || previous === doc.etag) return;
        this.lastEtag.set(owner, doc.etag);
        this.onDocumentChanged?.({ auid: HISTORY_AUID, owner, path: HISTORY_DOCUMENT, previousEtag: previous, newEtag: doc.etag });
      })
      .catch((err: unknown) => this.log.warn({ err, owner }, 'telling an im-history change failed'));
  }
}
