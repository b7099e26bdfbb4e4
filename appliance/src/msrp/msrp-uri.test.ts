import { describe, expect, it } from 'vitest';
import { parsePath } from './msrp-uri.js';
import { MsrpError } from './msrp-types.js';

describe('parsePath (RFC 4975 §9)', () => {
  it('gives the same URIs for the same text each time, each call its own array', () => {
    const text = 'msrp://relay.example:2855/r1;tcp msrp://127.0.0.1:7000/abc;tcp';
    const first = parsePath(text);
    expect(first.map((u) => u.sessionId)).toEqual(['r1', 'abc']);
    first.pop(); // callers take the last hop with pop()
    expect(parsePath(text).map((u) => `${u.host}:${u.port}/${u.sessionId}`)).toEqual(['relay.example:2855/r1', '127.0.0.1:7000/abc']);
  });

  it('refuses a malformed path with 400 every time it is seen', () => {
    for (let i = 0; i < 2; i++) {
      expect(() => parsePath('msrp://host/no-transport')).toThrow(MsrpError);
      expect(() => parsePath('   ')).toThrow(/Empty path/);
    }
  });
});
