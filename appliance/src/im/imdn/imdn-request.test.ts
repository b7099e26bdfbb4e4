import { describe, expect, it } from 'vitest';
import { imdnRequestOf, isImdn } from './imdn-request.js';
import { readCpim, writeCpim, withImdnHeader, imdnHeaders } from './cpim-envelope.js';

const im = (head: string[], type = 'text/plain') => Buffer.from([...head, '', `Content-Type: ${type}`, '', 'hi'].join('\r\n'));

describe('what an IM asks (RFC 5438 §6)', () => {
  it('reads Message-ID, DateTime and the dispositions through the prefix the NS header binds', () => {
    const body = im(['From: <sip:a@d>', 'To: <sip:b@d>', 'NS: x <urn:ietf:params:imdn>', 'x.Message-ID: m1', 'DateTime: t', 'x.Disposition-Notification: positive-delivery, Display, bogus']);
    const r = imdnRequestOf('message/cpim', body)!;
    expect(r).toMatchObject({ messageId: 'm1', dateTime: 't', from: 'sip:a@d', to: 'sip:b@d', recordRoute: [] });
    expect([...r.dispositions]).toEqual(['positive-delivery', 'display']);
  });

  it('asks nothing without the namespace, a Message-ID, a DateTime, or as an IMDN itself', () => {
    expect(imdnRequestOf('message/cpim', im(['From: <sip:a@d>', 'imdn.Message-ID: m1', 'DateTime: t', 'imdn.Disposition-Notification: display']))).toBeNull();
    expect(imdnRequestOf('message/cpim', im(['From: <sip:a@d>', 'NS: imdn <urn:ietf:params:imdn>', 'DateTime: t', 'imdn.Disposition-Notification: display']))).toBeNull();
    expect(imdnRequestOf('text/plain', Buffer.from('hi'))).toBeNull();
    const note = im(['From: <sip:a@d>', 'NS: imdn <urn:ietf:params:imdn>', 'imdn.Message-ID: m1', 'DateTime: t', 'imdn.Disposition-Notification: display'], 'message/imdn+xml');
    expect(imdnRequestOf('message/cpim', note)).toBeNull();
    expect(isImdn('message/cpim', note)).toBe(true);
    expect(isImdn('message/cpim', im(['From: <sip:a@d>']))).toBe(false);
  });

  it('adds IMDN-Record-Route with the message\'s own prefix and leaves the rest as it was', () => {
    const body = im(['From: <sip:a@d>', 'NS: x <urn:ietf:params:imdn>', 'x.Message-ID: m1']);
    const routed = writeCpim(withImdnHeader(readCpim(body)!, 'IMDN-Record-Route', '<sip:list@d>'));
    expect(routed.toString()).toBe(body.toString().replace('x.Message-ID: m1\r\n', 'x.Message-ID: m1\r\nx.IMDN-Record-Route: <sip:list@d>\r\n'));
    expect(imdnHeaders(readCpim(routed)!, 'IMDN-Record-Route')).toEqual(['<sip:list@d>']);
  });
});
