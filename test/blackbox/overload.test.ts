import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startAppliance, health, eventually, type RunningAppliance } from '../support/appliance.js';
import { RawClient, buildRequest, headerOf, type RequestSpec } from '../support/raw-client.js';
import { authorize } from '../support/digest-client.js';
import { registerContact, sendMessage } from '../support/sip-user.js';

// A queue delay of a few milliseconds already counts as overload here, so a burst from one
// client is enough to see shedding on the wire.
const CONFIG = { sip: { overload: { maxQueueDelay: 5, retryAfter: 7 } } };
const D = 'parley.test';
let app: RunningAppliance;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: { alice: 'alice-pw', bob: 'bob-pw', dave: 'dave-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
});

/**
 * A request of alice's sent in the middle of a flood, through its digest challenge. Its first,
 * uncredentialed request is new work and may itself be refused (503) while even the smallest rate
 * of new work leaves the queue growing, as on a busy test machine; a client then tries again. The
 * request with credentials that follows the challenge is finishing work, which is never refused.
 * Its answer is returned pending (a MESSAGE to a silent device takes 16·T1).
 */
async function throughFlood(client: RawClient, spec: RequestSpec, timeoutMs = 5000): Promise<{ final: Promise<string> }> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const callId = `${spec.method.toLowerCase()}-through-${attempt}`;
    const first = await client.request(buildRequest({ ...spec, callId, cseq: 1 }));
    const status = first.slice(8, 11);
    if (status === '401' || status === '407') {
      const [challenge, credentials] = status === '401' ? ['WWW-Authenticate', 'Authorization'] : ['Proxy-Authenticate', 'Proxy-Authorization'];
      const value = authorize(headerOf(first, challenge)[0], { method: spec.method, uri: spec.uri, username: 'alice', password: 'alice-pw' });
      return { final: client.request(buildRequest({ ...spec, callId, cseq: 2, headers: [...(spec.headers ?? []), `${credentials}: ${value}`] }), timeoutMs) };
    }
    expect(first).toMatch(/^SIP\/2\.0 503 /);
    await new Promise((r) => setTimeout(r, 20)); // a bounded retry, as a client honouring a short back-off would
  }
  throw new Error(`${spec.method} refused 100 times in a row`);
}

describe('overload control (RFC 3261 §21.5.4)', () => {
  it('refuses new work with 503 and Retry-After when requests queue, keeps finishing work, and recovers', async () => {
    // room for the answers while this process is busy sending (the 208 KiB default holds ~500)
    const flood = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    await new Promise<void>((r) => flood.bind(0, '127.0.0.1', () => r()));
    const answers: string[] = [];
    flood.on('message', (m) => answers.push(m.toString()));
    const port = flood.address().port;
    const registrar = await RawClient.udp(app.sipPort);
    let registered: Promise<{ final: Promise<string> }> | null = null;
    // right credentials (alice's password) for a nonce we never issued: no free pass through the flood
    const madeUp = `Proxy-Authorization: ${authorize(`Digest realm="${D}", nonce="made-up.nonce.x", algorithm=MD5, qop="auth"`, { method: 'MESSAGE', uri: `sip:bob@${D}`, username: 'alice', password: 'alice-pw' })}`;
    // bursts of new MESSAGEs, faster than they can be challenged: without credentials, and one in four with the made-up ones
    for (let wave = 0; wave < 20; wave++) {
      for (let i = 0; i < 400; i++) {
        const forged = i % 4 === 0;
        flood.send(
          buildRequest({
            method: 'MESSAGE',
            uri: `sip:bob@${D}`,
            from: `sip:alice@${D}`,
            to: `sip:bob@${D}`,
            transport: 'UDP',
            localPort: port,
            callId: `${forged ? 'forged' : 'flood'}-${wave}-${i}`,
            headers: forged ? [madeUp] : [],
            body: 'x',
          }),
          app.sipPort,
          '127.0.0.1',
        );
      }
      // in the middle of it, a client's REGISTER goes through its challenge: finishing work is never refused
      if (wave === 10) {
        const register = { method: 'REGISTER', uri: `sip:${D}`, from: `sip:alice@${D}`, to: `sip:alice@${D}`, transport: 'UDP' as const, localPort: registrar.localPort, headers: ['Contact: <sip:alice@127.0.0.1:5999>'] };
        registered = throughFlood(registrar, register);
      }
      await new Promise((r) => setImmediate(r));
    }
    // each flood request is answered (503 or 407) or, once it waited past T1 in the queue, dropped
    // unanswered (its client would have retransmitted it): wait until a quarter of them are through
    await eventually(async () => answers.length + (await health(app)).overload.refused.dropped >= 2000, 30_000);
    const refused = answers.filter((a) => a.startsWith('SIP/2.0 503 Service Unavailable'));
    const challenged = answers.filter((a) => a.startsWith('SIP/2.0 407'));
    expect(refused.length).toBeGreaterThan(0);
    expect(challenged.length).toBeGreaterThan(0);
    for (const r of refused) expect(r).toMatch(/^Retry-After: 7\r$/m);
    // credentials count as finishing a call only for a nonce we issued lately (held in our nonce table)
    expect(refused.some((r) => headerOf(r, 'Call-ID')[0].startsWith('forged-'))).toBe(true);
    // a refusal creates no dialog (RFC 3261 §12.1): a BYE bearing its To tag, as SIPp sends for a
    // call it aborts on a 503, is answered 481 (§12.2.2), cheaply while the flood lasts
    const bye = await RawClient.udp(app.sipPort);
    const refusal = refused[0];
    const answer = await bye.request(requestInside('BYE', refusal, 'UDP', bye.localPort));
    expect(answer).toMatch(/^SIP\/2\.0 481 /);
    expect(headerOf(answer, 'To')[0]).toBe(headerOf(refusal, 'To')[0]);
    bye.close();
    expect(await (await registered!).final).toMatch(/^SIP\/2\.0 200 /);
    expect((await health(app)).overload.refused.newWork).toBeGreaterThanOrEqual(refused.length);
    // the native socket, where it was built and not turned off, bounds new work by the challenges
    // owed an answer (it challenged within 64·T1): /health says how many are owed against the most
    // it lets be, 256 at the least; node's socket has no such bound
    const owed = (await health(app)).overload.challengesOwed;
    if (existsSync(path.join(ROOT, 'appliance/dist/native/udp_gate.node')) && process.env.PARLEY_UDP_ENGINE !== 'node') {
      expect(owed?.owed).toBeGreaterThanOrEqual(0);
      expect(owed?.limit).toBeGreaterThanOrEqual(256);
    } else expect(owed).toBeNull();
    // once the queue is gone, new work is taken again
    await eventually(async () => {
      const c = await RawClient.udp(app.sipPort);
      const res = await c.request(buildRequest({ method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort, body: 'calm again' }));
      c.close();
      return res.startsWith('SIP/2.0 407');
    });
    // Once everything is admitted again, BYEs for the refused calls still come (SIPp sends one
    // for each, tens of thousands under a flood). They are answered 481 as cheaply, over UDP,
    // and over TCP on the parsed path, and reach no one else (bob is registered by now).
    const bobDevice = dgram.createSocket('udp4');
    await new Promise<void>((r) => bobDevice.bind(0, '127.0.0.1', () => r()));
    const toBob: string[] = [];
    bobDevice.on('message', (m) => toBob.push(m.toString()));
    expect(await registerContact(app, { name: 'bob', password: 'bob-pw' }, `127.0.0.1:${bobDevice.address().port}`)).toMatch(/^SIP\/2\.0 200 /);
    // shedding ends once nothing is refused for 500 ms (the guard looks at every request, and at /health)
    const calm = await RawClient.udp(app.sipPort);
    await eventually(async () => {
      await calm.request(buildRequest({ method: 'OPTIONS', uri: `sip:${D}`, from: `sip:alice@${D}`, to: `sip:${D}`, transport: 'UDP', localPort: calm.localPort }));
      return (await health(app)).overload.admittedShare === 1;
    });
    calm.close();
    // and no admission rate is in force any more
    expect((await health(app)).overload.admitRate).toBeNull();
    const shedBefore = (await health(app)).overload.refused.newWork;
    // a MESSAGE, not only a BYE: routed, a MESSAGE would be challenged (407) and then relayed to bob
    const late = await RawClient.udp(app.sipPort);
    expect(await late.request(requestInside('BYE', refused[1], 'UDP', late.localPort))).toMatch(/^SIP\/2\.0 481 /);
    expect(await late.request(requestInside('MESSAGE', refused[2], 'UDP', late.localPort))).toMatch(/^SIP\/2\.0 481 /);
    late.close();
    // over a connection every request is parsed first: the stack answers before routing
    const overTcp = await RawClient.stream('TCP', app.tcpPort);
    expect(await overTcp.request(requestInside('MESSAGE', refused[3], 'TCP', overTcp.localPort))).toMatch(/^SIP\/2\.0 481 /);
    expect(await overTcp.request(requestInside('BYE', refused[4], 'TCP', overTcp.localPort))).toMatch(/^SIP\/2\.0 481 /);
    overTcp.close();
    expect((await health(app)).overload.refused.newWork).toBe(shedBefore);
    expect(toBob).toEqual([]);
    bobDevice.close();
    flood.close();
    registrar.close();
  }, 60_000);
});

describe('devices under overload (R4)', () => {
  it('does not pass over a device as gone when its answer may have been lost in our own queue while shedding', async () => {
    const bob = { name: 'bob', password: 'bob-pw' };
    const device = await RawClient.udp(app.sipPort);
    expect(await registerContact(app, bob, `127.0.0.1:${device.localPort}`)).toMatch(/^SIP\/2\.0 200 /);
    // the guard sheds all along, until 2 s after alice's MESSAGE reached the device
    const waves = await flood('flood2');
    try {
      // alice's MESSAGE to bob goes through the flood (a refused first request is sent again, as a
      // client honouring Retry-After would, sooner); bob's device gets it, and its answer is lost
      const alice = await RawClient.udp(app.sipPort);
      const spec = { method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP' as const, localPort: alice.localPort, body: 'while flooded' };
      const { final } = await throughFlood(alice, spec, 15_000);
      await device.next((m) => m.startsWith('MESSAGE ') && m.includes('while flooded'), 5000);
      await new Promise((r) => setTimeout(r, 2000));
      waves.stop();
      // live delivery waits 16·T1 (8 s), then stores it
      expect(await final).toMatch(/^SIP\/2\.0 202 /);
      alice.close();
    } finally {
      waves.stop();
    }
    // the next message is tried live again, not stored straight away as for a device that vanished
    const answering = (async () => {
      const m = await device.next((x) => x.startsWith('MESSAGE ') && x.includes('after the flood'), 10_000);
      device.answer(m);
    })();
    expect(await messageAfterFlood('bob')).toMatch(/^SIP\/2\.0 200 /);
    await answering;
    device.close();
  }, 60_000);
});

/**
 * 400 new MESSAGEs every 20 ms until stopped (20,000/s): more than can be challenged, so the guard
 * sheds all along. (100 every 20 ms, 5,000/s, was once enough; a guard that admits new work at
 * the rate the process keeps up with challenges that many and stops shedding.)
 */
async function flood(tag: string): Promise<{ stop: () => void }> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  let wave = 0;
  let stopped = false;
  const waves = setInterval(() => {
    for (let i = 0; i < 400; i++) {
      const spec = { method: 'MESSAGE', uri: `sip:carol@${D}`, from: `sip:alice@${D}`, to: `sip:carol@${D}`, transport: 'UDP' as const, localPort: socket.address().port, callId: `${tag}-${wave}-${i}`, body: 'x' };
      socket.send(buildRequest(spec), app.sipPort, '127.0.0.1');
    }
    wave++;
  }, 20);
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(waves);
      socket.close();
    },
  };
}

/**
 * Alice's MESSAGE "after the flood" to `to`, its final answer. Refused with 503 while the guard's
 * rate grows back, on a busy machine, it is sent again then.
 */
async function messageAfterFlood(to: string): Promise<string> {
  let answer = '';
  for (let attempt = 0; attempt < 100; attempt++) {
    answer = await sendMessage(app, { name: 'alice', password: 'alice-pw' }, to, 'after the flood');
    if (!answer.startsWith('SIP/2.0 503')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return answer;
}

/** A TCP port of 127.0.0.1 that nobody listens on now. */
async function closedTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe('devices under overload (R4), a transport that refuses', () => {
  it('takes a device whose connection was refused for gone even while shedding (that says nothing of our queue)', async () => {
    const dave = { name: 'dave', password: 'dave-pw' };
    const port = await closedTcpPort();
    expect(await registerContact(app, dave, `127.0.0.1:${port};transport=tcp`)).toMatch(/^SIP\/2\.0 200 /);
    const waves = await flood('flood3');
    try {
      // the fork below ends while the guard refuses new work (or within 16·T1 of it, which counts the same)
      let shedding: { admittedShare: number; admitRate: number | null } | undefined;
      await eventually(async () => (shedding = (await health(app)).overload).admittedShare < 1, 10_000);
      // and /health says the rate new work is admitted at meanwhile (per second: the guard's rate,
      // 10 at the least, or what the native UDP socket admitted over the last 50 ms)
      expect(shedding!.admitRate).toEqual(expect.any(Number));
      expect(shedding!.admitRate).toBeGreaterThanOrEqual(0);
      const alice = await RawClient.udp(app.sipPort);
      const spec = { method: 'MESSAGE', uri: `sip:dave@${D}`, from: `sip:alice@${D}`, to: `sip:dave@${D}`, transport: 'UDP' as const, localPort: alice.localPort, body: 'while flooded' };
      const { final } = await throughFlood(alice, spec, 15_000);
      // the connection is refused at once: stored
      expect(await final).toMatch(/^SIP\/2\.0 202 /);
      alice.close();
    } finally {
      waves.stop();
    }
    // now something listens there: dave's device, taken for gone, is not tried again (within
    // 64·T1), so the next message is stored at once and no connection comes
    let connections = 0;
    const listener = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((r) => listener.listen(port, '127.0.0.1', () => r()));
    try {
      expect(await messageAfterFlood('dave')).toMatch(/^SIP\/2\.0 202 /);
      expect(connections).toBe(0);
    } finally {
      await new Promise((r) => listener.close(r));
    }
  }, 60_000);
});

/** A request inside the "dialog" of `refusal` (a 503 of ours): SIPp sends a BYE after a call it aborted. */
function requestInside(method: 'BYE' | 'MESSAGE', refusal: string, transport: 'UDP' | 'TCP', localPort: number): string {
  const body = method === 'MESSAGE' ? 'in no dialog' : '';
  return [
    `${method} sip:bob@${D} SIP/2.0`,
    `Via: SIP/2.0/${transport} 127.0.0.1:${localPort};branch=z9hG4bKin${Date.now()}${Math.random().toString(36).slice(2)};rport`,
    `From: ${headerOf(refusal, 'From')[0]}`,
    `To: ${headerOf(refusal, 'To')[0]}`,
    `Call-ID: ${headerOf(refusal, 'Call-ID')[0]}`,
    `CSeq: 2 ${method}`,
    'Max-Forwards: 70',
    ...(body ? ['Content-Type: text/plain'] : []),
    `Content-Length: ${body.length}`,
    '',
    body,
  ].join('\r\n');
}
