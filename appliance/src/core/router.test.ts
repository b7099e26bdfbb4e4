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
