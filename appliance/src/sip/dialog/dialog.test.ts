import { describe, expect, it } from 'vitest';
import { parseUri } from '../message/uri.js';
import type { Source } from '../transport/transport-types.js';
import { Dialog, destinationFor, dialogDestination, routeSetOf, type DialogState } from './dialog.js';

/** A REGISTER or SUBSCRIBE that came over UDP from 198.51.100.9:40000. */
const udp: Source = { transport: 'UDP', address: '198.51.100.9', port: 40000, flowId: 'udp:198.51.100.9:40000' };
const to = (contact: string, source: Source = udp) => destinationFor(parseUri(contact), source);

describe('destinationFor: transport selection from the contact (RFC 3263 §4.1, §4.2)', () => {
  it('reaches a plain sip: contact at its IP over UDP, at port 5060 by default', () => {
    expect(to('sip:bob@192.0.2.7:5070')).toEqual({ transport: 'UDP', address: '192.0.2.7', port: 5070 });
    expect(to('sip:bob@192.0.2.7')).toEqual({ transport: 'UDP', address: '192.0.2.7', port: 5060 });
    expect(to('sip:bob@192.0.2.7;transport=udp')).toEqual({ transport: 'UDP', address: '192.0.2.7', port: 5060 });
  });

  it('opens TCP for transport=tcp, at 5060 by default', () => {
    expect(to('sip:bob@192.0.2.7:5072;transport=tcp')).toEqual({ transport: 'TCP', address: '192.0.2.7', port: 5072 });
    expect(to('sip:bob@192.0.2.7;transport=TCP')).toEqual({ transport: 'TCP', address: '192.0.2.7', port: 5060 });
  });

  it('opens TLS for transport=tls, at 5061 by default, checking the certificate for the IP', () => {
    expect(to('sip:bob@192.0.2.7:5081;transport=tls')).toEqual({ transport: 'TLS', address: '192.0.2.7', port: 5081, servername: '192.0.2.7' });
    expect(to('sip:bob@192.0.2.7;transport=tls')).toEqual({ transport: 'TLS', address: '192.0.2.7', port: 5061, servername: '192.0.2.7' });
  });

  it('opens TLS for every sips: contact, whatever its transport parameter (RFC 3261 §26.2.2)', () => {
    for (const uri of ['sips:bob@192.0.2.7', 'sips:bob@192.0.2.7;transport=tcp', 'sips:bob@192.0.2.7;transport=udp']) {
      expect(to(uri)).toEqual({ transport: 'TLS', address: '192.0.2.7', port: 5061, servername: '192.0.2.7' });
    }
    expect(to('sips:bob@192.0.2.7:6061')).toMatchObject({ transport: 'TLS', port: 6061 });
  });

  it('takes an IPv6 reference without its brackets', () => {
    expect(to('sip:bob@[2001:db8::7]:5081;transport=tls')).toEqual({ transport: 'TLS', address: '2001:db8::7', port: 5081, servername: '2001:db8::7' });
  });

  it('falls back to UDP for transports it cannot open towards a device (ws, wss, sctp)', () => {
    for (const t of ['ws', 'wss', 'sctp']) expect(to(`sip:bob@192.0.2.7:5090;transport=${t}`)).toEqual({ transport: 'UDP', address: '192.0.2.7', port: 5090 });
  });

  it('never resolves a host name: the source address stands in for it, over UDP', () => {
    for (const uri of ['sip:bob@bob-phone.example.test;transport=tls', 'sips:bob@bob-phone.example.test', 'sip:bob@bob-phone.example.test']) {
      expect(to(uri)).toEqual({ transport: 'UDP', address: '198.51.100.9', port: 40000 });
    }
    expect(destinationFor(null, udp)).toEqual({ transport: 'UDP', address: '198.51.100.9', port: 40000 });
    expect(to('tel:+15550100')).toEqual({ transport: 'UDP', address: '198.51.100.9', port: 40000 });
  });

  it('reaches a peer that came over a connection over that connection, whatever its contact says', () => {
    for (const transport of ['TCP', 'TLS', 'WS', 'WSS'] as const) {
      const source: Source = { transport, address: '198.51.100.9', port: 40001, flowId: `${transport.toLowerCase()}:198.51.100.9:40001` };
      expect(to('sip:bob@192.0.2.7:5081;transport=tls', source)).toEqual({ ...source });
      expect(to('sips:bob@192.0.2.7', source)).toEqual({ ...source });
    }
  });
});

/** A dialog reached over UDP, with the given route set. */
function dialogWith(routeSet: string[]): Dialog {
  const state: DialogState = {
    callId: 'c1', localTag: 'ours', remoteTag: 'theirs', localUri: 'sip:room@parley.test', remoteUri: 'sip:alice@parley.test',
    remoteTarget: 'sip:alice@192.0.2.7:5070', localContact: '<sip:room@192.0.2.1:5060>', localSeq: 4, remoteSeq: 1,
    destination: { transport: 'UDP', address: '192.0.2.7', port: 5070 }, routeSet,
  };
  return new Dialog(state);
}

describe('route sets (RFC 3261 §12.1, §12.2.1.1)', () => {
  it('takes the request\'s Record-Route in order on the UAS side, the 2xx\'s reversed on the UAC side, one entry per value', () => {
    const rr = ['<sip:p1.example.test;lr>, <sip:p2.example.test;lr;x=1>', '<sip:192.0.2.9:5080;lr>'];
    expect(routeSetOf(rr, 'uas')).toEqual(['<sip:p1.example.test;lr>', '<sip:p2.example.test;lr;x=1>', '<sip:192.0.2.9:5080;lr>']);
    expect(routeSetOf(rr, 'uac')).toEqual(['<sip:192.0.2.9:5080;lr>', '<sip:p2.example.test;lr;x=1>', '<sip:p1.example.test;lr>']);
    expect(routeSetOf([], 'uas')).toEqual([]);
    expect(() => routeSetOf(['<sip:p1.example.test;lr'], 'uas')).toThrow(/Record-Route/);
    expect(() => routeSetOf(['<tel:+15550100>'], 'uas')).toThrow(/not a SIP URI/);
  });

  it('loose routing: the Request-URI is the remote target and Route is the route set', () => {
    const bye = dialogWith(['<sip:192.0.2.9:5080;lr>', '<sip:p2.example.test;lr>']).request('BYE', {});
    expect(bye.uriText).toBe('sip:alice@192.0.2.7:5070');
    expect(bye.headers.all('route')).toEqual(['<sip:192.0.2.9:5080;lr>', '<sip:p2.example.test;lr>']);
    expect(bye.headers.get('cseq')).toBe('5 BYE');
  });

  it('strict routing: the first route is the Request-URI and the remote target goes last in Route', () => {
    const bye = dialogWith(['<sip:192.0.2.9:5080;transport=udp;method=INVITE>', '<sip:p2.example.test;lr>']).request('BYE', {});
    expect(bye.uriText).toBe('sip:192.0.2.9:5080;transport=udp');
    expect(bye.headers.all('route')).toEqual(['<sip:p2.example.test;lr>', '<sip:alice@192.0.2.7:5070>']);
  });

  it('no route set: no Route header', () => {
    const bye = dialogWith([]).request('BYE', {});
    expect(bye.uriText).toBe('sip:alice@192.0.2.7:5070');
    expect(bye.headers.all('route')).toEqual([]);
  });

  it('builds the ACK for a 2xx with the INVITE\'s CSeq number, the route set and no Contact (RFC 3261 §13.2.2.4)', () => {
    const d = dialogWith(['<sip:192.0.2.9:5080;lr>']);
    const ack = d.ack(1);
    expect(ack.headers.get('cseq')).toBe('1 ACK');
    expect(ack.headers.all('route')).toEqual(['<sip:192.0.2.9:5080;lr>']);
    expect(ack.headers.get('contact')).toBeUndefined();
    expect(d.state.localSeq).toBe(4);
  });

  it('sends to the first route over UDP, and over the peer\'s connection when it came over one', () => {
    expect(dialogDestination(['<sip:192.0.2.9:5080;lr>'], 'sip:alice@192.0.2.7:5070', udp)).toEqual({ transport: 'UDP', address: '192.0.2.9', port: 5080 });
    expect(dialogDestination([], 'sip:alice@192.0.2.7:5070', udp)).toEqual({ transport: 'UDP', address: '192.0.2.7', port: 5070 });
    const tcp: Source = { transport: 'TCP', address: '198.51.100.9', port: 40001, flowId: 'tcp:198.51.100.9:40001' };
    expect(dialogDestination(['<sip:192.0.2.9:5080;lr>'], 'sip:alice@192.0.2.7:5070', tcp)).toEqual({ ...tcp });
  });
});
