import { describe, expect, it } from 'vitest';
import { firstViaComma, withoutTopVia } from './via.js';

describe('Via lists (RFC 3261 §7.3.1, §25.1)', () => {
  it('finds the comma after the first element, outside quoted strings and past quoted-pairs', () => {
    expect(firstViaComma('SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b')).toBe(29);
    expect(firstViaComma('SIP/2.0/UDP a;x="p,q"')).toBe(-1);
    const escaped = 'SIP/2.0/UDP a;x="p\\",q", SIP/2.0/UDP b';
    expect(firstViaComma(escaped)).toBe(escaped.indexOf('", ') + 1);
    expect(firstViaComma('x, SIP/2.0/UDP a, SIP/2.0/UDP b', 2)).toBe(16);
  });

  it('drops the top element of a list whose quoted parameter escapes a quote', () => {
    expect(withoutTopVia(['SIP/2.0/UDP a;x="p\\",q", SIP/2.0/UDP b', 'SIP/2.0/UDP c'])).toEqual(['SIP/2.0/UDP b', 'SIP/2.0/UDP c']);
    expect(withoutTopVia(['SIP/2.0/UDP a', 'SIP/2.0/UDP b'])).toEqual(['SIP/2.0/UDP b']);
  });
});
