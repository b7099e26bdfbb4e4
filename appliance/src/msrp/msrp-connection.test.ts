import { describe, expect, it } from 'vitest';
import { MsrpConnection, type MsrpPipe } from './msrp-connection.js';

/** A connection over a pipe that keeps what is written and never answers by itself. */
function connection(transactionTimeoutMs: number): { conn: MsrpConnection; written: Buffer[] } {
  const written: Buffer[] = [];
  const pipe: MsrpPipe = { kind: 'tcp', remote: 'test', write: (d) => void written.push(d), close: () => undefined };
  const conn = new MsrpConnection(pipe, { find: () => undefined }, { transactionTimeoutMs, maxChunkBytes: 65_536, maxHeaderBytes: 8192 });
  return { conn, written };
}

const send = (tid: string) => Buffer.from(`MSRP ${tid} SEND\r\nTo-Path: msrp://h:1/a;tcp\r\nFrom-Path: msrp://h:2/b;tcp\r\nMessage-ID: m\r\nByte-Range: 1-0/0\r\n-------${tid}$\r\n`);
const ok = (tid: string) => Buffer.from(`MSRP ${tid} 200 OK\r\nTo-Path: msrp://h:2/b;tcp\r\nFrom-Path: msrp://h:1/a;tcp\r\n-------${tid}$\r\n`);

describe('MsrpConnection transactions', () => {
  it('matches each response to its request, and times out the unanswered ones with 408 (RFC 4975 §7.3.1)', async () => {
    const { conn, written } = connection(50);
    const answered = Array.from({ length: 3 }, (_, i) => conn.requestBytes(`tidA${i}`, send(`tidA${i}`)));
    const unanswered = conn.requestBytes('tidZZ', send('tidZZ'));
    expect(written).toHaveLength(4);
    // answered out of order, in one read
    conn.feed(Buffer.concat([ok('tidA2'), ok('tidA0'), ok('tidA1')]));
    expect((await Promise.all(answered)).map((r) => r?.status)).toEqual([200, 200, 200]);
    expect(await unanswered).toMatchObject({ tid: 'tidZZ', status: 408, comment: 'Request Timeout' });
    // a late answer is dropped (RFC 4975 §7.2), and the connection carries on
    conn.feed(ok('tidZZ'));
    const again = conn.requestBytes('tidB0', send('tidB0'));
    conn.feed(ok('tidB0'));
    expect((await again)?.status).toBe(200);
    conn.close();
  });

  it('fails what is pending with 408 when the connection closes, and resolves at once with no response expected', async () => {
    const { conn } = connection(30_000);
    const pending = conn.requestBytes('tidC0', send('tidC0'));
    expect(await conn.requestBytes('tidC1', send('tidC1'), false)).toBeNull();
    conn.close();
    expect(await pending).toMatchObject({ status: 408, comment: 'Connection closed' });
  });
});
