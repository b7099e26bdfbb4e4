import { describe, expect, it } from 'vitest';
import { MsrpFramer } from './msrp-framer.js';
import type { MsrpError, MsrpMessage } from './msrp-types.js';

function framer(maxChunkBytes = 1024) {
  const got: MsrpMessage[] = [];
  const rejected: { tid: string; status: number }[] = [];
  const f = new MsrpFramer({ maxChunkBytes, maxHeaderBytes: 4096 }, { message: (m) => got.push(m), rejected: (tid, _h, e: MsrpError) => rejected.push({ tid, status: e.status }) });
  return { f, got, rejected };
}

const SEND = 'MSRP a786hjs2 SEND\r\nTo-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp\r\nFrom-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\nMessage-ID: 87652491\r\nByte-Range: 1-25/25\r\nContent-Type: text/plain\r\n\r\nHey Bob, are you there?\r\n-------a786hjs2$\r\n';
const OK = 'MSRP a786hjs2 200 OK\r\nTo-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\nFrom-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp\r\n-------a786hjs2$\r\n';

describe('MsrpFramer', () => {
  it('frames the RFC 4975 §7.1 example SEND and its 200, byte by byte', () => {
    const { f, got } = framer();
    for (const b of Buffer.from(SEND + OK)) f.push(Buffer.from([b]));
    expect(got).toHaveLength(2);
    const [send, ok] = got;
    expect(send.kind === 'request' && send.body!.toString()).toBe('Hey Bob, are you there?');
    expect(send.kind === 'request' && send.continuation).toBe('$');
    expect(ok.kind === 'response' && ok.status).toBe(200);
  });

  it('frames several messages in one read', () => {
    const { f, got } = framer();
    f.push(Buffer.from(SEND + SEND + OK + SEND));
    expect(got.map((m) => m.kind)).toEqual(['request', 'request', 'response', 'request']);
  });

  it('takes the end-line text inside a body for data unless a flag and CRLF follow', () => {
    const { f, got } = framer();
    const body = 'x\r\n-------a786hjs2 not the end';
    f.push(Buffer.from(SEND.replace('Hey Bob, are you there?', body).replace('1-25/25', `1-${body.length}/${body.length}`)));
    expect(got[0].kind === 'request' && got[0].body!.toString()).toBe(body);
  });

  it('rejects a chunk larger than the limit with 413 and frames the next message', () => {
    const { f, got, rejected } = framer(10);
    f.push(Buffer.from(SEND + SEND.replace('Hey Bob, are you there?', 'short').replace('1-25/25', '1-5/5')));
    expect(rejected).toEqual([{ tid: 'a786hjs2', status: 413 }]);
    expect(got).toHaveLength(1);
  });

  it('answers a bad header with 400 and goes on', () => {
    const { f, got, rejected } = framer();
    f.push(Buffer.from(SEND.replace('Message-ID: 87652491', 'no colon here') + OK));
    expect(rejected).toEqual([{ tid: 'a786hjs2', status: 400 }]);
    expect(got).toHaveLength(1);
  });

  it('requires To-Path then From-Path first', () => {
    const { f, rejected } = framer();
    const swapped = SEND.replace(/To-Path: (.*)\r\nFrom-Path: (.*)\r\n/, 'From-Path: $2\r\nTo-Path: $1\r\n');
    f.push(Buffer.from(swapped));
    expect(rejected[0].status).toBe(400);
  });

  it('throws a fatal error on bytes that are not MSRP', () => {
    const { f } = framer();
    expect(() => f.push(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toThrow(expect.objectContaining({ fatal: true }));
  });
});
