import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XMLSerializer } from '@xmldom/xmldom';
import { tempStore } from '../../../test/support/temp-store.js';
import { DocumentStore, etagOf, type DocumentChange } from './document-store.js';
import { EditState, type EditBase } from './edit-state.js';
import type { XmlDocument } from './xml-intake.js';

let temp: Awaited<ReturnType<typeof tempStore>>;
let n = 0;
const freshKey = () => ({ auid: 'resource-lists', owner: 'sip:alice@parley.test', path: `edit-${n++}` });
const doc = (uris: string[]) => `<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>${uris.map((u) => `<entry uri="${u}"/>`).join('')}</list></resource-lists>`;
const text = (dom: XmlDocument) => new XMLSerializer().serializeToString(dom as never);
const uris = (dom: XmlDocument) => Array.from({ length: dom.getElementsByTagName('entry').length }, (_, i) => dom.getElementsByTagName('entry')[i].getAttribute('uri'));

/** Adds an entry to the DOM, as an element PUT would, and queues its write on the state it was made on. */
function edit(state: EditState, store: DocumentStore, key: ReturnType<typeof freshKey>, base: EditBase, uri: string) {
  const entry = base.dom.createElementNS('urn:ietf:params:xml:ns:resource-lists', 'entry');
  entry.setAttribute('uri', uri);
  base.dom.getElementsByTagName('list')[0].appendChild(entry);
  const content = text(base.dom);
  const write = store.replace(key, content, base.etag);
  state.queued(key, { dom: base.dom, etag: etagOf(content), chars: content.length }, write);
  return write;
}

beforeAll(async () => {
  temp = await tempStore('edit-state');
});
afterAll(async () => {
  await temp?.cleanup();
});

describe('EditState: the state the next edit of a document starts from', () => {
  it('chains edits while their writes are in flight; the store ends with every edit, each change notified in order', async () => {
    const store = new DocumentStore(temp.ds);
    const key = freshKey();
    const changes: DocumentChange[] = [];
    store.onChange((c) => changes.push(c));
    const first = await store.put(key, doc([]), {});
    const state = new EditState(store, 2 ** 20);
    const writes = [];
    for (const uri of ['sip:a@x', 'sip:b@x', 'sip:c@x']) {
      const base = (await state.take(key))!;
      writes.push(edit(state, store, key, base, uri));
    }
    const results = await Promise.all(writes);
    const stored = (await store.get(key))!;
    expect(stored.content).toBe(doc(['sip:a@x', 'sip:b@x', 'sip:c@x']));
    expect(stored.etag).toBe(results[2].etag);
    // xcap-diff sees one change per edit, each starting where the previous one ended (RFC 5875 §4.3)
    const mine = changes.filter((c) => c.path === key.path).slice(1);
    expect(mine.map((c) => c.previousEtag)).toEqual([first.etag, results[0].etag, results[1].etag]);
    expect(mine.map((c) => c.newEtag)).toEqual(results.map((r) => r.etag));
  });

  it('does not start from a kept DOM once the stored document changed another way (another node on the same database)', async () => {
    const store = new DocumentStore(temp.ds);
    const key = freshKey();
    await store.put(key, doc([]), {});
    const state = new EditState(store, 2 ** 20);
    await edit(state, store, key, (await state.take(key))!, 'sip:a@x');
    // written behind this EditState's back
    await store.put(key, doc(['sip:other@x']), {});
    const base = (await state.take(key))!;
    expect(uris(base.dom)).toEqual(['sip:other@x']);
    expect(base.etag).toBe(etagOf(doc(['sip:other@x'])));
  });

  it('drops a state whose write failed: the edit queued on it fails too (412), and the next edit starts from the store', async () => {
    const store = new DocumentStore(temp.ds);
    const key = freshKey();
    await store.put(key, doc([]), {});
    const state = new EditState(store, 2 ** 20);
    const base = (await state.take(key))!;
    // the state this edit was made on is no longer the stored one: its write fails
    await store.put(key, doc(['sip:other@x']), {});
    const failing = edit(state, store, key, base, 'sip:a@x');
    const chained = edit(state, store, key, (await state.take(key))!, 'sip:b@x');
    const [a, b] = await Promise.allSettled([failing, chained]);
    expect(a).toMatchObject({ status: 'rejected', reason: { status: 412 } });
    expect(b).toMatchObject({ status: 'rejected', reason: { status: 412 } });
    const next = (await state.take(key))!;
    expect(uris(next.dom)).toEqual(['sip:other@x']);
  });

  it('keeps nothing with a budget of 0: every edit reads the store', async () => {
    const store = new DocumentStore(temp.ds);
    const key = freshKey();
    await store.put(key, doc([]), {});
    const state = new EditState(store, 0);
    await edit(state, store, key, (await state.take(key))!, 'sip:a@x');
    const base = (await state.take(key))!;
    expect(uris(base.dom)).toEqual(['sip:a@x']);
  });
});
