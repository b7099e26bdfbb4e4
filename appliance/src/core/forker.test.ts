import { describe, expect, it } from 'vitest';
import { fork, type Branch } from './forker.js';
import { TimerQueues } from '../sip/transaction/timer-queues.js';
import type { SipStack } from '../sip/stack.js';
import type { SipRequest, SipResponse } from '../sip/message/message.js';
import type { ClientTransaction } from '../sip/transaction/client-transaction.js';
import type { ClientCallbacks } from '../sip/transaction/transaction-types.js';

/** A stack that sends nothing: each branch's callbacks are kept for the test to call. */
function fakeStack() {
  const callbacks: ClientCallbacks[] = [];
  const stack = {
    timerQueues: new TimerQueues((err) => {
      throw err;
    }),
    sendRequest: (_req: SipRequest, _dest: unknown, cb: ClientCallbacks) => {
      callbacks.push(cb);
      return {} as ClientTransaction;
    },
  } as unknown as SipStack;
  return { stack, callbacks };
}

const branch = (): Branch => ({ request: {} as SipRequest, destination: { transport: 'UDP', address: '127.0.0.1', port: 5070 } });
const response = (status: number) => ({ status, reason: String(status) }) as SipResponse;

describe('fork', () => {
  it('tells of every final response, also after a 2xx has settled it (a MESSAGE branch runs to its end)', async () => {
    const { stack, callbacks } = fakeStack();
    const heard: number[] = [];
    const outcome = fork(stack, [branch(), branch(), branch()], 10_000, (i) => heard.push(i));
    callbacks[1].onFinal!(response(200));
    expect((await outcome).answered?.status).toBe(200);
    callbacks[0].onFinal!(response(200));
    callbacks[2].onFinal!(response(486));
    expect(heard).toEqual([1, 0, 2]);
  });

  it('names the branches the transport refused among those that got no response', async () => {
    const { stack, callbacks } = fakeStack();
    const outcome = fork(stack, [branch(), branch(), branch()], 10_000);
    callbacks[0].onTransportError!(new Error('unreachable'));
    callbacks[1].onTimeout!();
    callbacks[2].onFinal!(response(480));
    const settled = await outcome;
    if (settled.answered) throw new Error('answered');
    expect(settled.unreached).toEqual([0, 1]);
    expect(settled.transportFailed).toEqual([0]);
    expect(settled.best?.status).toBe(480);
  });
});
