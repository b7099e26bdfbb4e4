import { afterEach, describe, expect, it, vi } from 'vitest';
import { StreamFramer, type FramedItem } from './stream-framer.js';
import { loadTorture } from '../../../../test/support/torture.js';

/** A comparable summary of what the framer handed back. */
function summary(items: FramedItem[]): unknown[] {
  return items.map((i) => {
    if (i.kind === 'ping') return 'ping';
    if (i.kind === 'fatal') return ['fatal', i.rejected?.status ?? null, i.rejected?.reason ?? null];
    if (!i.outcome.ok) return ['rejected', i.outcome.rejected.status, i.outcome.rejected.reason];
    const m = i.outcome.message;
    return ['message', m.callId, m.cseq.seq, m.body.toString('latin1')];
  });
}

function options(callId: string, extraHeaders = '', body = ''): string {
  return (
    `OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK${callId}\r\nFrom: <sip:a@example.com>;tag=1\r\n` +
    `To: <sip:example.com>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\n${extraHeaders}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** A bare-LF message (RFC 5118 examples arrive so); RFC 3261 §7.5 wants CRLF, we are liberal. */
const BARE_LF = options('bare', '', 'v=0\n').replaceAll('\r\n', '\n');

afterEach(() => {
  vi.restoreAllMocks();
});

describe('StreamFramer', () => {
  it('frames a 60 KB header sent one byte at a time, once, at its last byte', () => {
    const big = Buffer.from(options('big', `X-Filler: ${'a'.repeat(60_000)}\r\n`, 'the body'));
    const framer = new StreamFramer();
    const items: FramedItem[] = [];
    for (let i = 0; i < big.length; i++) {
      const got = framer.push(big.subarray(i, i + 1));
      if (got.length > 0) expect(i).toBe(big.length - 1);
      items.push(...got);
    }
    expect(summary(items)).toEqual([['message', 'big', 1, 'the body']]);
    expect(framer.midMessage).toBe(false);
  });

  it('does work linear in the bytes received, however they are cut', () => {
    // Bytes scanned (indexOf) and copied (concat, copy) by Buffer primitives: the earlier framer
    // concatenated the whole buffer and rescanned it from the start on every chunk (n² / 2).
    let work = 0;
    const indexOf = Buffer.prototype.indexOf;
    vi.spyOn(Buffer.prototype, 'indexOf').mockImplementation(function (this: Buffer, value, byteOffset, encoding) {
      work += this.length - (typeof byteOffset === 'number' ? byteOffset : 0);
      return indexOf.call(this, value, byteOffset, encoding);
    });
    const concat = Buffer.concat;
    vi.spyOn(Buffer, 'concat').mockImplementation((list, total) => {
      const out = concat(list, total);
      work += out.length;
      return out;
    });
    const copy = Buffer.prototype.copy;
    vi.spyOn(Buffer.prototype, 'copy').mockImplementation(function (this: Buffer, target, targetStart, sourceStart, sourceEnd) {
      const n = copy.call(this, target, targetStart, sourceStart, sourceEnd);
      work += n;
      return n;
    });
    const big = Buffer.from(options('linear', `X-Filler: ${'a'.repeat(60_000)}\r\n`));
    const framer = new StreamFramer();
    const items: FramedItem[] = [];
    for (let i = 0; i < big.length; i++) items.push(...framer.push(big.subarray(i, i + 1)));
    vi.restoreAllMocks();
    expect(items).toHaveLength(1);
    expect(work).toBeLessThan(4 * big.length);
  });

  it('gives the same result for a stream split at every possible offset', () => {
    const stream = Buffer.from(['\r\n\r\n', options('one', '', 'x\r\n\r\ny'), '\r\n', BARE_LF, options('three', 'Subject: a\r\n b\r\n'), '\r\n\r\n'].join(''));
    const whole = summary(new StreamFramer().push(stream));
    expect(whole).toEqual(['ping', ['message', 'one', 1, 'x\r\n\r\ny'], ['message', 'bare', 1, 'v=0\n'], ['message', 'three', 1, ''], 'ping']);
    for (let i = 1; i < stream.length; i++) {
      const framer = new StreamFramer();
      const items = [...framer.push(stream.subarray(0, i)), ...framer.push(stream.subarray(i))];
      expect(summary(items), `split at ${i}`).toEqual(whole);
    }
  });

  it('frames every RFC 4475 / 5118 message the same, whole or split at every offset', () => {
    for (const c of loadTorture()) {
      const whole = summary(new StreamFramer().push(c.bytes));
      for (let i = 1; i < c.bytes.length; i++) {
        const framer = new StreamFramer();
        const items = summary([...framer.push(c.bytes.subarray(0, i)), ...framer.push(c.bytes.subarray(i))]);
        // compared as text first: 30,000 deep comparisons would dominate the run
        if (JSON.stringify(items) !== JSON.stringify(whole)) expect(items, `${c.name} split at ${i}`).toEqual(whole);
      }
    }
  });

  it('answers a CRLFCRLF ping that arrives in two halves (RFC 5626 §3.5.1)', () => {
    const framer = new StreamFramer();
    expect(framer.push(Buffer.from('\r\n'))).toEqual([]);
    expect(framer.midMessage).toBe(false);
    expect(framer.push(Buffer.from('\r\n'))).toEqual([{ kind: 'ping' }]);
  });

  it('knows when a message is under way', () => {
    const framer = new StreamFramer();
    const msg = options('mid');
    framer.push(Buffer.from(msg.slice(0, 10)));
    expect(framer.midMessage).toBe(true);
    framer.push(Buffer.from(msg.slice(10)));
    expect(framer.midMessage).toBe(false);
  });

  it('drops its buffer and ignores the rest of the stream after a fatal error', () => {
    const framer = new StreamFramer({ maxMessageBytes: 1024, maxBodyBytes: 512 });
    const items = framer.push(Buffer.concat([Buffer.from(options('ok')), Buffer.alloc(2000, 0x61)]));
    expect(summary(items)).toEqual([['message', 'ok', 1, ''], ['fatal', null, null]]);
    expect(framer.buffered).toBe(0);
    expect(framer.push(Buffer.from(options('after')))).toEqual([]);
    expect(framer.buffered).toBe(0);
  });
});
