import { describe, expect, it } from 'vitest';
import { boundaryOf, parseMultipart } from './multipart.js';

const CT = 'multipart/mixed;boundary="b1"';
const body = (s: string) => Buffer.from(s.replace(/\n/g, '\r\n'));

describe('multipart bodies (RFC 2046 §5.1.1)', () => {
  it('splits the parts, with their headers and bytes, ignoring preamble and epilogue', () => {
    const parts = parseMultipart(CT, body('preamble\n--b1\nContent-Type: text/plain\n\nhello\n--b1\nContent-Type: application/resource-lists+xml\nContent-Disposition: recipient-list\n\n<x/>\n--b1--\nepilogue'))!;
    expect(parts.map((p) => [p.headers.get('content-type'), p.body.toString()])).toEqual([
      ['text/plain', 'hello'],
      ['application/resource-lists+xml', '<x/>'],
    ]);
    expect(parts[1].headers.get('content-disposition')).toBe('recipient-list');
  });

  it('takes a body that opens with the delimiter and a part without headers', () => {
    expect(parseMultipart('multipart/mixed; boundary=zz', body('--zz\n\nno headers\n--zz--'))!.map((p) => p.body.toString())).toEqual(['no headers']);
  });

  it('refuses what is not well-formed: no boundary, no close delimiter, a part without its blank line', () => {
    expect(parseMultipart('multipart/mixed', body('--b1\n\nx\n--b1--'))).toBeNull();
    expect(parseMultipart(CT, body('--b1\nContent-Type: text/plain\n\nx\n'))).toBeNull();
    expect(parseMultipart(CT, body('--b1\nContent-Type: text/plain\n--b1--'))).toBeNull();
    expect(parseMultipart('text/plain', body('--b1\n\nx\n--b1--'))).toBeNull();
  });

  it('reads quoted and bare boundaries, and refuses one over 70 characters', () => {
    expect(boundaryOf('multipart/mixed; boundary="a b"')).toBe('a b');
    expect(boundaryOf('multipart/mixed;boundary=abc;x=1')).toBe('abc');
    expect(boundaryOf(`multipart/mixed;boundary=${'a'.repeat(71)}`)).toBeNull();
  });
});
