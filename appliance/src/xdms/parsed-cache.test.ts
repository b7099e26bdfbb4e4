import { describe, expect, it } from 'vitest';
import { DOM_BYTES_PER_CHAR, ParsedDocumentCache } from './parsed-cache.js';
import type { DocumentChange, DocumentStore } from './document-store.js';

const key = (path: string) => ({ auid: 'resource-lists', owner: 'sip:alice@parley.test', path });
/** A document of exactly `chars` characters. */
const text = (chars: number) => `<a>${'x'.repeat(chars - 7)}</a>`;

describe('ParsedDocumentCache', () => {
  it('keeps the accounted bytes within the budget, evicting the least recently used', () => {
    const cache = new ParsedDocumentCache(1000 * DOM_BYTES_PER_CHAR);
    cache.get(key('a'), '"1"', text(200));
    cache.get(key('b'), '"1"', text(200));
    cache.get(key('c'), '"1"', text(200));
    cache.get(key('d'), '"1"', text(200));
    cache.get(key('a'), '"1"', text(200)); // a is now the most recently used
    cache.get(key('e'), '"1"', text(200)); // 1000 chars: fits exactly
    cache.get(key('f'), '"1"', text(200)); // over: b, the least recently used, goes
    expect(cache.stats()).toEqual({ entries: 5, bytes: 1000 * DOM_BYTES_PER_CHAR, maxBytes: 1000 * DOM_BYTES_PER_CHAR });
    const a = cache.get(key('a'), '"1"', text(200));
    expect(cache.get(key('a'), '"1"', 'ignored on a hit')).toBe(a);
    const b = cache.get(key('b'), '"1"', text(200)); // parsed again
    expect(cache.get(key('b'), '"1"', text(200))).toBe(b);
    expect(cache.stats().bytes).toBeLessThanOrEqual(1000 * DOM_BYTES_PER_CHAR);
  });

  it('parses but does not keep a document over a quarter of the budget', () => {
    const cache = new ParsedDocumentCache(1000 * DOM_BYTES_PER_CHAR);
    cache.get(key('small'), '"1"', text(100));
    const big = cache.get(key('big'), '"1"', text(251));
    expect(big.documentElement?.localName).toBe('a');
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 100 * DOM_BYTES_PER_CHAR });
  });

  it('replaces the DOM of an older ETag, and drops a document that changes', () => {
    let listener: (c: DocumentChange) => void = () => undefined;
    const store = { onChange: (l: typeof listener) => (listener = l) } as unknown as DocumentStore;
    const cache = new ParsedDocumentCache(1000 * DOM_BYTES_PER_CHAR, store);
    const v1 = cache.get(key('a'), '"1"', text(100));
    const v2 = cache.get(key('a'), '"2"', text(50));
    expect(v2).not.toBe(v1);
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 50 * DOM_BYTES_PER_CHAR });
    cache.get(key('b'), '"1"', text(100));
    listener({ ...key('a'), previousEtag: '"2"', newEtag: '"3"' });
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 100 * DOM_BYTES_PER_CHAR });
  });

  it('keeps nothing with a budget of 0', () => {
    const cache = new ParsedDocumentCache(0);
    cache.get(key('a'), '"1"', text(10));
    expect(cache.stats()).toEqual({ entries: 0, bytes: 0, maxBytes: 0 });
  });
});
