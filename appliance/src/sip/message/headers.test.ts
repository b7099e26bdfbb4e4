import { describe, expect, it } from 'vitest';
import { Headers } from './headers.js';
import { receivedName } from './header-names.js';
import { parseMessage } from './parser.js';
import { serialize } from './serializer.js';

describe('Headers', () => {
  it('keeps names in first-seen order, same-named values in theirs, and finds any spelling', () => {
    const h = new Headers();
    h.append('via', 'SIP/2.0/UDP a;branch=z9hG4bK1');
    h.append('from', '<sip:a@x>;tag=1');
    h.append('via', 'SIP/2.0/UDP b;branch=z9hG4bK2');
    expect(h.all('v')).toEqual(['SIP/2.0/UDP a;branch=z9hG4bK1', 'SIP/2.0/UDP b;branch=z9hG4bK2']);
    expect(h.get('FROM')).toBe('<sip:a@x>;tag=1');
    expect(h.has('f')).toBe(true);
    expect(h.format('')).toBe('Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK2\r\nFrom: <sip:a@x>;tag=1\r\n');
  });

  it('replaces a name where it stands, and a deleted name comes back last', () => {
    const h = new Headers();
    h.set('To', '<sip:b@x>');
    h.set('Call-ID', 'c1');
    h.set('CSeq', '1 MESSAGE');
    h.set('to', '<sip:b@x>;tag=9');
    h.delete('call-id');
    h.prepend('Call-ID', 'c2');
    expect(h.format('')).toBe('To: <sip:b@x>;tag=9\r\nCSeq: 1 MESSAGE\r\nCall-ID: c2\r\n');
    expect(h.format('cseq')).toBe('To: <sip:b@x>;tag=9\r\nCall-ID: c2\r\n');
    h.delete('no-such-header');
    expect(h.all('no-such-header')).toEqual([]);
  });

  it('gives a clone its own value lists', () => {
    const h = new Headers();
    h.append('route', '<sip:p1;lr>');
    const copy = h.clone();
    copy.append('route', '<sip:p2;lr>');
    copy.set('max-forwards', '69');
    expect(h.all('route')).toEqual(['<sip:p1;lr>']);
    expect(h.has('max-forwards')).toBe(false);
    expect(copy.all('route')).toEqual(['<sip:p1;lr>', '<sip:p2;lr>']);
  });
});

describe('receivedName', () => {
  it('reads compact forms and any case to one key, our spelling, and whether the header may repeat', () => {
    expect(receivedName('i')).toEqual({ key: 'call-id', spelling: 'Call-ID', single: true });
    expect(receivedName('CALL-ID')).toEqual({ key: 'call-id', spelling: 'Call-ID', single: true });
    expect(receivedName('v')).toEqual({ key: 'via', spelling: 'Via', single: false });
    expect(receivedName('x-Custom-thing')).toEqual({ key: 'x-custom-thing', spelling: 'X-Custom-Thing', single: false });
  });
});

describe('header values as parsed', () => {
  it('cuts the white space around values exactly as trim() does, in the common case and the others', () => {
    const text =
      'OPTIONS sip:x@example.test SIP/2.0\r\n' +
      'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKw1\r\n' +
      'From:<sip:a@example.test>;tag=1\r\n' +
      'To:\t <sip:x@example.test> \t\r\n' +
      'Call-ID:   w1\r\n' +
      'CSeq: 1 OPTIONS\r\n' +
      'Subject: \u00a0caf\u00e9\u00a0\r\n' +
      'Max-Forwards: 70\r\n\r\n';
    const out = parseMessage(Buffer.from(text));
    expect(out?.ok).toBe(true);
    if (!out?.ok) return;
    const h = out.message.headers;
    expect(h.get('from')).toBe('<sip:a@example.test>;tag=1');
    expect(h.get('to')).toBe('<sip:x@example.test>');
    expect(h.get('call-id')).toBe('w1');
    expect(h.get('subject')).toBe('café');
    expect(serialize(out.message).toString()).toContain('\r\nTo: <sip:x@example.test>\r\n');
  });

  it('reads a folded header section (RFC 3261 §7.3.1) to the same fields as the plain one, and names the same faults in both', () => {
    const plain = 'OPTIONS sip:x@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKf1\r\nFrom: <sip:a@example.test>;tag=1\r\nTo: <sip:x@example.test>\r\nCall-ID: f1\r\nCSeq: 1 OPTIONS\r\nSubject: one two\r\nMax-Forwards: 70\r\n\r\n';
    const folded = plain.replace('Subject: one two', 'Subject: one\r\n two').replace('To: <sip:x@example.test>', 'To:\r\n\t<sip:x@example.test>');
    const [a, b] = [parseMessage(Buffer.from(plain)), parseMessage(Buffer.from(folded))];
    expect(a?.ok && b?.ok).toBe(true);
    if (!a?.ok || !b?.ok) return;
    expect(b.message.headers.format('')).toBe(a.message.headers.format(''));
    for (const text of [plain, folded]) {
      const broken = parseMessage(Buffer.from(text.replace('Max-Forwards: 70', 'NoColonHere')));
      expect(broken?.ok === false && broken.rejected.reason).toBe("Malformed header line 'NoColonHere'");
      const twice = parseMessage(Buffer.from(text.replace('Max-Forwards: 70', 'Call-ID: f2')));
      expect(twice?.ok === false && twice.rejected.reason).toBe('Duplicate Call-ID header');
    }
  });
});

describe('Headers: one value kept without a list until a list is needed', () => {
  it('gives the same answers before and after a list was made', () => {
    const h = new Headers();
    h.append('via', 'a');
    expect(h.get('via')).toBe('a');
    expect(h.all('via')).toEqual(['a']);
    h.append('via', 'b');
    h.prepend('via', 'z');
    expect(h.get('via')).toBe('z');
    expect(h.all('via')).toEqual(['z', 'a', 'b']);
    expect(h.format('')).toBe('Via: z\r\nVia: a\r\nVia: b\r\n');
  });

  it('reads a value appended after an empty set, and a list changed in place', () => {
    const h = new Headers();
    h.set('route', []);
    expect(h.get('route')).toBeUndefined();
    expect(h.format('')).toBe('');
    h.append('route', '<sip:p>');
    expect(h.get('route')).toBe('<sip:p>');
    (h.all('route') as string[]).unshift('<sip:q>');
    expect(h.get('route')).toBe('<sip:q>');
  });

  it('clones values apart from the original', () => {
    const h = new Headers();
    h.append('supported', 'a');
    const c = h.clone();
    c.append('supported', 'b');
    h.set('supported', 'x');
    expect(c.all('supported')).toEqual(['a', 'b']);
    expect(h.all('supported')).toEqual(['x']);
  });
});
