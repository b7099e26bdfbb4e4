import { describe, expect, it } from 'vitest';
import { AttributeIndex } from './attribute-index.js';
import type { DocumentChange, DocumentStore } from './document-store.js';

const GROUPS = 'urn:oma:xml:poc:list-service';
const AUID = 'org.openmobilealliance.groups';
const group = (uri: string) => `<group xmlns="${GROUPS}"><list-service uri="${uri}"/></group>`;
const row = (owner: string, uri: string) => ({ auid: AUID, owner, path: 'index', content: group(uri) });

/** A store whose listAuid answers only when the test says so, and whose changes the test fires. */
function slowStore() {
  let listener: (c: DocumentChange) => void = () => undefined;
  const reads: { resolve(rows: ReturnType<typeof row>[]): void }[] = [];
  const store = {
    onChange(l: (c: DocumentChange) => void) {
      listener = l;
    },
    listAuid: () => new Promise<ReturnType<typeof row>[]>((resolve) => reads.push({ resolve })),
  };
  return {
    store: store as unknown as DocumentStore,
    reads,
    change: () => listener({ auid: AUID, owner: 'sip:alice@parley.test', path: 'index', previousEtag: '"a"', newEtag: '"b"' }),
  };
}

describe('AttributeIndex', () => {
  it('never keeps a build that read the store before a change', async () => {
    const s = slowStore();
    const index = new AttributeIndex(s.store, AUID, GROUPS, 'list-service', 'uri');

    const first = index.documentsWith('sip:team@parley.test');
    expect(s.reads).toHaveLength(1);
    // alice's document changes while the first read is still under way; that read predates it
    s.change();
    s.reads[0].resolve([row('sip:alice@parley.test', 'sip:team@parley.test')]);
    expect(await first).toHaveLength(1);

    // the next lookup reads the store again and sees the change
    const second = index.documentsWith('sip:team@parley.test');
    expect(s.reads).toHaveLength(2);
    s.reads[1].resolve([row('sip:alice@parley.test', 'sip:renamed@parley.test')]);
    expect(await second).toEqual([]);

    // with no change since, that build is kept
    expect(await index.documentsWith('sip:renamed@parley.test')).toHaveLength(1);
    expect(s.reads).toHaveLength(2);
  });
});
