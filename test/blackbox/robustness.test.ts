import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startAppliance, health, type RunningAppliance } from '../support/appliance.js';
import { RawClient, buildRequest, headerOf } from '../support/raw-client.js';
import { authorize } from '../support/digest-client.js';
import { loadTorture } from '../support/torture.js';

let app: RunningAppliance;

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
});

/** Input errors are answered or dropped, never logged as internal errors (pino level 50/60). */
function internalErrors(): string[] {
  return app.logs.filter((l) => /"level":(50|60)/.test(l));
}

/** A seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const torture = loadTorture().map((c) => c.bytes);

/** Random bytes, or a torture message cut short, or one with bytes flipped, duplicated or spliced. */
function mutant(rand: () => number): Buffer {
  const base = torture[Math.floor(rand() * torture.length)];
  switch (Math.floor(rand() * 5)) {
    case 0:
      return Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 1500) }, () => Math.floor(rand() * 256)));
    case 1:
      return base.subarray(0, Math.floor(rand() * base.length));
    case 2: {
      const b = Buffer.from(base);
      for (let i = 0; i < 1 + rand() * 20; i++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      return b;
    }
    case 3: {
      const cut = Math.floor(rand() * base.length);
      return Buffer.concat([base.subarray(0, cut), base.subarray(cut - Math.floor(rand() * cut))]);
    }
    default: {
      const other = torture[Math.floor(rand() * torture.length)];
      return Buffer.concat([base.subarray(0, Math.floor(rand() * base.length)), other.subarray(Math.floor(rand() * other.length))]);
    }
  }
}

/**
 * The server still does its job: OPTIONS is answered, a real client registers through the
 * digest challenge (the registration is in /health: exactly one, since every round registers
 * the same contact and no fuzzed message carries credentials), nothing was logged as an
 * internal error, and the parser never threw (it rejects with a status instead).
 */
async function stillAnswers(): Promise<void> {
  const c = await RawClient.udp(app.sipPort);
  const res = await c.request(buildRequest({ method: 'OPTIONS', uri: 'sip:parley.test', from: 'sip:probe@parley.test', to: 'sip:parley.test', transport: 'UDP', localPort: c.localPort }));
  expect(res).toMatch(/^SIP\/2\.0 200 OK/);
  const reg = { method: 'REGISTER', uri: 'sip:parley.test', from: 'sip:alice@parley.test', to: 'sip:alice@parley.test', transport: 'UDP' as const, localPort: c.localPort, headers: ['Contact: <sip:alice@127.0.0.1:5999>'] };
  const challenge = headerOf(await c.request(buildRequest({ ...reg, callId: `fuzz-${Date.now()}`, cseq: 1 })), 'WWW-Authenticate')[0];
  const ok = await c.request(buildRequest({ ...reg, cseq: 2, headers: [...reg.headers, `Authorization: ${authorize(challenge, { method: 'REGISTER', uri: reg.uri, username: 'alice', password: 'alice-pw' })}`] }));
  expect(ok).toMatch(/^SIP\/2\.0 200 OK/);
  expect(headerOf(ok, 'Contact')).toEqual([expect.stringMatching(/^<sip:alice@127\.0\.0\.1:5999>;expires=/)]);
  c.close();
  expect((await health(app)).registrations).toBe(1);
  expect(internalErrors()).toEqual([]);
  expect(app.logs.filter((l) => l.includes('unparseable'))).toEqual([]);
}

describe('malformed input never takes the server down', () => {
  it('survives 2,000 random and mutated datagrams', async () => {
    const rand = rng(4475);
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    for (let i = 0; i < 2000; i++) {
      sock.send(mutant(rand), app.sipPort, '127.0.0.1');
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20));
    }
    sock.close();
    await stillAnswers();
  });

  it('survives garbage on 40 TCP and 10 TLS connections', async () => {
    const rand = rng(5118);
    for (let i = 0; i < 50; i++) {
      const useTls = i % 5 === 4;
      const socket: net.Socket = await new Promise((resolve, reject) => {
        const s: net.Socket = useTls
          ? tls.connect({ host: '127.0.0.1', port: app.tlsPort, rejectUnauthorized: false }, () => resolve(s))
          : net.connect({ host: '127.0.0.1', port: app.sipPort }, () => resolve(s));
        s.once('error', reject);
      });
      socket.on('error', () => undefined);
      for (let j = 0; j < 5; j++) socket.write(mutant(rand));
      socket.end();
      await new Promise((r) => setTimeout(r, 5));
    }
    // and raw garbage where a TLS handshake belongs
    const raw = net.connect({ host: '127.0.0.1', port: app.tlsPort });
    raw.on('error', () => undefined);
    raw.end(Buffer.from('GET / HTTP/1.0\r\n\r\n'));
    await stillAnswers();
  });

  it('survives garbage, binary frames and an oversized frame over WebSocket', async () => {
    const rand = rng(7118);
    for (let i = 0; i < 10; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${app.wsPort}`, 'sip');
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.on('error', () => undefined);
      for (let j = 0; j < 10; j++) ws.send(mutant(rand), { binary: j % 2 === 0 });
      if (i === 9) ws.send(Buffer.alloc(200_000, 0x41)); // over the message size limit: the server closes
      await new Promise((r) => setTimeout(r, 20));
      ws.terminate();
    }
    // a client that does not offer the sip sub-protocol is refused
    const plain = new WebSocket(`ws://127.0.0.1:${app.wsPort}`);
    const refused = await new Promise<boolean>((resolve) => {
      plain.once('open', () => resolve(false));
      plain.once('error', () => resolve(true));
      plain.once('unexpected-response', () => resolve(true));
    });
    plain.terminate();
    expect(refused).toBe(true);
    await stillAnswers();
  });
});
