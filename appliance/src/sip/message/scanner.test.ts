import { describe, expect, it } from 'vitest';
import { quote, unquote } from './scanner.js';

describe('unquote (RFC 3261 §25.1 quoted-string)', () => {
  it('takes the quotes off, and the quoted-pair escapes when there are any', () => {
    expect(unquote('"bench.test"')).toBe('bench.test');
    expect(unquote('""')).toBe('');
    expect(unquote('"say \\"hi\\""')).toBe('say "hi"');
    expect(unquote('"back\\\\slash"')).toBe('back\\slash');
    expect(unquote('token')).toBe('token');
    for (const s of ['plain', 'with "quotes"', 'a\\b', '']) expect(unquote(quote(s))).toBe(s);
  });
});
