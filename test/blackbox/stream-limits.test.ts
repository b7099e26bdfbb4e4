import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { RawClient, buildRequest } from '../support/raw-client.js';
import { withAuth } from '../support/digest-client.js';
import { xcapRequest } from '../support/xcap-client.js';
import { TESTDATA } from '../support/torture.js';

// Each suite runs its own appliance with the limit it exercises set low. MD5 only: the
// tests' digest client answers the first challenge whatever the default order becomes.
const AUTH = { algorithms: ['MD5'] };
const USERS = { alice: 'alice-pw', bob: 'bob-pw' };

/** Something connected to the appliance, and whether the server has closed it. */
interface Connection {
  readonly closed: boolean;
  close(): void;
}

/** A SIP WebSocket client (ws or wss) that only connects. */
async function openWs(url: string): Promise<Connection> {
  const ws = new WebSocket(url, 'sip', { rejectUnauthorized: false });
  const conn = { closed: false, close: () => ws.terminate() };
  ws.on('close', () => (conn.closed = true));
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  return conn;
}

/** The HTTP status a WebSocket upgrade gets (101 when accepted). */
function upgradeStatus(url: string, localAddress?: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'sip', { rejectUnauthorized: false, localAddress });
    ws.on('error', () => resolve(-1));
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
  });
}

function options(c: RawClient, domain: string): string {
  return buildRequest({ method: 'OPTIONS', uri: `sip:${domain}`, from: `sip:probe@${domain}`, to: `sip:${domain}`, transport: c.transport, localPort: c.localPort });
}

function many<T>(n: number, open: () => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, open));
}

describe('idle connections (sip.connections.idleTimeout)', () => {
  let app: RunningAppliance;
  const D = 'parley.test';
  beforeAll(async () => {
    app = await startAppliance({ config: { auth: AUTH, sip: { connections: { idleTimeout: 1, maxPerSource: 1000 } } }, users: USERS });
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  it('are closed by the server after idleTimeout, over TCP, TLS, WS and WSS', async () => {
    const conns: Connection[] = [
      ...(await many(500, () => RawClient.stream('TCP', app.sipPort))),
      ...(await many(10, () => RawClient.stream('TLS', app.tlsPort))),
      ...(await many(10, () => openWs(`ws://127.0.0.1:${app.wsPort}`))),
      ...(await many(10, () => openWs(`wss://127.0.0.1:${app.wssPort}`))),
    ];
    // waiting for: every one of the 530 idle connections closed from the server's side
    await eventually(() => conns.every((c) => c.closed), 15_000);
  });

  it('stay open while they carry a registration, and the registered device still gets its MESSAGE', async () => {
    const alice = await RawClient.stream('TCP', app.sipPort);
    const reg = await withAuth(
      alice,
      {
        method: 'REGISTER', uri: `sip:${D}`, from: `sip:alice@${D}`, to: `sip:alice@${D}`, transport: 'TCP', localPort: alice.localPort,
        headers: [`Contact: <sip:alice@127.0.0.1:${alice.localPort};transport=tcp>`, 'Expires: 300'],
      },
      'alice',
      'alice-pw',
    );
    expect(reg.final).toMatch(/^SIP\/2\.0 200 /);
    // a witness opened after the registration's last byte: once the server has closed it as idle,
    // the registered connection has been idle for longer than the timeout too
    const witness = await RawClient.stream('TCP', app.sipPort);
    await eventually(() => witness.closed, 15_000);
    expect(alice.closed).toBe(false);
    const bob = await RawClient.udp(app.sipPort);
    const sent = withAuth(
      bob,
      { method: 'MESSAGE', uri: `sip:alice@${D}`, from: `sip:bob@${D}`, to: `sip:alice@${D}`, transport: 'UDP', localPort: bob.localPort, body: 'still there?' },
      'bob',
      'bob-pw',
    );
    const msg = await alice.next((m) => m.startsWith('MESSAGE '));
    expect(msg).toContain('still there?');
    alice.answer(msg);
    expect((await sent).final).toMatch(/^SIP\/2\.0 200 /);
    alice.close();
    bob.close();
  });

  it('stay open while they carry an xcap-diff subscription, which still gets its NOTIFY', async () => {
    const sub = await RawClient.stream('TCP', app.sipPort);
    const subscribing = withAuth(
      sub,
      {
        method: 'SUBSCRIBE', uri: `sip:alice@${D}`, from: `sip:alice@${D}`, to: `sip:alice@${D}`, transport: 'TCP', localPort: sub.localPort,
        headers: ['Event: xcap-diff', 'Accept: application/xcap-diff+xml', 'Expires: 300', `Contact: <sip:alice@127.0.0.1:${sub.localPort};transport=tcp>`],
      },
      'alice',
      'alice-pw',
    );
    const full = await sub.next((m) => m.startsWith('NOTIFY '));
    sub.answer(full);
    expect((await subscribing).final).toMatch(/^SIP\/2\.0 200 /);
    const witness = await RawClient.stream('TCP', app.sipPort);
    await eventually(() => witness.closed, 15_000);
    expect(sub.closed).toBe(false);
    const doc = `<?xml version="1.0"?><resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list name="f"/></resource-lists>`;
    const put = await xcapRequest(app, 'PUT', `resource-lists/users/sip:alice@${D}/index`, { body: doc, headers: { 'Content-Type': 'application/resource-lists+xml' } });
    expect(put.status).toBe(201);
    const change = await sub.next((m) => m.startsWith('NOTIFY '));
    sub.answer(change);
    expect(change).toContain(`sel="resource-lists/users/sip:alice@${D}/index"`);
    sub.close();
  });
});

describe('slow messages (sip.connections.messageTimeout)', () => {
  let app: RunningAppliance;
  beforeAll(async () => {
    app = await startAppliance({ config: { auth: AUTH, sip: { connections: { messageTimeout: 1, idleTimeout: 600, maxPerSource: 1000 } } } });
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  /** A raw WebSocket upgrade, then the start of a frame that announces 1,000 bytes and sends 10 (RFC 6455 §5.2). */
  async function partialWsFrame(): Promise<Connection> {
    const s = net.connect(app.wsPort, '127.0.0.1');
    const conn = { closed: false, close: () => s.destroy() };
    s.on('close', () => (conn.closed = true));
    s.on('error', () => undefined);
    const key = randomBytes(16).toString('base64');
    s.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n`);
    const answer = await new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
    expect(answer).toMatch(/^HTTP\/1\.1 101 /);
    // FIN + text, masked, 16-bit length 1000, masking key, then 10 of the 1,000 payload bytes
    s.write(Buffer.concat([Buffer.from([0x81, 0x80 | 126, 0x03, 0xe8, 1, 2, 3, 4]), Buffer.alloc(10, 0x41)]));
    return conn;
  }

  it('close a connection whose message is not complete in time, and keep the quiet ones', async () => {
    const quiet = await RawClient.stream('TCP', app.sipPort);
    expect(await quiet.request(options(quiet, app.domain))).toMatch(/^SIP\/2\.0 200 /);
    // 300 connections that each send 20 KB of a header section that never ends
    const slow = await many(300, () => RawClient.stream('TCP', app.sipPort));
    const partial = `OPTIONS sip:${app.domain} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKslow\r\nX-Filler: ${'a'.repeat(20_000)}`;
    for (const c of slow) c.send(partial);
    const ws = await partialWsFrame();
    // waiting for: the server to close all 301 stalled connections
    await eventually(() => slow.every((c) => c.closed) && ws.closed, 15_000);
    expect(quiet.closed).toBe(false);
    expect(await quiet.request(options(quiet, app.domain))).toMatch(/^SIP\/2\.0 200 /);
    expect(app.logs.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
    quiet.close();
  });
});

describe('connection caps (sip.connections.maxPerSource and max)', () => {
  let app: RunningAppliance;
  beforeAll(async () => {
    app = await startAppliance({ config: { auth: AUTH, sip: { connections: { maxPerSource: 5, max: 8 } } } });
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  /** Whether a new TCP connection from this address gets an answer. */
  async function answered(localAddress: string): Promise<boolean> {
    try {
      const c = await RawClient.stream('TCP', app.sipPort, localAddress);
      const ok = await c.request(options(c, app.domain), 2000).then(
        (r) => r.startsWith('SIP/2.0 200'),
        () => false,
      );
      c.close();
      return ok;
    } catch {
      return false;
    }
  }

  it('refuse a connection over the per-source cap or the total at once, on every transport, and log it once', async () => {
    const first = await many(6, () => RawClient.stream('TCP', app.sipPort, '127.0.0.1'));
    const results = await Promise.allSettled(first.map((c) => c.request(options(c, app.domain))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    expect(first.filter((c) => c.closed)).toHaveLength(1);
    // over the per-source cap, TLS and both WebSocket kinds are refused too; WS with 503 before the upgrade
    await expect(RawClient.stream('TLS', app.tlsPort, '127.0.0.1').then((c) => c.request(options(c, app.domain)))).rejects.toThrow();
    expect(await upgradeStatus(`ws://127.0.0.1:${app.wsPort}`, '127.0.0.1')).toBe(503);
    expect(await upgradeStatus(`wss://127.0.0.1:${app.wssPort}`, '127.0.0.1')).toBe(503);
    // other sources still get in, up to the total of 8
    const others = await many(3, () => RawClient.stream('TCP', app.sipPort, '127.0.0.2'));
    for (const c of others) expect(await c.request(options(c, app.domain))).toMatch(/^SIP\/2\.0 200 /);
    expect(await answered('127.0.0.3')).toBe(false);
    // once a connection from 127.0.0.1 closes, 127.0.0.1 gets a place again
    first.find((c) => !c.closed)!.close();
    await eventually(() => answered('127.0.0.1'));
    const refusals = app.logs.filter((l) => l.includes('connections refused'));
    expect(refusals.filter((l) => l.includes('"source":"127.0.0.1"'))).toHaveLength(1);
    expect(refusals.filter((l) => l.includes('"source":"127.0.0.3"'))).toHaveLength(1);
    for (const c of [...first, ...others]) c.close();
  });
});

describe('framing on streams', () => {
  let app: RunningAppliance;
  beforeAll(async () => {
    // dblreq's REGISTER is j.user's, at example.com: known, so it is challenged (401)
    app = await startAppliance({ domain: 'example.com', config: { auth: AUTH }, users: { 'j.user': 'j-pw' } });
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  it('answers what came before a framing error, then closes (RFC 4475 dblreq over TCP)', async () => {
    const c = await RawClient.stream('TCP', app.sipPort);
    c.send(readFileSync(path.join(TESTDATA, 'rfc4475', 'dblreq.dat')));
    const res = await c.next((m) => m.includes('dblreq.0ha0isndaksdj99sdfafnl3lk233412'));
    expect(res).toMatch(/^SIP\/2\.0 401 /);
    // waiting for: the server to close the connection after its grace
    await eventually(() => c.closed, 10_000);
  });

  it('answers a 60 KB message sent one byte at a time', async () => {
    const c = await RawClient.stream('TCP', app.sipPort);
    const big = Buffer.from(
      buildRequest({
        method: 'OPTIONS', uri: `sip:${app.domain}`, from: `sip:probe@${app.domain}`, to: `sip:${app.domain}`, transport: 'TCP', localPort: c.localPort,
        headers: [`X-Filler: ${'a'.repeat(60_000)}`],
      }),
    );
    const callId = /^Call-ID: (\S+)/m.exec(big.toString())![1];
    for (let i = 0; i < big.length; i++) await c.write(big.subarray(i, i + 1));
    expect(await c.next((m) => m.includes(callId))).toMatch(/^SIP\/2\.0 200 /);
    c.close();
  });
});
