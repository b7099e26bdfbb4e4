import { describe, expect, it } from 'vitest';
import { parseXcapPath } from './xcap-uri.js';
import { XcapError } from './xcap-error.js';

describe('XCAP URI (RFC 4825 §6)', () => {
  it('splits document selector and node selector and decodes each once', () => {
    const u = parseXcapPath(
      '/resource-lists/users/sip:alice@parley.test/index/~~/resource-lists/list%5B@name=%22friends%22%5D/entry%5B@uri=%22sip:b%2Fx@e.com%22%5D',
    );
    expect(u).toMatchObject({ auid: 'resource-lists', scope: 'users', xui: 'sip:alice@parley.test', document: 'index' });
    expect(u.nodeText).toBe('resource-lists/list[@name="friends"]/entry[@uri="sip:b/x@e.com"]');
    expect(u.node?.steps[2].attr?.value).toBe('sip:b/x@e.com');
  });

  it('reads global documents and nested document paths', () => {
    expect(parseXcapPath('xcap-caps/global/index')).toMatchObject({ scope: 'global', xui: null, document: 'index', node: null });
    expect(parseXcapPath('resource-lists/users/bob/dir/sub/doc.xml').document).toBe('dir/sub/doc.xml');
  });

  const statusOf = (path: string, query?: string): number | null => {
    try {
      parseXcapPath(path, query);
      return null;
    } catch (err) {
      return err instanceof XcapError ? err.status : -1;
    }
  };

  it('answers 404 for paths that name no document', () => {
    for (const bad of ['resource-lists', 'resource-lists/users/bob', 'resource-lists/friends/index', 'a/users//x']) expect(statusOf(bad), bad).toBe(404);
  });

  it('answers 400 for malformed ones: bad encoding, dot segments, selectors outside the grammar', () => {
    for (const bad of ['a/users/%zz/x', 'a/users/bob/../x', 'a/users/bob/%2e%2E/x', 'a/users/./bob/x', 'a/users/bob/x/~~/a[', 'a/users/bob/x/~~/a/b[0]', 'a/users/bob/x/~~/']) {
      expect(statusOf(bad), bad).toBe(400);
    }
    expect(statusOf('a/users/bob/x/~~/p:a', 'xmlns(p=urn:x')).toBe(400);
  });
});
