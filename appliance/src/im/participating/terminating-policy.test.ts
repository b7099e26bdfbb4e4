import { describe, expect, it } from 'vitest';
import { TerminatingPolicy, parsePreferences } from './terminating-policy.js';
import { LocalDomain } from '../../core/local-domain.js';
import type { DocumentChange, DocumentStore } from '../../xdms/document-store.js';

const BLOCK_ALICE = `<cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy" xmlns:ir="urn:parley:params:xml:ns:im-rules">
  <cp:rule id="r"><cp:conditions><cp:identity><cp:one id="sip:alice@parley.test"/></cp:identity></cp:conditions>
  <cp:actions><ir:im-handling>block</ir:im-handling></cp:actions></cp:rule></cp:ruleset>`;

/** A document store whose reads the test completes by hand, and whose changes it fires. */
function storeStub() {
  const listeners: ((c: DocumentChange) => void)[] = [];
  const reads: ((content: string | null) => void)[] = [];
  const docs = {
    onChange: (l: (c: DocumentChange) => void) => listeners.push(l),
    get: () => new Promise((resolve) => reads.push((content) => resolve(content === null ? null : { content, etag: '"x"' }))),
  } as unknown as DocumentStore;
  const change = () => {
    for (const l of listeners) l({ auid: 'im-access-rules', owner: 'sip:bob@parley.test', path: 'index', previousEtag: null, newEtag: '"y"' });
  };
  return { docs, reads, change };
}

describe('terminating policy cache (Y2)', () => {
  it('never keeps a read that a change overtook: the new block list is enforced on the next message', async () => {
    const { docs, reads, change } = storeStub();
    const policy = new TerminatingPolicy(docs, new LocalDomain('parley.test', []));
    const first = policy.check('bob', 'sip:alice@parley.test');
    // bob's block list is stored while the first message's read of the old one is in flight
    change();
    reads.shift()!(null);
    expect(await first).toBe('deliver');
    const second = policy.check('bob', 'sip:alice@parley.test');
    expect(reads).toHaveLength(1); // read again, not served from a stale cache
    reads.shift()!(BLOCK_ALICE);
    await expect(second).rejects.toMatchObject({ status: 403 });
    // and now it is cached
    await expect(policy.check('bob', 'sip:alice@parley.test')).rejects.toMatchObject({ status: 403 });
    expect(reads).toHaveLength(0);
  });

  it('drops only the changed user', async () => {
    const { docs, reads, change } = storeStub();
    const policy = new TerminatingPolicy(docs, new LocalDomain('parley.test', []));
    const carol = policy.check('carol', 'sip:alice@parley.test');
    reads.shift()!(null);
    await carol;
    change(); // bob's document, not carol's
    expect(await policy.check('carol', 'sip:alice@parley.test')).toBe('deliver');
    expect(reads).toHaveLength(0);
  });
});

describe('terminating policy answered at once from its cache (the relay path)', () => {
  it('answers only what is cached, throws a block as check does, and forgets a changed document', async () => {
    const { docs, reads, change } = storeStub();
    const policy = new TerminatingPolicy(docs, new LocalDomain('parley.test', []));
    expect(policy.checkCached('bob', 'sip:alice@parley.test')).toBeUndefined(); // never read: the caller awaits check
    expect(reads).toHaveLength(0); // and asking did not start a read
    const read = policy.check('bob', 'sip:alice@parley.test');
    reads.shift()!(BLOCK_ALICE);
    await expect(read).rejects.toMatchObject({ status: 403 });
    expect(() => policy.checkCached('bob', 'sip:alice@parley.test')).toThrow(expect.objectContaining({ status: 403 }));
    expect(policy.checkCached('bob', 'sip:carol@parley.test')).toBe('deliver');
    change(); // bob edits his block list: nothing cached is answered until it is read again
    expect(policy.checkCached('bob', 'sip:alice@parley.test')).toBeUndefined();
  });
});

describe('parsePreferences: the im-preferences document (parley-im-prefs.xsd)', () => {
  const doc = (inner: string): string => `<im-preferences xmlns="urn:parley:params:xml:ns:im-prefs">${inner}</im-preferences>`;

  it('reads "store all my conversations" as an xs:boolean, off unless it says true or 1', () => {
    expect(parsePreferences(doc('<store-conversations>true</store-conversations>'))).toEqual({ delivery: 'deliver', storeConversations: true });
    expect(parsePreferences(doc('<delivery>store</delivery><store-conversations> 1 </store-conversations>'))).toEqual({ delivery: 'store', storeConversations: true });
    expect(parsePreferences(doc('<store-conversations>false</store-conversations>')).storeConversations).toBe(false);
    expect(parsePreferences(doc('<store-conversations>0</store-conversations>')).storeConversations).toBe(false);
    expect(parsePreferences(doc('<delivery>store</delivery>'))).toEqual({ delivery: 'store', storeConversations: false });
    // an element of another namespace with the same name is not ours
    expect(parsePreferences(doc('<x:store-conversations xmlns:x="urn:example">true</x:store-conversations>')).storeConversations).toBe(false);
  });
});
