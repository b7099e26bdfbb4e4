import { describe, expect, it } from 'vitest';
import { answerSetup, readMsrpMedia, withMsrpLimits, writeMsrpSdp } from './msrp-sdp.js';

// RFC 4975 §7.1's offer, plus RFC 6135 a=setup and RFC 7701 a=chatroom
const OFFER = [
  'v=0',
  'o=alice 2890844526 2890844527 IN IP4 alice.example.com',
  's= ',
  'c=IN IP4 alice.example.com',
  't=0 0',
  'm=message 7654 TCP/MSRP *',
  'a=accept-types:text/plain message/cpim',
  'a=accept-wrapped-types:*',
  'a=max-size:131072',
  'a=setup:actpass',
  'a=chatroom:nickname private-messages',
  'a=path:msrp://alice.example.com:7654/jshA7weztas;tcp',
  '',
].join('\r\n');

describe('MSRP SDP', () => {
  it('reads path, accept-types, accept-wrapped-types, max-size, setup and chatroom', () => {
    expect(readMsrpMedia(OFFER)).toEqual({
      protocol: 'TCP/MSRP',
      path: 'msrp://alice.example.com:7654/jshA7weztas;tcp',
      acceptTypes: ['text/plain', 'message/cpim'],
      acceptWrappedTypes: ['*'],
      maxSize: 131072,
      setup: 'actpass',
      direction: 'sendrecv',
      chatroom: ['nickname', 'private-messages'],
    });
  });

  it('refuses an SDP without a usable path, accept-types or MSRP media line', () => {
    expect(() => readMsrpMedia(OFFER.replace(/a=path:.*\r\n/, ''))).toThrow('No a=path');
    expect(() => readMsrpMedia(OFFER.replace('a=path:msrp://', 'a=path:http://'))).toThrow('Malformed a=path');
    expect(() => readMsrpMedia(OFFER.replace(/a=accept-types:.*\r\n/, ''))).toThrow('No a=accept-types');
    expect(() => readMsrpMedia(OFFER.replace('m=message 7654 TCP/MSRP *', 'm=audio 7654 RTP/AVP 0'))).toThrow('No MSRP media line');
  });

  it('writes what it reads back', () => {
    const sdp = writeMsrpSdp({ host: '192.0.2.1', port: 2855, protocol: 'TCP/MSRP', path: 'msrp://192.0.2.1:2855/abcd;tcp', acceptTypes: ['message/cpim', 'text/plain'], maxSize: 1000, setup: 'passive', sessionId: 1 });
    expect(readMsrpMedia(sdp)).toMatchObject({ path: 'msrp://192.0.2.1:2855/abcd;tcp', acceptTypes: ['message/cpim', 'text/plain'], maxSize: 1000, setup: 'passive' });
  });

  it('answers passive to active and actpass offers, active to passive ones (RFC 4145 §4.1)', () => {
    expect([answerSetup('active'), answerSetup('actpass'), answerSetup('passive')]).toEqual(['passive', 'passive', 'active']);
  });
});

describe('withMsrpLimits (SDP passed through, narrowed)', () => {
  const sdp = [
    'v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0',
    'm=audio 4000 RTP/AVP 0', 'a=accept-types:left-alone',
    'm=message 7654 TCP/MSRP *', 'a=accept-types:text/plain image/png', 'a=x-vendor:kept', 'a=path:msrp://10.0.0.1:7654/abc;tcp', 'a=setup:active',
    '',
  ].join('\r\n');

  it('replaces the MSRP line\'s accept-types, adds the max-size it lacked, and leaves every other line as it was', () => {
    const out = withMsrpLimits(sdp, { acceptTypes: ['text/plain'], acceptWrappedTypes: [], maxSize: 100 });
    expect(out.split('\r\n')).toEqual([
      'v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0',
      'm=audio 4000 RTP/AVP 0', 'a=accept-types:left-alone',
      'm=message 7654 TCP/MSRP *', 'a=accept-types:text/plain', 'a=x-vendor:kept', 'a=path:msrp://10.0.0.1:7654/abc;tcp', 'a=setup:active', 'a=max-size:100',
      '',
    ]);
    expect(readMsrpMedia(out)).toMatchObject({ acceptTypes: ['text/plain'], maxSize: 100, path: 'msrp://10.0.0.1:7654/abc;tcp' });
  });

  it('replaces a max-size in place, drops an emptied accept-wrapped-types, keeps LF line ends', () => {
    const lf = 'v=0\nm=message 9 TCP/WS/MSRP *\na=max-size:5000\na=accept-types:message/cpim\na=accept-wrapped-types:image/png\na=path:msrp://x.invalid:9/s;ws\n';
    expect(withMsrpLimits(lf, { acceptTypes: ['message/cpim'], acceptWrappedTypes: [], maxSize: 300 })).toBe('v=0\nm=message 9 TCP/WS/MSRP *\na=max-size:300\na=accept-types:message/cpim\na=path:msrp://x.invalid:9/s;ws\n');
  });
});
