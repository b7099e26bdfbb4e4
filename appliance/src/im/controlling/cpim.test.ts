import { describe, expect, it } from 'vitest';
import { parseCpim, wrapCpim } from './cpim.js';

describe('message/cpim (RFC 3862)', () => {
  it('wraps and reads back the sender, the recipient and the content', () => {
    const wrapped = wrapCpim('sip:alice@d', 'sip:team@d', 'text/plain', Buffer.from('hi\r\n\r\nthere'), new Date(0));
    expect(wrapped.toString()).toBe('From: <sip:alice@d>\r\nTo: <sip:team@d>\r\nDateTime: 1970-01-01T00:00:00.000Z\r\n\r\nContent-Type: text/plain\r\n\r\nhi\r\n\r\nthere');
    expect(parseCpim(wrapped)).toEqual({
      from: 'sip:alice@d', to: 'sip:team@d', dateTime: '1970-01-01T00:00:00.000Z', contentType: 'text/plain', body: Buffer.from('hi\r\n\r\nthere'), passOn: { headers: [], contentHeaders: [] },
    });
  });

  it('keeps the sender\'s other headers (RFC 5438 IMDN) for the relay to write again', () => {
    const sent = 'From: <sip:a@d>\r\nTo: <sip:r@d>\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: m1\r\nDateTime: 2026-01-01T00:00:00Z\r\n\r\nContent-Type: message/imdn+xml\r\nContent-Disposition: notification\r\nContent-Length: 3\r\n\r\n<x>';
    const read = parseCpim(Buffer.from(sent))!;
    expect(read.passOn).toEqual({ headers: ['NS: imdn <urn:ietf:params:imdn>', 'imdn.Message-ID: m1'], contentHeaders: ['Content-Disposition: notification'] });
    const again = wrapCpim('sip:a@d', 'sip:r@d', read.contentType, read.body, read.dateTime!, undefined, read.passOn).toString();
    expect(again).toBe('From: <sip:a@d>\r\nTo: <sip:r@d>\r\nDateTime: 2026-01-01T00:00:00Z\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: m1\r\n\r\nContent-Type: message/imdn+xml\r\nContent-Disposition: notification\r\n\r\n<x>');
  });

  it('takes display names and refuses a body without its two blank lines', () => {
    expect(parseCpim(Buffer.from('From: Alice <sip:a@d>\r\nTo: "Bob" <sip:b@d>\r\n\r\nContent-Type: text/html\r\n\r\n<b>x</b>'))).toMatchObject({ from: 'sip:a@d', to: 'sip:b@d', contentType: 'text/html' });
    expect(parseCpim(Buffer.from('From: <sip:a@d>\r\n\r\nhello'))).toBeNull();
    expect(parseCpim(Buffer.from('garbage\r\n\r\nContent-Type: text/plain\r\n\r\nx'))).toBeNull();
  });
});
