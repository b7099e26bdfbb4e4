import { afterEach, describe, expect, it } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { pino } from 'pino';
import { SipStack, type AtOnce, type StackUser } from './stack.js';
import type { SipRequest } from './message/message.js';
import type { ServerTransaction } from './transaction/server-transaction.js';
import { ConfigSchema } from '../config/config.js';
import type { TimerValues } from './transaction/timers.js';

/**
 * A stack on a UDP port of 127.0.0.1 whose user answers at once with `atOnce`, and in a
 * transaction with `serve` (by default 200 OK at once); `served` lists the Call-IDs it served.
 */
async function stackWith(
  atOnce: (req: SipRequest, again: number | null) => AtOnce | null,
  serve: (stack: SipStack, req: SipRequest, tx: ServerTransaction) => void = (stack, _req, tx) => stack.reply(tx, 200, 'OK'),
  timers: Partial<TimerValues> = {},
  overload = false,
): Promise<{ stack: SipStack; port: number; served: string[] }> {
  const config = ConfigSchema.parse({ domain: 'parley.test' });
  const stack = new SipStack(
    {
      transport: {
        bind: '127.0.0.1',
        port: 'auto',
        tlsPort: 0,
        wsPort: 0,
        wssPort: 0,
        tlsClient: { verifyPeer: false },
        limits: { maxMessageBytes: config.sip.maxMessageBytes, maxBodyBytes: config.sip.maxBodyBytes },
        connections: config.sip.connections,
      },
      timers: { ...config.sip.timers, ...timers },
      advertisedHost: '127.0.0.1',
      trace: false,
      forceRport: true,
      userAgent: 'Parley-test',
      overload: overload ? { ...config.sip.overload, staleAfter: config.sip.timers.T1 } : null,
    },
    pino({ level: 'silent' }),
  );
  const served: string[] = [];
  const user: StackUser = {
    onRequest: (req: SipRequest, tx: ServerTransaction | null) => {
      if (tx === null) return;
      served.push(req.callId);
      serve(stack, req, tx);
    },
    onFlowClosed: () => undefined,
    answerAtOnce: (req, again) => atOnce(req, again),
  };
  stack.setUser(user);
  const ports = await stack.start();
  stacks.push(stack);
  return { stack, port: ports.UDP!, served };
}

const stacks: SipStack[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of stacks.splice(0)) s.close();
  for (const s of sockets.splice(0)) s.close();
});

async function ask(port: number, callId: string, method = 'MESSAGE'): Promise<string> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const local = socket.address().port;
  const answer = new Promise<string>((resolve) => socket.once('message', (m) => resolve(m.toString())));
  socket.send(
    `${method} sip:bob@parley.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${callId}\r\nFrom: <sip:alice@parley.test>;tag=a1\r\n` +
      `To: <sip:bob@parley.test>\r\nCall-ID: ${callId}\r\nCSeq: 1 ${method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
    port,
    '127.0.0.1',
  );
  return answer;
}

describe('answers given before a transaction (StackUser.answerAtOnce)', () => {
  it("sends the user's answer with the copied fields, Server before its own lines, and makes no transaction", async () => {
    const { stack, port, served } = await stackWith(() => ({ status: 407, reason: 'Proxy Authentication Required', lines: 'Proxy-Authenticate: Digest realm="parley.test"\r\n' }));
    const res = await ask(port, 'once1');
    expect(res).toMatch(/^SIP\/2\.0 407 Proxy Authentication Required\r\nVia: [^\r]+\r\nFrom: [^\r]+\r\nTo: <sip:bob@parley\.test>;tag=\S+\r\nCall-ID: once1\r\nCSeq: 1 MESSAGE\r\nServer: Parley-test\r\nProxy-Authenticate: Digest realm="parley\.test"\r\nContent-Length: 0\r\n\r\n$/);
    expect(served).toEqual([]);
    // held for Timer J like a completed transaction's answer, nothing live
    expect(stack.transactionCounts).toMatchObject({ server: 0, completed: 1 });
  });

  it('makes an answer with a token again for a retransmission, byte for byte, from its tag and token, holding no bytes (RFC 3261 §17.2.2)', async () => {
    const asked: (number | null)[] = [];
    let tokens = 100;
    const { stack, port, served } = await stackWith((_req, again) => {
      asked.push(again);
      const token = again ?? tokens++;
      return { status: 407, reason: 'Proxy Authentication Required', lines: `Proxy-Authenticate: Digest realm="parley.test", nonce="${token}"\r\n`, token };
    });
    const datagram = (callId: string) =>
      `MESSAGE sip:bob@parley.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:LOCAL;branch=z9hG4bKtok\r\nFrom: <sip:alice@parley.test>;tag=a1\r\n` +
      `To: <sip:bob@parley.test>\r\nCall-ID: ${callId}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
    const [first, again] = await sendTimes(port, datagram('tok1'));
    expect(first).toMatch(/^SIP\/2\.0 407 [^]*nonce="100"/);
    expect(again).toBe(first);
    expect(asked).toEqual([null, 100]);
    expect(served).toEqual([]);
    expect(stack.transactionCounts).toMatchObject({ server: 0, completed: 0 });
    // the same branch on another request (another Call-ID) is answered as new: another tag, another token
    const [other] = await sendTimes(port, datagram('tok2'));
    expect(other).toMatch(/nonce="101"/);
    const toTag = (res: string) => /^To: [^\r]*;tag=([^\r;]+)/m.exec(res)![1];
    expect(toTag(other)).not.toBe(toTag(first));
  });

  it('keeps the To tag but takes the new token when the user can no longer make the answer again (its nonce pushed out)', async () => {
    const asked: (number | null)[] = [];
    // the token given back is no longer good: the user answers with a new one (as challengeAgain does)
    const { port } = await stackWith((_req, again) => {
      asked.push(again);
      const token = again === null ? 1 : again + 1;
      return { status: 407, reason: 'Proxy Authentication Required', lines: `Proxy-Authenticate: Digest realm="parley.test", nonce="${token}"\r\n`, token };
    });
    const datagram =
      `MESSAGE sip:bob@parley.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:LOCAL;branch=z9hG4bKgone\r\nFrom: <sip:alice@parley.test>;tag=a1\r\n` +
      `To: <sip:bob@parley.test>\r\nCall-ID: gone1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
    const [first, second, third] = await sendTimes(port, datagram, 3);
    const toTag = (res: string) => /^To: [^\r]*;tag=([^\r;]+)/m.exec(res)![1];
    // RFC 3261 §8.2.7: the same To tag for the same request, whatever its nonce
    expect(new Set([first, second, third].map(toTag)).size).toBe(1);
    expect([first, second, third].map((r) => /nonce="(\d+)"/.exec(r)![1])).toEqual(['1', '2', '3']);
    // each retransmission was asked with the token the answer before it carried
    expect(asked).toEqual([null, 1, 2]);
  });

  it('answers such a retransmission again before overload control, and counts the answer once', async () => {
    let nonces = 7;
    const { stack, port } = await stackWith(
      (_req, again) => ({ status: 407, reason: 'Proxy Authentication Required', lines: '', token: again ?? nonces++ }),
      undefined,
      {},
      true,
    );
    const finals: number[] = [];
    stack.onFinalResponse = (_method, status) => finals.push(status);
    const socket = createSocket('udp4');
    sockets.push(socket);
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const message =
      `MESSAGE sip:bob@parley.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${socket.address().port};branch=z9hG4bKshed1\r\nFrom: <sip:alice@parley.test>;tag=a1\r\n` +
      `To: <sip:bob@parley.test>\r\nCall-ID: shed1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
    // bounded: a retransmission taken by overload control gets no answer at all
    const answer = () =>
      new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve('(no answer)'), 2000);
        socket.once('message', (m) => (clearTimeout(timer), resolve(m.toString())));
      });
    let next = answer();
    socket.send(message, port, '127.0.0.1');
    const first = await next;
    // from here on overload control takes every datagram it is asked about, as a guard refusing all new work would
    const judged: string[] = [];
    (stack as unknown as { shedder: { shedDatagram: (data: Buffer) => boolean } }).shedder.shedDatagram = (data) => (judged.push(data.toString()), true);
    next = answer();
    socket.send(message, port, '127.0.0.1');
    expect(await next).toBe(first);
    expect(judged).toEqual([]);
    expect(finals).toEqual([407]);
  });

  it('leaves a request whose at-once answer fails to the ordinary path, which answers it', async () => {
    const { port, served } = await stackWith(() => {
      throw new Error('a bug in an at-once answer');
    });
    expect(await ask(port, 'once2')).toMatch(/^SIP\/2\.0 200 OK\r\n/);
    expect(served).toEqual(['once2']);
  });

  it('never asks about an INVITE', async () => {
    const asked: string[] = [];
    const { port, served } = await stackWith((req) => (asked.push(req.method), { status: 403, reason: 'No', lines: '' }));
    expect(await ask(port, 'once3', 'INVITE')).toMatch(/^SIP\/2\.0 200 OK\r\n/);
    expect(asked).toEqual([]);
    expect(served).toEqual(['once3']);
  });
});

/** Sends `datagram` (with LOCAL for the socket's port) `times` times from one socket, each after the answer before; the answers. */
async function sendTimes(port: number, datagram: string, times = 2): Promise<string[]> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const bytes = datagram.replaceAll('LOCAL', String(socket.address().port));
  const answers: string[] = [];
  for (let i = 0; i < times; i++) {
    const answer = new Promise<string>((resolve) => socket.once('message', (m) => resolve(m.toString())));
    socket.send(bytes, port, '127.0.0.1');
    answers.push(await answer);
  }
  return answers;
}

describe('retransmissions the look before parsing cannot rule on', () => {
  // the raw look reads the first ';branch=' of a datagram and rules a request out as new on it
  // alone; the look after parsing skips its search only for that same branch of the top Via
  it.each([
    // the raw look reads the URI's parameter; the top Via's branch is another
    { what: "one whose first ';branch=' is a URI parameter, not its Via's", uri: 'sip:bob@parley.test;branch=z9hG4bKdecoy', branch: 'z9hG4bKreal1', callId: 'decoy1' },
    // the same branch both ways, but without the magic cookie its key has no branch to be found by
    { what: 'one with an RFC 2543 branch', uri: 'sip:bob@parley.test', branch: 'old2543', callId: 'old1' },
  ])('absorbs $what (RFC 3261 §17.2.3)', async ({ uri, branch, callId }) => {
    const { port, served } = await stackWith(() => null);
    const [first, again] = await sendTimes(
      port,
      `OPTIONS ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:LOCAL;branch=${branch}\r\n` +
        `From: <sip:alice@parley.test>;tag=a1\r\nTo: <sip:bob@parley.test>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
    );
    expect(first).toMatch(/^SIP\/2\.0 200 OK\r\n/);
    // the transaction's answer again, byte for byte (its To tag with it), and served once
    expect(again).toBe(first);
    expect(served).toEqual([callId]);
  });
});

describe('live transactions that share a branch', () => {
  it('still absorbs the retransmission of one after the other ended (RFC 3261 §17.2.3)', async () => {
    const pending: ServerTransaction[] = [];
    // INVITE: 486 at once; MESSAGE: left unanswered (a relayed one waiting for its device)
    const { stack, port, served } = await stackWith(
      () => null,
      (stack, req, tx) => (req.method === 'INVITE' ? stack.reply(tx, 486, 'Busy Here') : pending.push(tx)),
      { T4: 40 },
    );
    const socket = createSocket('udp4');
    sockets.push(socket);
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const local = socket.address().port;
    const answers: string[] = [];
    socket.on('message', (m) => answers.push(m.toString()));
    const head = (method: string, callId: string, cseq: string, toTag = '') =>
      `${method} sip:bob@parley.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bKshared\r\nFrom: <sip:alice@parley.test>;tag=a1\r\n` +
      `To: <sip:bob@parley.test>${toTag}\r\nCall-ID: ${callId}\r\nCSeq: ${cseq}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
    const send = (text: string) => socket.send(text, port, '127.0.0.1');
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
    };
    send(head('INVITE', 'shared-invite', '1 INVITE'));
    await until(() => answers.some((a) => a.startsWith('SIP/2.0 486')));
    const busy = answers.find((a) => a.startsWith('SIP/2.0 486'))!;
    const toTag = /^To: [^\r]*(;tag=[^\r;]+)/m.exec(busy)![1];
    // a MESSAGE that reuses the branch: another key (method, Call-ID), another live transaction
    const message = head('MESSAGE', 'shared-message', '1 MESSAGE');
    send(message);
    await until(() => pending.length === 1);
    // the INVITE's ACK ends it after Timer I (T4, 40 ms), and with it the branch's place in the set
    send(head('ACK', 'shared-invite', '1 ACK', toTag));
    await new Promise((r) => setTimeout(r, 200));
    expect(stack.transactionCounts).toMatchObject({ server: 1 });
    // the MESSAGE's retransmission belongs to the one left: not served again
    send(message);
    await new Promise((r) => setTimeout(r, 100));
    expect(served).toEqual(['shared-invite', 'shared-message']);
    stack.reply(pending[0], 200, 'OK');
    await until(() => answers.some((a) => a.startsWith('SIP/2.0 200')));
    expect(answers.filter((a) => a.startsWith('SIP/2.0 200'))).toHaveLength(1);
  });
});
