import { describe, expect, it } from 'vitest';
import { withoutFirstVia } from './via-bytes.js';

const res = (vias: string, extra = ''): Buffer =>
  Buffer.from(`SIP/2.0 200 OK\r\n${vias}From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 2 MESSAGE\r\n${extra}Content-Length: 2\r\n\r\nhi`);

describe('withoutFirstVia (RFC 3261 §16.7 step 9 on the bytes)', () => {
  it('removes the first Via line and keeps everything else byte for byte', () => {
    const out = withoutFirstVia(res('Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKours\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKtheirs\r\n'));
    expect(out?.toString()).toBe(res('Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKtheirs\r\n').toString());
  });

  it('knows the compact form, in any case', () => {
    const out = withoutFirstVia(res('v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKours\r\nVIA: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\r\n'));
    expect(out?.toString()).toBe(res('VIA: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\r\n').toString());
  });

  it('finds a Via that is not the first field', () => {
    const out = withoutFirstVia(Buffer.from('SIP/2.0 200 OK\r\nCall-ID: c\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP g;branch=z9hG4bK2\r\n\r\n'));
    expect(out?.toString()).toBe('SIP/2.0 200 OK\r\nCall-ID: c\r\nVia: SIP/2.0/UDP g;branch=z9hG4bK2\r\n\r\n');
  });

  it('cuts the first of several values in one line, past commas in quoted strings', () => {
    const out = withoutFirstVia(res('Via: SIP/2.0/UDP a;branch=z9hG4bK1;x="p,\\"q", \tSIP/2.0/UDP b;branch=z9hG4bK2, SIP/2.0/UDP c\r\n'));
    expect(out?.toString()).toBe(res('Via: SIP/2.0/UDP b;branch=z9hG4bK2, SIP/2.0/UDP c\r\n').toString());
    const quotedOnly = withoutFirstVia(res('Via: SIP/2.0/UDP a;branch=z9hG4bK1;x="p,q"\r\nVia: SIP/2.0/UDP b\r\n'));
    expect(quotedOnly?.toString()).toBe(res('Via: SIP/2.0/UDP b\r\n').toString());
  });

  it('leaves a name with other white space, and a bare-LF head with CRLF in its body, to the serialiser', () => {
    expect(withoutFirstVia(res('Via\x0b: SIP/2.0/UDP p;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP c;branch=z9hG4bK2\r\n'))).toBeNull();
    const body = `${'x'.repeat(70)}\r\nv: SIP/2.0/UDP q;branch=z9hG4bK3, SIP/2.0/UDP r\r\n\r\n`;
    const bareLf = Buffer.from(`SIP/2.0 200 OK\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\nCall-ID: c\nContent-Length: ${body.length}\n\n${body}`);
    expect(withoutFirstVia(bareLf)).toBeNull();
  });

  it('leaves to the serialiser what it cannot cut safely', () => {
    expect(withoutFirstVia(res('Via: SIP/2.0/UDP a;branch=z9hG4bK1,\r\n'))).toBeNull();
    expect(withoutFirstVia(res('Via: SIP/2.0/UDP a\r\n ;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK2\r\n'))).toBeNull();
    expect(withoutFirstVia(Buffer.from('SIP/2.0 200 OK\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\n\n'))).toBeNull();
    expect(withoutFirstVia(Buffer.from('SIP/2.0 200 OK\r\nCall-ID: c\r\n\r\n'))).toBeNull();
  });
});
