import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Router } from './router.js';
import { LocalDomain } from './local-domain.js';
import { parseMessage } from '../sip/message/parser.js';
import type { SipRequest } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { SipStack, ReplyOptions } from '../sip/stack.js';
import { SipAnswer, SipError } from '../sip/errors.js';

function message(): SipRequest {
  const text =
    'MESSAGE sip:bob@parley.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1\r\n' +
    'From: <sip:alice@parley.test>;tag=a1\r\nTo: <sip:bob@parley.test>\r\nCall-ID: r1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n';
  const o = parseMessage(text);
  if (!o?.ok || !o.message.isRequest) throw new Error('fixture');
  return o.message;
}

/** A router over a stack that records its replies. */
function routerWith(handler: (req: SipRequest) => ReturnType<Parameters<Router['serve']>[1]>) {
  const replies: { status: number; reason: string; opts: ReplyOptions }[] = [];
  const stack = {
    reply: (_tx: ServerTransaction, status: number, reason: string, opts: ReplyOptions = {}) => void replies.push({ status, reason, opts }),
    isOwnBranch: () => false,
  } as unknown as SipStack;
  const router = new Router(stack, new LocalDomain('parley.test', []), pino({ level: 'silent' })).serve('MESSAGE', handler);
  const tx = { finished: false, method: 'MESSAGE', callId: 'r1' } as ServerTransaction;
  return { replies, route: () => router.onRequest(message(), tx) };
}

describe('Router answers', () => {
  it('sends an answer a handler returns, statelessly when it says so, at once', () => {
    const { replies, route } = routerWith(() => new SipAnswer(407, 'Proxy Authentication Required', { 'Proxy-Authenticate': ['Digest realm="parley.test"'] }, true));
    route();
    expect(replies).toEqual([{ status: 407, reason: 'Proxy Authentication Required', opts: { headers: { 'Proxy-Authenticate': ['Digest realm="parley.test"'] }, stateless: true } }]);
  });

  it('sends a thrown or rejected SipError the same way, and 500 for anything else', async () => {
    const thrown = routerWith(() => {
      throw new SipError(404, 'Not Found');
    });
    thrown.route();
    const rejected = routerWith(async () => {
      throw new SipError(480, 'Temporarily Unavailable', { 'Retry-After': '60' });
    });
    rejected.route();
    const broken = routerWith(async () => {
      throw new TypeError('a bug');
    });
    broken.route();
    await new Promise((r) => setImmediate(r));
    expect(thrown.replies.map((r) => [r.status, r.opts.stateless])).toEqual([[404, false]]);
    expect(rejected.replies.map((r) => [r.status, r.opts.headers])).toEqual([[480, { 'Retry-After': '60' }]]);
    expect(broken.replies.map((r) => [r.status, r.reason])).toEqual([[500, 'Server Internal Error']]);
  });
});

describe('Router.answerAtOnce', () => {
  const AT_ONCE = { status: 407, reason: 'Proxy Authentication Required', lines: 'Proxy-Authenticate: Digest realm="parley.test"\r\n' };
  const always = { applies: () => true, answer: () => AT_ONCE };

  function at(text: (fixture: string) => string, ownBranch = false, again: number | null = null) {
    const fixture =
      'MESSAGE sip:bob@parley.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1\r\n' +
      'From: <sip:alice@parley.test>;tag=a1\r\nTo: <sip:bob@parley.test>\r\nCall-ID: r1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n';
    const o = parseMessage(text(fixture));
    if (!o?.ok || !o.message.isRequest) throw new Error('fixture');
    const stack = { isOwnBranch: (b: string) => ownBranch && b === 'z9hG4bKr1' } as unknown as SipStack;
    const asked: SipRequest[] = [];
    const tokens: (number | null)[] = [];
    const router = new Router(stack, new LocalDomain('parley.test', []), pino({ level: 'silent' }))
      .serve('MESSAGE', () => undefined)
      .serveAtOnce('MESSAGE', { applies: () => true, answer: (req, token) => (asked.push(req), tokens.push(token), AT_ONCE) });
    return { answer: router.answerAtOnce(o.message, again), asked, tokens };
  }

  it("gives the handler's answer for a request to one of our users", () => {
    const { answer, asked, tokens } = at((t) => t);
    expect(answer).toBe(AT_ONCE);
    expect(asked).toHaveLength(1);
    expect(tokens).toEqual([null]);
  });

  it('hands the handler the token of the answer it gave the same request before (a retransmission)', () => {
    expect(at((t) => t, false, 41).tokens).toEqual([41]);
  });

  it.each([
    ['inside a dialog', (t: string) => t.replace('To: <sip:bob@parley.test>', 'To: <sip:bob@parley.test>;tag=b1')],
    ['to another domain (403 there)', (t: string) => t.replace('MESSAGE sip:bob@parley.test', 'MESSAGE sip:bob@example.com')],
    ['to the domain itself', (t: string) => t.replace('MESSAGE sip:bob@parley.test', 'MESSAGE sip:parley.test')],
    ['with another URI scheme (416 there)', (t: string) => t.replace('MESSAGE sip:bob@parley.test', 'MESSAGE tel:+15551234')],
    ['out of hops (483 there)', (t: string) => t.replace('Max-Forwards: 70', 'Max-Forwards: 0')],
    ['with Proxy-Require (420 there, unless supported)', (t: string) => t.replace('Max-Forwards: 70', 'Max-Forwards: 70\r\nProxy-Require: foo')],
  ])('leaves a request %s to the ordinary path', (_what, edit) => {
    const { answer, asked } = at(edit);
    expect(answer).toBeNull();
    expect(asked).toHaveLength(0);
  });

  it("asks the handler's own cheap test first: a request it does not apply to costs none of the router's checks", () => {
    const o = parseMessage(
      'MESSAGE sip:bob@parley.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr3\r\nFrom: <sip:alice@parley.test>;tag=a1\r\nTo: <sip:bob@parley.test>\r\nCall-ID: r3\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n',
    );
    if (!o?.ok || !o.message.isRequest) throw new Error('fixture');
    let loopChecks = 0;
    const stack = { isOwnBranch: () => (loopChecks++, false) } as unknown as SipStack;
    const answered: SipRequest[] = [];
    const router = new Router(stack, new LocalDomain('parley.test', []), pino({ level: 'silent' }))
      .serve('MESSAGE', () => undefined)
      .serveAtOnce('MESSAGE', { applies: () => false, answer: (req) => (answered.push(req), AT_ONCE) });
    expect(router.answerAtOnce(o.message, null)).toBeNull();
    expect({ loopChecks, answered: answered.length }).toEqual({ loopChecks: 0, answered: 0 });
  });

  it('leaves a looped request to the ordinary path (482 there)', () => {
    expect(at((t) => t, true).answer).toBeNull();
  });

  it('never speaks for a method dispatch answers before its table, or one nobody serves', () => {
    for (const method of ['OPTIONS', 'SUBSCRIBE', 'INFO']) {
      const o = parseMessage(
        `${method} sip:bob@parley.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKm${method}\r\nFrom: <sip:alice@parley.test>;tag=a1\r\nTo: <sip:bob@parley.test>\r\nCall-ID: m${method}\r\nCSeq: 1 ${method}\r\nEvent: presence\r\nContent-Length: 0\r\n\r\n`,
      );
      if (!o?.ok || !o.message.isRequest) throw new Error('fixture');
      const router = new Router({ isOwnBranch: () => false } as unknown as SipStack, new LocalDomain('parley.test', []), pino({ level: 'silent' })).serveAtOnce(method, always);
      // INFO: no handler served (405 there); OPTIONS, SUBSCRIBE: answered before the table
      if (method !== 'INFO') router.serve(method, () => undefined).serveAtOnce(method, always);
      expect(router.answerAtOnce(o.message, null)).toBeNull();
    }
  });

  it('forgets the at-once answer when the method gets another handler', () => {
    const o = parseMessage(
      'MESSAGE sip:bob@parley.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr2\r\nFrom: <sip:alice@parley.test>;tag=a1\r\nTo: <sip:bob@parley.test>\r\nCall-ID: r2\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n',
    );
    if (!o?.ok || !o.message.isRequest) throw new Error('fixture');
    const router = new Router({ isOwnBranch: () => false } as unknown as SipStack, new LocalDomain('parley.test', []), pino({ level: 'silent' }))
      .serve('MESSAGE', () => undefined)
      .serveAtOnce('MESSAGE', always)
      .serve('MESSAGE', () => undefined);
    expect(router.answerAtOnce(o.message, null)).toBeNull();
  });
});
