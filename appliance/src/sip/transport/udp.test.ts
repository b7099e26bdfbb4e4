import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DEFAULT_LIMITS } from '../message/parser.js';
import { UdpTransport, type UdpEngine } from './udp.js';
import { TransportError, type TransportEvents } from './transport-types.js';
import { loadUdpGate } from './udp-gate.js';

/** Both sockets where the native one was built (npm run build, with a C compiler), node's alone otherwise. */
const ENGINES: UdpEngine[] = loadUdpGate() === null ? ['node'] : ['native', 'node'];

const events: TransportEvents = { message: () => undefined, rejected: () => undefined, flowClosed: () => undefined };
const open: { close(): void }[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

/** A plain socket on 127.0.0.1 that collects what it receives, as text. */
async function receiver(): Promise<{ port: number; got: string[] }> {
  const socket = dgram.createSocket('udp4');
  open.push(socket);
  const got: string[] = [];
  socket.on('message', (m) => got.push(m.toString()));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, got };
}

async function transport(engine: UdpEngine): Promise<UdpTransport> {
  const t = new UdpTransport(events, DEFAULT_LIMITS, pino({ level: 'silent' }), engine);
  await t.listen('127.0.0.1', 0);
  return t;
}

/** Waits (bounded) until `got` holds `n` datagrams. */
async function received(got: string[], n: number): Promise<string[]> {
  for (let i = 0; i < 200 && got.length < n; i++) await new Promise((r) => setTimeout(r, 5));
  return got;
}

describe.each(ENGINES)('UDP sends on the %s socket, batched per event-loop turn', (engine) => {
  it('go out after the turn that made them, all of them, in the order they were sent', async () => {
    const t = await transport(engine);
    open.push(t);
    const rx = await receiver();
    const sent = Array.from({ length: 40 }, (_, i) => `datagram ${i}`);
    for (const s of sent) t.send(Buffer.from(s), '127.0.0.1', rx.port);
    expect(await received(rx.got, sent.length)).toEqual(sent);
  });

  it('refuse at once what cannot be sent, so the caller’s transaction hears of it', async () => {
    const t = await transport(engine);
    open.push(t);
    expect(() => t.send(Buffer.from('x'), 'example.invalid', 5060)).toThrow(TransportError);
    for (const port of [0, 65536, 1.5]) expect(() => t.send(Buffer.from('x'), '127.0.0.1', port)).toThrow(TransportError);
  });

  it('still go out when the transport closes in the same turn', async () => {
    const t = await transport(engine);
    const rx = await receiver();
    t.send(Buffer.from('last words'), '127.0.0.1', rx.port);
    t.close();
    expect(await received(rx.got, 1)).toEqual(['last words']);
    expect(() => t.send(Buffer.from('x'), '127.0.0.1', rx.port)).toThrow(TransportError);
  });
});

describe.each(ENGINES)('the receive buffer of the %s socket, as the kernel counts it (overload control)', (engine) => {
  it.runIf(existsSync('/proc/net/udp'))('says how full it is with datagrams not yet read, and empty again once they are read', async () => {
    const t = new UdpTransport(events, DEFAULT_LIMITS, pino({ level: 'silent' }), engine);
    const port = await t.listen('127.0.0.1', 0);
    expect(t.engineInUse).toBe(engine);
    open.push(t);
    expect(t.bufferFill()).toBe(0);
    // a name lookup that answers at once, so that each send reaches the kernel before it returns
    const lookup = (address: string, _o: unknown, cb: (e: Error | null, a: string, f: number) => void) => cb(null, address, 4);
    const sender = dgram.createSocket({ type: 'udp4', lookup });
    open.push(sender);
    await new Promise<void>((r) => sender.bind(0, '127.0.0.1', () => r()));
    for (let i = 0; i < 200; i++) sender.send(Buffer.alloc(1000, 0x78), port, '127.0.0.1');
    // still this turn, so the transport has read none of them; on a busy machine the kernel may
    // finish delivering them a moment later (a deferred soft interrupt): asked again for up to a second
    let fill = t.bufferFill();
    for (const until = Date.now() + 1000; fill === 0 && Date.now() < until; ) fill = t.bufferFill();
    expect(fill).toBeGreaterThan(0);
    expect(fill).toBeLessThan(1);
    for (let i = 0; i < 200 && t.bufferFill() > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(t.bufferFill()).toBe(0);
  });
});

describe.runIf(ENGINES.includes('native'))('the native socket under overload control', () => {
  it('hands on the new work it held and admitted marked as such, so that the shedder does not judge it again', async () => {
    const seen: { text: string; admitted: boolean | undefined }[] = [];
    const capturing: TransportEvents = { ...events, intercept: (data, source) => (seen.push({ text: data.toString(), admitted: source.admittedByGate }), true) };
    const t = new UdpTransport(capturing, DEFAULT_LIMITS, pino({ level: 'silent' }), 'native');
    const port = await t.listen('127.0.0.1', 0);
    open.push(t);
    const gate = t.gate!;
    gate.configure({ tagPrefix: 'r.udptest', refusalLines: 'Retry-After: 5\r\n', dialogLines: '', dialogAfterMs: 32_000, rememberMs: 32_000 });
    const sender = dgram.createSocket('udp4');
    open.push(sender);
    await new Promise<void>((r) => sender.bind(0, '127.0.0.1', () => r()));
    const message = (id: string) =>
      `MESSAGE sip:bob@parley.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${sender.address().port};branch=z9hG4bK-${id}\r\nFrom: <sip:alice@parley.test>;tag=a\r\nTo: <sip:bob@parley.test>\r\nCall-ID: ${id}\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n`;
    sender.send(message('before'), port, '127.0.0.1');
    for (let i = 0; i < 200 && seen.length < 1; i++) await new Promise((r) => setTimeout(r, 5));
    // holding: new work is held and then admitted, marked
    gate.defer(1000, 4);
    sender.send(message('admitted'), port, '127.0.0.1');
    for (let i = 0; i < 200 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(seen.map((d) => [/Call-ID: (\w+)/.exec(d.text)![1], d.admitted])).toEqual([
      ['before', false],
      ['admitted', true],
    ]);
  });
});
