import { DOMParser } from '@xmldom/xmldom';
import type { DocumentKey, DocumentStore } from './document-store.js';
import type { XmlDocument } from './xml-intake.js';

/**
 * Estimated heap bytes of an @xmldom/xmldom DOM per character of source text.
 * Measured on Node 20 (heapUsed after a forced GC, five DOMs kept alive):
 * resource-lists documents of 18 KB to 930 KB, with and without display names,
 * came out between 28.7 and 32.8. RSS grows further (about 50x) while the
 * garbage of parsing is not yet collected; the budget counts what stays.
 */
export const DOM_BYTES_PER_CHAR = 32;

/** A document whose DOM would take more than this share of the budget is parsed for its request and not kept. */
const MAX_ENTRY_SHARE = 4;

export interface ParsedCacheStats {
  entries: number;
  /** estimated heap bytes of the cached DOMs */
  bytes: number;
  maxBytes: number;
}

interface Entry {
  etag: string;
  dom: XmlDocument;
  bytes: number;
  /** the stored text the DOM is of, when its keeper wants it back (edit-state.ts splices into it) */
  text?: string;
}

/**
 * Parsed documents for node-selector GETs (RFC 4825 §8.3), least recently used
 * first out, bounded by the estimated heap their DOMs take rather than by their
 * number: 64 DOMs of 1 MB documents took the process to 3.4 GiB. An entry is
 * keyed by its document and holds the DOM of one ETag; a change to the document
 * drops it. The DOMs are shared and must never be edited (edits parse afresh).
 */
export class ParsedDocumentCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    /** estimated heap bytes (source characters x DOM_BYTES_PER_CHAR) of all cached DOMs; 0 = no cache */
    private readonly maxBytes: number,
    store?: DocumentStore,
  ) {
    store?.onChange((change) => this.drop(change));
  }

  /** The DOM of `content`, the document `key` at `etag`: cached, or parsed (and kept when it fits). */
  get(key: DocumentKey, etag: string, content: string): XmlDocument {
    const id = idOf(key);
    const hit = this.entries.get(id);
    if (hit !== undefined && hit.etag === etag) {
      // most recently used goes last (Map iteration is insertion order)
      this.entries.delete(id);
      this.entries.set(id, hit);
      return hit.dom;
    }
    const dom = new DOMParser().parseFromString(content, 'text/xml');
    this.keep(key, etag, dom, content.length);
    return dom;
  }

  /**
   * Removes and returns the DOM kept for a document, at whatever ETag: its
   * caller may edit it (edit-state.ts; a cache serving GETs never uses this).
   */
  take(key: DocumentKey): { etag: string; dom: XmlDocument; chars: number; text?: string } | null {
    const id = idOf(key);
    const entry = this.entries.get(id);
    if (entry === undefined) return null;
    this.remove(id, entry);
    return { etag: entry.etag, dom: entry.dom, chars: entry.bytes / (DOM_BYTES_PER_CHAR + (entry.text !== undefined ? 2 : 0)), ...(entry.text !== undefined ? { text: entry.text } : {}) };
  }

  /**
   * Keeps `dom`, the document `key` at `etag` (`chars` characters of source), when it fits the
   * budget; `text`, that source, is kept with it when given (counted in the budget too).
   */
  keep(key: DocumentKey, etag: string, dom: XmlDocument, chars: number, text?: string): void {
    const id = idOf(key);
    const old = this.entries.get(id);
    if (old !== undefined) this.remove(id, old);
    // a kept text costs two bytes a character at most (V8 strings are Latin-1 or UTF-16)
    const bytes = chars * (DOM_BYTES_PER_CHAR + (text !== undefined ? 2 : 0));
    if (bytes > this.maxBytes / MAX_ENTRY_SHARE) return;
    this.entries.set(id, text !== undefined ? { etag, dom, bytes, text } : { etag, dom, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(oldest, entry);
    }
  }

  /** Forgets a document (it changed or was deleted). */
  drop(key: DocumentKey): void {
    const id = idOf(key);
    const entry = this.entries.get(id);
    if (entry !== undefined) this.remove(id, entry);
  }

  stats(): ParsedCacheStats {
    return { entries: this.entries.size, bytes: this.bytes, maxBytes: this.maxBytes };
  }

  private remove(id: string, entry: Entry): void {
    this.entries.delete(id);
    this.bytes -= entry.bytes;
  }
}

const idOf = (k: DocumentKey): string => `${k.auid}\u0000${k.owner}\u0000${k.path}`;
