import { describe, expect, it } from 'vitest';
import { parseCpim, wrapCpim } from './cpim.js';

describe('message/cpim (RFC 3862)', () => {
  it('wraps and reads back the sender, the recipient and the content', () => {
    const wrapped = wrapCpim('sip:alice@d', 'sip:team@d', 'text/plain', Buffer.from('hi\r\n\r\nthere'), new Date(0));
    expect(wrapped.toString()).toBe('From: <sip:alice@d>\r\nTo: <sip:team@d>\r\nDateTime: 1970-01-01T00:00:00.000Z\r\n\r\nContent-Type: text/plain\r\n\r\nhi\r\n\r\nthere');
    expect(parseCpim(wrapped)).toEqual({ from: 'sip:alice@d', to: 'sip:team@d', contentType: 'text/plain', body: Buffer.from('hi\r\n\r\nthere') });
  });

  it('takes display names and refuses a body without its two blank lines', () => {
    expect(parseCpim(Buffer.from('From: Alice <sip:a@d>\r\nTo: "Bob" <sip:b@d>\r\n\r\nContent-Type: text/html\r\n\r\n<b>x</b>'))).toMatchObject({ from: 'sip:a@d', to: 'sip:b@d', contentType: 'text/html' });
    expect(parseCpim(Buffer.from('From: <sip:a@d>\r\n\r\nhello'))).toBeNull();
    expect(parseCpim(Buffer.from('garbage\r\n\r\nContent-Type: text/plain\r\n\r\nx'))).toBeNull();
  });
});
