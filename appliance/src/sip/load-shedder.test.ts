import { describe, expect, it } from 'vitest';
import { LoadShedder } from './load-shedder.js';
import { OverloadGuard } from './overload-guard.js';
import { parseDatagram } from './message/parser.js';
import type { Destination, Source } from './transport/transport-types.js';

const source: Source = { transport: 'UDP', address: '127.0.0.1', port: 5070, flowId: 'udp:127.0.0.1:5070' };

let branches = 0;
function datagram(method: string, toTag = '', extra: string[] = []): Buffer {
  return Buffer.from(
    [
      `${method} sip:bob@parley.test SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK${branches++}`,
      'From: <sip:alice@parley.test>;tag=a',
      `To: <sip:bob@parley.test>${toTag ? `;tag=${toTag}` : ''}`,
      'Call-ID: c1',
      `CSeq: 1 ${method}`,
      ...extra,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/** A guard shedding all new work it can (its queue stays far over the bound), and what the shedder sends. */
function shedding(delay = 10_000) {
  let t = 0;
  const guard = new OverloadGuard({ maxQueueDelay: 100, retryAfter: 7, staleAfter: 500 }, () => delay, () => t);
  for (let i = 0; i < 200; i++) {
    t += 50;
    void guard.shedding;
  }
  const sent: { text: string; dest: Destination }[] = [];
  const shedder = new LoadShedder(guard, 'node1', 'Parley/test', (data, dest) => sent.push({ text: data.toString(), dest }), 32_000, () => t);
  /** the queue empties and the guard, asked every 50 ms, admits everything again */
  const recover = () => {
    delay = 0;
    for (let i = 0; i < 40 && guard.shedding; i++) t += 50;
    expect(guard.shedding).toBe(false);
  };
  return { guard, shedder, sent, recover, advance: (ms: number) => (t += ms) };
}

const toTagOf = (text: string) => /^To:.*;tag=([^;\r\n]+)/im.exec(text)?.[1];

describe('load shedder', () => {
  it('lets everything through while the guard is not shedding', () => {
    const guard = new OverloadGuard({ maxQueueDelay: 100, retryAfter: 7, staleAfter: 500 }, () => 0);
    const sent: string[] = [];
    const shedder = new LoadShedder(guard, 'node1', '', (data) => sent.push(data.toString()));
    expect(shedder.shedDatagram(datagram('MESSAGE'), source, null)).toBe(false);
    expect(sent).toEqual([]);
  });

  it('does not judge again what the native socket admitted (its token is taken already)', () => {
    const { guard, shedder, sent } = shedding();
    const before = guard.state.refused.newWork;
    const admitted: Source = { ...source, admittedByGate: true };
    for (let i = 0; i < 200; i++) expect(shedder.shedDatagram(datagram('MESSAGE'), admitted, null)).toBe(false);
    expect(sent).toEqual([]);
    expect(guard.state.refused.newWork).toBe(before);
  });

  it('refuses new work from its raw lines with a 503, Retry-After, Server and a To tag of its own, back to the source port', () => {
    const { shedder, sent } = shedding();
    const outcomes = Array.from({ length: 200 }, () => shedder.shedDatagram(datagram('MESSAGE'), source, null));
    // new work is still admitted at the smallest rate, so the controller sees capacity come back
    expect(outcomes.filter((dealt) => dealt).length).toBeGreaterThan(150);
    const refusal = sent[0];
    expect(refusal.text).toMatch(/^SIP\/2\.0 503 Service Unavailable\r\n/);
    expect(refusal.text).toMatch(/\r\nRetry-After: 7\r\n/i);
    expect(refusal.text).toMatch(/\r\nServer: Parley\/test\r\n/i);
    expect(toTagOf(refusal.text)).toMatch(/^r\.node1/);
    expect(refusal.dest).toEqual({ transport: 'UDP', address: '127.0.0.1', port: 5070 });
    // every refusal has its own To tag
    expect(new Set(sent.map((s) => toTagOf(s.text))).size).toBe(sent.length);
  });

  it('answers a request inside a refusal\'s "dialog" 481 without a transaction, and takes its ACK silently', () => {
    const { shedder, sent } = shedding();
    while (sent.length === 0) shedder.shedDatagram(datagram('MESSAGE'), source, null);
    const tag = toTagOf(sent[0].text)!;
    sent.length = 0;
    // SIPp's BYE after a call it aborted on our 503 (RFC 3261 §12.2.2: no such dialog)
    expect(shedder.shedDatagram(datagram('BYE', tag), source, null)).toBe(true);
    expect(sent).toHaveLength(1);
    expect(sent[0].text).toMatch(/^SIP\/2\.0 481 Call\/Transaction Does Not Exist\r\n/);
    expect(shedder.shedDatagram(datagram('ACK', tag), source, null)).toBe(true);
    expect(sent).toHaveLength(1);
  });

  it('still answers requests inside a refusal\'s "dialog" once shedding has stopped, until 64·T1 after the last refusal', () => {
    const { shedder, sent, recover, advance } = shedding();
    expect(shedder.hasRefused).toBe(false);
    while (sent.length === 0) shedder.shedDatagram(datagram('MESSAGE'), source, null);
    const tag = toTagOf(sent[0].text)!;
    expect(shedder.hasRefused).toBe(true);
    sent.length = 0;
    recover();
    // new work and other dialogs go on to the parser; SIPp's late BYE for a refused call does not
    expect(shedder.shedDatagram(datagram('MESSAGE'), source, null)).toBe(false);
    expect(shedder.shedDatagram(datagram('BYE', 'their-dialog'), source, null)).toBe(false);
    expect(shedder.shedDatagram(datagram('BYE', tag), source, null)).toBe(true);
    expect(sent.map((s) => s.text.split('\r\n')[0])).toEqual(['SIP/2.0 481 Call/Transaction Does Not Exist']);
    expect(shedder.shedDatagram(datagram('ACK', tag), source, null)).toBe(true);
    expect(sent).toHaveLength(1);
    // a refusal tag in another header is not a refusal's dialog
    expect(shedder.shedDatagram(datagram('BYE', 'theirs', [`Subject: x;tag=${tag}`]), source, null)).toBe(false);
    // past 64·T1 the bytes are no longer searched: the parsed path (the stack) answers what comes
    advance(32_001);
    expect(shedder.shedDatagram(datagram('BYE', tag), source, null)).toBe(false);
    expect(shedder.isRefusalTag(tag)).toBe(true);
    expect(shedder.isRefusalTag('r.other')).toBe(false);
    expect(shedder.isRefusalTag(undefined)).toBe(false);
  });

  it('admits finishing work (credentials, in-dialog, ACK, CANCEL) even while shedding', () => {
    const { shedder, sent } = shedding();
    expect(shedder.shedDatagram(datagram('MESSAGE', '', ['Proxy-Authorization: Digest username="alice", nonce="n"']), source, null)).toBe(false);
    expect(shedder.shedDatagram(datagram('BYE', 'their-dialog'), source, null)).toBe(false);
    expect(shedder.shedDatagram(datagram('ACK'), source, null)).toBe(false);
    expect(shedder.shedDatagram(datagram('CANCEL'), source, null)).toBe(false);
    expect(sent).toEqual([]);
  });

  it('gives a parsed request (a connection) its 503 as a response object, or null to serve it', () => {
    const { shedder } = shedding();
    const parse = (data: Buffer) => {
      const out = parseDatagram(data);
      if (out === null || !out.ok || !out.message.isRequest) throw new Error('not a request');
      return out.message;
    };
    const refusals = Array.from({ length: 100 }, () => shedder.refusal(parse(datagram('MESSAGE')))).filter((r) => r !== null);
    expect(refusals.length).toBeGreaterThan(50);
    const res = refusals[0]!;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.headers.get('server')).toBe('Parley/test');
    expect(res.toTag).toMatch(/^r\.node1/);
    expect(shedder.refusal(parse(datagram('ACK')))).toBeNull();
  });
});
