import { describe, expect, it } from 'vitest';
import { parseDatagram } from './parser.js';
import { rawBranch, rawServerKey, serverKeyOf } from './raw-key.js';
import { loadTorture } from '../../../../test/support/torture.js';

/** The key the stack gives a fully parsed request (stack.ts serverKey, magic-cookie branches). */
function parsedKey(buf: Buffer): string | null {
  const o = parseDatagram(buf);
  if (!o?.ok || !o.message.isRequest) return null;
  const req = o.message;
  return serverKeyOf(req.topVia.branch, req.topVia.host, req.topVia.port, req.method, req.callId, req.cseq.seq);
}

const message = (lines: string[]): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
const BASE = [
  'MESSAGE sip:bob@parley.test SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc;rport',
  'From: <sip:alice@parley.test>;tag=1',
  'To: <sip:bob@parley.test>',
  'Call-ID: c1@host',
  'CSeq: 2 MESSAGE',
  'Max-Forwards: 70',
  'Content-Length: 0',
];

describe('a request datagram read as far as its transaction key (RFC 3261 §17.2.3)', () => {
  it('gives, for every RFC 4475/5118 torture request it reads, the key of the full parse', () => {
    let read = 0;
    for (const c of loadTorture()) {
      const raw = rawServerKey(c.bytes);
      if (raw === null) continue;
      const full = parsedKey(c.bytes);
      // a message the parser refuses never made a transaction, so its key can match nothing
      if (full === null) continue;
      expect(raw.key, c.name).toBe(full);
      read++;
    }
    expect(read).toBeGreaterThan(10);
  });

  it('reads compact forms, header names in any case and the top Via of a comma-joined list', () => {
    const b = message([
      'MESSAGE sip:bob@parley.test SIP/2.0',
      'v: SIP/2.0/UDP Client.Example.COM:5070;branch=z9hG4bK-x, SIP/2.0/UDP other:5060;branch=z9hG4bK-y',
      'f: <sip:alice@parley.test>;tag=1',
      't: <sip:bob@parley.test>',
      'i: compact@host',
      'CSEQ: 0007 MESSAGE',
      'l: 0',
    ]);
    expect(rawServerKey(b)?.key).toBe(parsedKey(b));
    expect(rawServerKey(b)?.key).toBe('z9hG4bK-x|client.example.com:5070|MESSAGE|compact@host|7');
  });

  it('keys an ACK as its INVITE', () => {
    const invite = message(BASE.map((l) => l.replace('MESSAGE', 'INVITE')));
    const ack = message(BASE.map((l) => l.replace('MESSAGE', 'ACK')));
    expect(rawServerKey(ack)).toEqual({ method: 'ACK', key: rawServerKey(invite)!.key });
  });

  it.each([
    ['a response', ['SIP/2.0 200 OK', ...BASE.slice(1)]],
    ['a folded Via', [...BASE.slice(0, 2), ' ;received=1.2.3.4', ...BASE.slice(2)]],
    ['a folded line further down', [...BASE, 'Subject: one', ' two']],
    ['a branch without the magic cookie (RFC 2543)', BASE.map((l) => l.replace('z9hG4bK-abc', 'old-style'))],
    ['no Call-ID', BASE.filter((l) => !l.startsWith('Call-ID'))],
    ['an unreadable CSeq', BASE.map((l) => (l.startsWith('CSeq') ? 'CSeq: two MESSAGE' : l))],
    ['an unreadable Via', BASE.map((l) => (l.startsWith('Via') ? 'Via: SIP/2.0/UDP' : l))],
  ])('leaves %s to the parser', (_what, lines) => {
    expect(rawServerKey(message(lines))).toBeNull();
  });

  it('leaves a bare-LF message to the parser', () => {
    expect(rawServerKey(Buffer.from(`${BASE.join('\n')}\n\n`))).toBeNull();
  });

  it('finds the first branch parameter as spelt, as a first look', () => {
    expect(rawBranch(message(BASE))).toBe('z9hG4bK-abc');
    expect(rawBranch(message(BASE.map((l) => l.replace(';branch=z9hG4bK-abc', ''))))).toBeNull();
  });
});
