import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tempStore } from '../../../test/support/temp-store.js';
import type { Logger } from '../log.js';
import { DocumentStore, checkPreconditions, type DocumentChange } from './document-store.js';
import { XcapError } from './xcap-error.js';

let temp: Awaited<ReturnType<typeof tempStore>>;
const key = { auid: 'resource-lists', owner: 'sip:alice@parley.test', path: 'index' };

beforeAll(async () => {
  temp = await tempStore('docs');
});
afterAll(async () => {
  await temp?.cleanup();
});

describe('DocumentStore change listeners', () => {
  it('a throwing listener neither fails the committed write nor keeps the others from hearing of it', async () => {
    const error = vi.fn();
    const store = new DocumentStore(temp.ds, { error } as unknown as Logger);
    const heard: DocumentChange[] = [];
    store.onChange(() => {
      throw new Error('listener bug');
    });
    store.onChange((c) => heard.push(c));

    const put = await store.put(key, '<a/>', {});
    expect(put.created).toBe(true);
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatchObject({ ...key, previousEtag: null, newEtag: put.etag });
    expect(error).toHaveBeenCalledTimes(1);
    expect((await store.get(key))?.content).toBe('<a/>');

    await store.delete(key, {});
    expect(heard).toHaveLength(2);
    expect(error).toHaveBeenCalledTimes(2);
  });
});

describe('checkPreconditions (RFC 9110 §13.1)', () => {
  const status = (f: () => unknown): number | string => {
    try {
      return String(f());
    } catch (err) {
      return (err as XcapError).status;
    }
  };

  it('"*" asks whether the selected resource exists; tags compare with the document ETag', () => {
    // an absent element in an existing document
    expect(status(() => checkPreconditions({ ifNoneMatch: '*' }, '"d"', false, false))).toBe('ok');
    expect(status(() => checkPreconditions({ ifMatch: '*' }, '"d"', false, false))).toBe(412);
    expect(status(() => checkPreconditions({ ifMatch: '"d"' }, '"d"', false, false))).toBe('ok');
    // a present one
    expect(status(() => checkPreconditions({ ifNoneMatch: '*' }, '"d"', true, true))).toBe('not-modified');
    expect(status(() => checkPreconditions({ ifNoneMatch: '"x", "d"' }, '"d"', false, true))).toBe(412);
    // documents: existence is whether there is an ETag
    expect(status(() => checkPreconditions({ ifNoneMatch: '*' }, null, false))).toBe('ok');
    expect(status(() => checkPreconditions({ ifMatch: '*' }, null, false))).toBe(412);
  });
});
