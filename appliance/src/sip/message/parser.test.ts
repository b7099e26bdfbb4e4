import { describe, expect, it } from 'vitest';
import { parseDatagram } from './parser.js';
import { StreamFramer } from './stream-framer.js';
import { loadTorture, accepts } from '../../../../test/support/torture.js';

const cases = loadTorture();

describe('RFC 4475 / RFC 5118 torture messages over a datagram', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const outcome = parseDatagram(c.bytes);
    expect(outcome).not.toBeNull();
    if (c.class === 'valid') {
      if (c.verdict.accept === 'any') return;
      if (!outcome!.ok) expect.fail(`rejected: ${outcome!.rejected.status} ${outcome!.rejected.reason}`);
      return;
    }
    // invalid: must be rejected, with an accepted status (0 = dropped silently)
    if (outcome!.ok) expect.fail('accepted an invalid message');
    const { status } = outcome!.rejected;
    if (c.kind === 'response') return;
    expect(status === 0 ? c.verdict.silence_ok : accepts(c.verdict.accept, status), `status ${status} ${outcome!.rejected.reason}`).toBe(true);
  });

  it('frames dblreq by Content-Length and ignores the trailing INVITE', () => {
    const c = cases.find((x) => x.name === 'dblreq')!;
    const outcome = parseDatagram(c.bytes);
    expect(outcome?.ok && outcome.message.isRequest && outcome.message.method).toBe('REGISTER');
  });

  it('keeps NULs in the mpart01 body', () => {
    const c = cases.find((x) => x.name === 'mpart01')!;
    const outcome = parseDatagram(c.bytes);
    expect(outcome?.ok).toBe(true);
    if (outcome?.ok) expect(outcome.message.body.includes(0)).toBe(true);
  });

  it('reads the esc01 and semiuri Request-URIs as RFC 4475 describes', () => {
    const semi = parseDatagram(cases.find((x) => x.name === 'semiuri')!.bytes);
    if (!semi?.ok || !semi.message.isRequest) throw new Error('semiuri not parsed');
    expect(semi.message.sipUri?.user).toBe('user;par=u%40example.net');
    expect(semi.message.sipUri?.host).toBe('example.com');
  });

  it('reads port-ambiguous as one IPv6 address without a port', () => {
    const o = parseDatagram(cases.find((x) => x.name === 'port-ambiguous')!.bytes);
    if (!o?.ok) throw new Error('not parsed');
    const contacts = o.message.contacts;
    expect(contacts !== '*' && contacts[0].uri.scheme).toBe('sip');
  });
});

describe('stream framing', () => {
  it('waits for the rest of a body (clerr on a stream)', () => {
    const c = cases.find((x) => x.name === 'clerr')!;
    const framer = new StreamFramer();
    expect(framer.push(c.bytes)).toEqual([]);
  });

  it.each(['ncl', 'mcl01'])('%s loses the framing: answer and close', (name) => {
    const framer = new StreamFramer();
    const items = framer.push(cases.find((x) => x.name === name)!.bytes);
    expect(items[0].kind).toBe('fatal');
  });

  it('splits two pipelined messages and answers a CRLFCRLF ping', () => {
    const msg = 'OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n';
    const framer = new StreamFramer();
    const items = framer.push(Buffer.from('\r\n\r\n' + msg + msg.slice(0, 20)));
    expect(items.map((i) => i.kind)).toEqual(['ping', 'message']);
    expect(framer.push(Buffer.from(msg.slice(20))).map((i) => i.kind)).toEqual(['message']);
  });

  it('rejects a message over the size limit with 513', () => {
    const framer = new StreamFramer({ maxMessageBytes: 200, maxBodyBytes: 100 });
    const items = framer.push(Buffer.from('MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 500\r\n\r\n'));
    expect(items[0]).toMatchObject({ kind: 'fatal', rejected: { status: 513 } });
  });
});

describe('header section', () => {
  const base = (lines: string[]): Buffer =>
    Buffer.from(['OPTIONS sip:example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@example.com>;tag=1', 'To: <sip:example.com>', 'Call-ID: x', ...lines, 'Content-Length: 0', '', ''].join('\r\n'));

  it('unfolds a continuation line (RFC 3261 §7.3.1)', () => {
    const o = parseDatagram(base(['CSeq: 1', '\tOPTIONS', 'Subject: a', ' b']));
    if (!o?.ok) throw new Error('not parsed');
    expect(o.message.cseq).toEqual({ seq: 1, method: 'OPTIONS' });
    expect(o.message.headers.get('subject')).toBe('a b');
  });

  it('reads names in any case and compact form', () => {
    const o = parseDatagram(base(['CSEQ: 1 OPTIONS', 'SUBJECT: hi', 'k: foo']));
    if (!o?.ok) throw new Error('not parsed');
    expect(o.message.cseq.method).toBe('OPTIONS');
    expect(o.message.headers.get('Subject')).toBe('hi');
    expect(o.message.tokens('supported')).toEqual(['foo']);
  });

  it('reads a CSeq with more white space, and refuses a malformed one', () => {
    const spaced = parseDatagram(base(['CSeq: 7 \t OPTIONS']));
    expect(spaced?.ok && spaced.message.cseq).toEqual({ seq: 7, method: 'OPTIONS' });
    for (const bad of ['CSeq: 1 OPTIONS x', 'CSeq: OPTIONS', 'CSeq: 1x OPTIONS', 'CSeq: 12345678901 OPTIONS', 'CSeq: 2147483648 OPTIONS']) {
      const o = parseDatagram(base([bad]));
      expect(o?.ok, bad).toBe(false);
    }
  });

  it('reads white space after the last slash of a Via (RFC 3261 §25.1 SLASH = SWS "/" SWS)', () => {
    for (const via of ['SIP/2.0/ UDP h;branch=z9hG4bK1', 'SIP/2.0/\tUDP h;branch=z9hG4bK1', 'SIP / 2.0 / UDP h;branch=z9hG4bK1']) {
      const text = ['OPTIONS sip:example.com SIP/2.0', `Via: ${via}`, 'From: <sip:a@example.com>;tag=1', 'To: <sip:example.com>', 'Call-ID: x', 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''].join('\r\n');
      const o = parseDatagram(Buffer.from(text));
      expect(o?.ok && o.message.topVia.transport, via).toBe('UDP');
    }
  });

  it('names a duplicated single header as it was written', () => {
    const o = parseDatagram(base(['CSeq: 1 OPTIONS', 'Max-Forwards: 70', 'Max-Forwards: 69']));
    expect(o?.ok === false && o.rejected.reason).toBe('Duplicate Max-Forwards header');
  });
});
