import { describe, expect, it } from 'vitest';
import { rawHead, rawResponse } from './raw-head.js';

const request = (lines: string[]) => Buffer.from(`${lines.join('\r\n')}\r\n\r\nbody`);
const MESSAGE = [
  'MESSAGE sip:bob@parley.test SIP/2.0',
  'v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx',
  'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKy',
  'From: <sip:alice@parley.test>;tag=a',
  't : <sip:bob@parley.test>',
  'i: c1',
  'CSeq: 1 MESSAGE',
  'Max-Forwards: 70',
  'Content-Length: 4',
];

describe('the light look at a request (overload control, RFC 3261 §21.5.4)', () => {
  it('reads method, credentials and dialog, and answers with the copied lines as received, a To tag added', () => {
    const head = rawHead(request(MESSAGE))!;
    expect(head).toMatchObject({ method: 'MESSAGE', credentials: false, inDialog: false, toTag: null });
    const res = rawResponse(head, 503, 'Service Unavailable', 'tag1', 'Retry-After: 5\r\n').toString('latin1');
    expect(res).toBe(
      ['SIP/2.0 503 Service Unavailable', ...MESSAGE.slice(1, 4), 't : <sip:bob@parley.test>;tag=tag1', 'i: c1', 'CSeq: 1 MESSAGE', 'Retry-After: 5', 'Content-Length: 0', '', ''].join('\r\n'),
    );
  });

  it('sees credentials and a To tag (work that finishes something)', () => {
    const head = rawHead(request([...MESSAGE.slice(0, 4), 'To: <sip:bob@parley.test>;tag=b', ...MESSAGE.slice(5), 'proxy-authorization: Digest username="alice"']))!;
    expect(head).toMatchObject({ credentials: true, inDialog: true, toTag: 'b' });
    // the tag's value, whatever the spacing and parameters around it (a refusal's own tag is recognised by it)
    expect(rawHead(request([...MESSAGE.slice(0, 4), 'To: <sip:bob@parley.test> ; TAG = r.x-1_2;foo=bar', ...MESSAGE.slice(5)]))!.toTag).toBe('r.x-1_2');
    expect(rawResponse(head, 503, 'Service Unavailable', 'new', '').toString()).toMatch(/^To: <sip:bob@parley\.test>;tag=b\r$/m);
  });

  it('reads the nonce of the credentials, not the cnonce, whatever the order and spacing', () => {
    const auth = (line: string) => rawHead(request([...MESSAGE, line]))!;
    expect(auth('Proxy-Authorization: Digest username="alice", cnonce="c1", nonce="n1", nc=00000001').nonce).toBe('n1');
    expect(auth('authorization :Digest nonce = "n2",username="alice"').nonce).toBe('n2');
    expect(auth('Proxy-Authorization: Digest username="alice", cnonce="c1"')).toMatchObject({ credentials: true, nonce: null });
    expect(rawHead(request(MESSAGE))!.nonce).toBeNull();
  });

  it('tells names in any case, passes over others of the same length, and copies lines as received (UTF-8 too)', () => {
    const lines = [
      'MESSAGE sip:bob@parley.test SIP/2.0',
      'VIA: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx',
      'Vix: not a Via',
      'From: "Zoë Ünal" <sip:zoe@parley.test>;tag=z',
      'TO: <sip:bob@parley.test>',
      'CALL-ID: c2',
      'Content: also seven letters',
      'cseq: 2 MESSAGE',
      'PROXY-AUTHORIZATION: Digest nonce="n3"',
      'Content-Length: 0',
    ];
    const bytes = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
    const head = rawHead(bytes)!;
    expect(head).toMatchObject({ method: 'MESSAGE', credentials: true, nonce: 'n3', inDialog: false });
    const res = rawResponse(head, 481, 'Call/Transaction Does Not Exist', 't1', '');
    expect(res.toString('utf8')).toBe(
      ['SIP/2.0 481 Call/Transaction Does Not Exist', lines[1], lines[3], `${lines[4]};tag=t1`, lines[5], lines[7], 'Content-Length: 0', '', ''].join('\r\n'),
    );
  });

  it.each([
    ['a response', ['SIP/2.0 200 OK', ...MESSAGE.slice(1)]],
    ['a folded line', [...MESSAGE, ' continued']],
    ['a line without a name', [...MESSAGE, 'no colon here']],
    ['no To', MESSAGE.filter((l) => !l.startsWith('t '))],
    ['a request line without a space', ['MESSAGE', ...MESSAGE.slice(1)]],
    ['an empty name', [...MESSAGE, ': no name']],
  ])('leaves %s to the parser', (_what, lines) => {
    expect(rawHead(request(lines))).toBeNull();
  });
});
