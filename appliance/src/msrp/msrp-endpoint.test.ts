import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MsrpEndpoint } from './msrp-endpoint.js';
import type { ReceivedMessage, ReceivedReport } from './msrp-session.js';
import { MsrpError } from './msrp-types.js';

const endpoints: MsrpEndpoint[] = [];
async function endpoint(maxMessageBytes = 2 * 1024 * 1024, bindTimeoutMs = 30_000): Promise<MsrpEndpoint> {
  const e = new MsrpEndpoint({ host: '127.0.0.1', bind: '127.0.0.1', port: 0, tlsPort: null, maxChunkBytes: 64 * 1024, maxHeaderBytes: 8192, transactionTimeoutMs: 5000, maxMessageBytes, chunkBytes: 4096, bindTimeoutMs });
  await e.listen();
  endpoints.push(e);
  return e;
}
afterEach(() => {
  for (const e of endpoints.splice(0)) e.close();
});

/** A passive session on `server` and an active one on `client`, connected and bound. */
async function pair(server: MsrpEndpoint, client: MsrpEndpoint) {
  const passive = server.create();
  const active = client.create();
  passive.remotePath = active.localPath;
  active.remotePath = passive.localPath;
  const bound = new Promise<void>((resolve) => (passive.onBound = resolve));
  expect(await client.connect(active)).toBe(200);
  await bound;
  return { passive, active };
}

function next<T>(set: (f: (v: T) => void) => void): Promise<T> {
  return new Promise((resolve) => set(resolve));
}

describe('MsrpEndpoint', () => {
  it("refuses SENDs past a session's policy (RFC 4975 §7.3.1): 415 on the first chunk's type, 413 on the size; nothing of a refused message is handed on", async () => {
    const { passive, active } = await pair(await endpoint(), await endpoint());
    passive.policy = { maxMessageBytes: 10_000, check: (type) => (type.startsWith('text/') ? null : new MsrpError(415, 'not text')) };
    const got: string[] = [];
    passive.onMessage = (m) => (got.push(m.body.toString()), m.report(200));
    // 3 chunks of 4096 bytes: the first one's type is refused, and the message never completes
    expect(await active.send('image/png', Buffer.alloc(9000, 1))).toMatchObject({ status: 415, comment: 'not text' });
    expect(await active.send('text/plain', Buffer.alloc(12_000, 0x61))).toMatchObject({ status: 413 });
    expect((await active.send('text/plain', Buffer.from('fits'))).status).toBe(200);
    expect(got).toEqual(['fits']);
  });

  it('sends a 1 MiB message in chunks and the peer gets it whole, with a success report', async () => {
    const { passive, active } = await pair(await endpoint(), await endpoint());
    const body = Buffer.alloc(1024 * 1024, 0);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const got = next<ReceivedMessage>((f) => (passive.onMessage = (m) => (f(m), m.report(200))));
    const report = next<ReceivedReport>((f) => (active.onReport = f));
    const outcome = await active.send('application/octet-stream', body, { successReport: true });
    expect(outcome.status).toBe(200);
    const m = await got;
    expect(m.contentType).toBe('application/octet-stream');
    expect(m.body.equals(body)).toBe(true);
    const r = await report;
    expect({ id: r.messageId, status: r.status, range: r.byteRange }).toEqual({ id: outcome.messageId, status: 200, range: `1-${body.length}/${body.length}` });
  });

  it('carries a NICKNAME (RFC 7701) to the session that takes them, and answers 501 where none is taken', async () => {
    const { passive, active } = await pair(await endpoint(), await endpoint());
    expect(await active.sendNickname('Alice')).toEqual({ status: 501, comment: 'Unknown method NICKNAME' });
    const asked: string[] = [];
    passive.onNickname = (n) => {
      asked.push(n.nickname);
      n.respond(n.nickname === 'taken' ? 425 : 200);
    };
    expect((await active.sendNickname('Jürgen "J"')).status).toBe(200);
    expect(await active.sendNickname('taken')).toEqual({ status: 425, comment: 'Nickname reserved or already in use' });
    expect(await active.sendNickname('', '"bell\x07"')).toEqual({ status: 424, comment: 'Malformed nickname' });
    expect(asked).toEqual(['Jürgen "J"', 'taken']);
    // the session carries on
    const got = next<ReceivedMessage>((f) => (passive.onMessage = f));
    expect((await active.send('text/plain', Buffer.from('after'))).status).toBe(200);
    expect((await got).body.toString()).toBe('after');
  });

  it('answers a message over max-size with 413 and a failure report path stays usable', async () => {
    const { passive, active } = await pair(await endpoint(10_000), await endpoint());
    expect((await active.send('text/plain', Buffer.alloc(20_000, 'a'))).status).toBe(413);
    const got = next<ReceivedMessage>((f) => (passive.onMessage = f));
    expect((await active.send('text/plain', Buffer.from('still here'))).status).toBe(200);
    expect((await got).body.toString()).toBe('still here');
  });

  it('sends a failure REPORT when the receiver says the message failed', async () => {
    const { passive, active } = await pair(await endpoint(), await endpoint());
    passive.onMessage = (m) => m.report(480, 'Gone');
    const report = next<ReceivedReport>((f) => (active.onReport = f));
    await active.send('text/plain', Buffer.from('hello'));
    expect(await report).toMatchObject({ status: 480, comment: 'Gone' });
  });

  it('reuses one connection for two sessions to the same peer (RFC 4975 §5.4)', async () => {
    const server = await endpoint();
    const client = await endpoint();
    await pair(server, client);
    await pair(server, client);
    expect(client.stats.connections).toBe(1);
  });

  it("answers 481 for an unknown session, 506 for a session bound elsewhere, 501 for an unknown method, 403 for a stranger's From-Path", async () => {
    const server = await endpoint();
    const { passive } = await pair(server, await endpoint());
    const sock = net.connect(server.ports.MSRP, '127.0.0.1');
    const replies: string[] = [];
    sock.on('data', (d: Buffer) => replies.push(...d.toString().split('\r\n').filter((l) => l.startsWith('MSRP '))));
    const req = (tid: string, method: string, to: string) => `MSRP ${tid} ${method}\r\nTo-Path: ${to}\r\nFrom-Path: msrp://x.invalid:1/abcd;tcp\r\nMessage-ID: m1\r\n-------${tid}$\r\n`;
    sock.write(req('t0001', 'SEND', passive.localPath.replace(passive.sessionId, 'nosuchsession')));
    sock.write(req('t0002', 'SEND', passive.localPath));
    const fresh = server.create();
    sock.write(req('t0003', 'FETCH', fresh.localPath));
    // RFC 4975 §5.4: a session negotiated with one peer is not bound by a request from another
    const negotiated = server.create();
    negotiated.remotePath = 'msrp://peer.example:2855/theRealPeer;tcp';
    sock.write(req('t0004', 'SEND', negotiated.localPath));
    await expect.poll(() => replies.length, { timeout: 5000 }).toBe(4);
    expect(replies).toEqual([
      'MSRP t0001 481 Session Does Not Exist',
      'MSRP t0002 506 Session bound to another connection',
      'MSRP t0003 501 Unknown method FETCH',
      'MSRP t0004 403 From-Path does not match the session',
    ]);
    expect(negotiated.connection).toBe(null);
    sock.destroy();
  });

  it('closes an incoming connection that binds no session in time', async () => {
    const server = await endpoint(undefined, 200);
    const sock = net.connect(server.ports.MSRP, '127.0.0.1');
    sock.on('error', () => undefined);
    let closed = false;
    sock.on('close', () => (closed = true));
    // waits for the server to hang up, which it does once its bind timeout has passed
    await expect.poll(() => closed, { timeout: 5000 }).toBe(true);
  });
});
