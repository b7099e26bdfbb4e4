import { describe, expect, it } from 'vitest';
import { formatUseNickname, parseUseNickname } from './msrp-nickname.js';
import { MsrpError } from './msrp-types.js';

const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

describe('Use-Nickname (RFC 7701, quoted-string of RFC 4975 §9)', () => {
  it('reads a quoted-string with escapes and UTF-8 (as the framer hands header bytes over)', () => {
    expect(parseUseNickname('"Alice"')).toBe('Alice');
    expect(parseUseNickname('"the \\"boss\\" \\\\ here"')).toBe('the "boss" \\ here');
    expect(parseUseNickname(latin1('"Jürgen 小明"'))).toBe('Jürgen 小明');
    expect(parseUseNickname('""')).toBe('');
  });

  it('writes what it reads', () => {
    for (const n of ['Alice', 'a "quoted" one', 'back\\slash', 'Jürgen']) expect(parseUseNickname(latin1(formatUseNickname(n)))).toBe(n);
  });

  it('refuses with 424 what is not a quoted-string: controls, no quotes, a stray quote or backslash, bytes that are not UTF-8', () => {
    for (const bad of ['Alice', '"bell\x07"', '"esc\x1b[31m"', '"del\x7f"', '"a"b"', '"a\\b"', '"open', '"ends with \\"', '"\xff\xfe"']) {
      let err: unknown = null;
      try {
        parseUseNickname(bad);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(bad)).toBeInstanceOf(MsrpError);
      expect((err as MsrpError).status).toBe(424);
    }
  });
});
