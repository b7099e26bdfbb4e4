import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MsrpEndpoint } from './msrp-endpoint.js';
import type { ReceivedMessage, ReceivedReport } from './msrp-session.js';

const endpoints: MsrpEndpoint[] = [];
async function endpoint(maxMessageBytes = 2 * 1024 * 1024): Promise<MsrpEndpoint> {
  const e = new MsrpEndpoint({ host: '127.0.0.1', bind: '127.0.0.1', port: 0, tlsPort: null, maxChunkBytes: 64 * 1024, maxHeaderBytes: 8192, transactionTimeoutMs: 5000, maxMessageBytes, chunkBytes: 4096 });
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

  it('answers 481 for an unknown session, 506 for a session bound elsewhere, 501 for an unknown method', async () => {
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
    await expect.poll(() => replies.length, { timeout: 5000 }).toBe(3);
    expect(replies).toEqual(['MSRP t0001 481 Session Does Not Exist', 'MSRP t0002 506 Session bound to another connection', 'MSRP t0003 501 Unknown method FETCH']);
    sock.destroy();
  });
});
