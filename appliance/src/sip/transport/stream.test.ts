import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import tls from 'node:tls';
import type net from 'node:net';
import { pino } from 'pino';
import { generate } from 'selfsigned';
import type { Logger } from '../../log.js';
import { ConnectionGuard } from './connection-guard.js';
import { StreamTransport } from './stream.js';
import type { TransportEvents } from './transport-types.js';

const LIMITS = { maxMessageBytes: 65535, maxBodyBytes: 32768 };
const CONNECTIONS = { idleTimeout: 120, messageTimeout: 10, maxPerSource: 100, max: 1000 };
const EVENTS: TransportEvents = { message: () => undefined, rejected: () => undefined, flowClosed: () => undefined };

/** A logger that keeps its warn lines. */
function capturingLog(): { log: Logger; warnings: { obj: Record<string, unknown>; msg: string }[] } {
  const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
  const log: Logger = pino({ level: 'silent' });
  log.warn = ((obj: Record<string, unknown>, msg?: string) => warnings.push({ obj, msg: msg ?? '' })) as typeof log.warn;
  return { log, warnings };
}

let ca: { cert: string; key: string };
/** issued by `ca` for the host name device.example.test (and no IP address) */
let named: { cert: string; key: string };

beforeAll(async () => {
  const root = await generate([{ name: 'commonName', value: 'Test CA' }], {
    keyType: 'ec', algorithm: 'sha256', extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, critical: true }],
  });
  ca = { cert: root.cert, key: root.private };
  const leaf = await generate([{ name: 'commonName', value: 'device' }], {
    keyType: 'ec', algorithm: 'sha256', ca,
    extensions: [{ name: 'basicConstraints', cA: false }, { name: 'subjectAltName', altNames: [{ type: 2, value: 'device.example.test' }] }],
  });
  named = { cert: leaf.cert, key: leaf.private };
});

/** A TLS server on 127.0.0.1 that records the SNI of each handshake it completes. */
async function device(): Promise<{ port: number; servernames: (string | false | null)[]; accepted: () => number; server: tls.Server }> {
  const servernames: (string | false | null)[] = [];
  let accepted = 0;
  const server = tls.createServer({ ...named }, (s: tls.TLSSocket) => servernames.push(s.servername));
  server.on('connection', () => accepted++);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, servernames, accepted: () => accepted, server };
}

const open: { transport: StreamTransport; guard: ConnectionGuard; server: tls.Server }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    o.transport.close();
    o.guard.stop();
    await new Promise((r) => o.server.close(r));
  }
});
async function setUp(log: Logger) {
  const guard = new ConnectionGuard(CONNECTIONS, log);
  const transport = new StreamTransport('TLS', EVENTS, LIMITS, guard, log, undefined, {
    verifyPeer: true,
    secureContext: tls.createSecureContext({ ca: [ca.cert] }),
  });
  const d = await device();
  open.push({ transport, guard, server: d.server });
  return { transport, d };
}

describe('StreamTransport.connect over TLS', () => {
  it('checks a host name against the dNSName and sends it as SNI', async () => {
    const { log, warnings } = capturingLog();
    const { transport, d } = await setUp(log);
    const flow = await transport.connect('127.0.0.1', d.port, 'device.example.test');
    expect(flow.peerName).toBe('device.example.test');
    await expect.poll(() => d.servernames).toEqual(['device.example.test']);
    expect(warnings).toEqual([]);
  });

  it('refuses the same certificate for another name, with one warn line naming peer, name and reason', async () => {
    const { log, warnings } = capturingLog();
    const { transport, d } = await setUp(log);
    await expect(transport.connect('127.0.0.1', d.port)).rejects.toThrow('certificate not valid for 127.0.0.1 (it names DNS:device.example.test)');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].obj).toEqual({ peer: `127.0.0.1:${d.port}`, name: '127.0.0.1', reason: 'certificate not valid for 127.0.0.1 (it names DNS:device.example.test)' });
    expect(warnings[0].msg).toMatch(/sip\.tls\.ca/);
    expect(d.servernames).toEqual([]);
  });

  it('opens one connection for a burst of sends to the same peer and name', async () => {
    const { log } = capturingLog();
    const { transport, d } = await setUp(log);
    const flows = await Promise.all(Array.from({ length: 5 }, () => transport.connect('127.0.0.1', d.port, 'device.example.test')));
    expect(new Set(flows).size).toBe(1);
    expect(d.accepted()).toBe(1);
    // a later send reuses it
    expect(await transport.connect('127.0.0.1', d.port, 'device.example.test')).toBe(flows[0]);
    expect(d.accepted()).toBe(1);
  });
});
