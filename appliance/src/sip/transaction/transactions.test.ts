import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseMessage } from '../message/parser.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import { createResponse } from '../message/serializer.js';
import { ServerTransaction } from './server-transaction.js';
import { ClientTransaction } from './client-transaction.js';
import { DEFAULT_TIMERS } from './timers.js';
import { TimerQueues } from './timer-queues.js';
import type { Source, Destination } from '../transport/transport-types.js';

function request(method: string, branch = 'z9hG4bKtest1'): SipRequest {
  const text =
    `${method} sip:bob@parley.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=${branch}\r\n` +
    `From: <sip:alice@parley.test>;tag=a1\r\nTo: <sip:bob@parley.test>\r\nCall-ID: c1\r\nCSeq: 1 ${method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  const o = parseMessage(text);
  if (!o?.ok || !o.message.isRequest) throw new Error('bad fixture');
  return o.message;
}

function response(req: SipRequest, status: number): SipResponse {
  return createResponse(req, status, 'X', 'totag');
}

const UDP: Source = { transport: 'UDP', address: '127.0.0.1', port: 5070, flowId: 'udp:127.0.0.1:5070' };
const TCP: Source = { transport: 'TCP', address: '127.0.0.1', port: 5070, flowId: 'tcp:127.0.0.1:5070' };
const { T1, T2, T4 } = DEFAULT_TIMERS;

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function serverLayer() {
  const sent: number[] = [];
  const removed: string[] = [];
  return {
    sent,
    removed,
    layer: {
      queues: new TimerQueues((err) => {
        throw err;
      }),
      responseDestination: (): Destination => ({ transport: 'UDP', address: '127.0.0.1', port: 5070 }),
      send: (d: Buffer) => sent.push(Number(d.toString().slice(8, 11))),
      remove: (k: string) => removed.push(k),
    },
  };
}

describe('non-INVITE server transaction (RFC 3261 §17.2.2)', () => {
  it('absorbs retransmissions in Trying, resends the final in Completed, ends after Timer J on UDP', () => {
    const { sent, removed, layer } = serverLayer();
    const req = request('MESSAGE');
    const tx = new ServerTransaction('k', req, UDP, layer, DEFAULT_TIMERS);
    tx.receive(req.method);
    expect(sent).toEqual([]);
    tx.respond(response(req, 200));
    expect(tx.state).toBe('completed');
    tx.receive(req.method);
    expect(sent).toEqual([200, 200]);
    vi.advanceTimersByTime(64 * T1 - 1);
    expect(removed).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(removed).toEqual(['k']);
    expect(tx.state).toBe('terminated');
  });

  it('ends at once on a reliable transport (Timer J = 0)', () => {
    const { removed, layer } = serverLayer();
    const req = request('MESSAGE');
    const tx = new ServerTransaction('k', req, TCP, layer, DEFAULT_TIMERS);
    tx.respond(response(req, 202));
    expect(removed).toEqual(['k']);
  });

  it('resends the last provisional in Proceeding and ignores responses after the final', () => {
    const { sent, layer } = serverLayer();
    const req = request('MESSAGE');
    const tx = new ServerTransaction('k', req, UDP, layer, DEFAULT_TIMERS);
    tx.respond(response(req, 180));
    tx.receive(req.method);
    tx.respond(response(req, 486));
    tx.respond(response(req, 200));
    expect(sent).toEqual([180, 180, 486]);
  });
});

describe('INVITE server transaction (RFC 3261 §17.2.1, RFC 6026)', () => {
  it('sends 100 Trying when the TU is silent for 200 ms', () => {
    const { sent, layer } = serverLayer();
    new ServerTransaction('k', request('INVITE'), UDP, layer, DEFAULT_TIMERS);
    vi.advanceTimersByTime(199);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([100]);
  });

  it('retransmits a non-2xx final with Timer G (T1 doubling to T2) until the ACK, then waits Timer I', () => {
    const { sent, removed, layer } = serverLayer();
    const req = request('INVITE');
    const tx = new ServerTransaction('k', req, UDP, layer, DEFAULT_TIMERS);
    tx.respond(response(req, 486));
    vi.advanceTimersByTime(T1); // G #1
    vi.advanceTimersByTime(2 * T1); // G #2
    vi.advanceTimersByTime(4 * T1); // G #3
    vi.advanceTimersByTime(T2); // capped at T2
    expect(sent).toEqual([486, 486, 486, 486, 486]);
    tx.receive('ACK');
    expect(tx.state).toBe('confirmed');
    vi.advanceTimersByTime(T2 * 4);
    expect(sent.length).toBe(5);
    expect(removed).toEqual(['k']);
    void T4;
  });

  it('gives up after Timer H without an ACK and tells the TU', () => {
    const { removed, layer } = serverLayer();
    const req = request('INVITE');
    const tx = new ServerTransaction('k', req, UDP, layer, DEFAULT_TIMERS);
    const onAckTimeout = vi.fn();
    tx.onAckTimeout = onAckTimeout;
    tx.respond(response(req, 404));
    vi.advanceTimersByTime(64 * T1);
    expect(onAckTimeout).toHaveBeenCalledOnce();
    expect(removed).toEqual(['k']);
  });

  it('enters Accepted on 2xx and absorbs retransmitted INVITEs until Timer L', () => {
    const { sent, removed, layer } = serverLayer();
    const req = request('INVITE');
    const tx = new ServerTransaction('k', req, UDP, layer, DEFAULT_TIMERS);
    tx.respond(response(req, 200));
    expect(tx.state).toBe('accepted');
    tx.receive(req.method);
    expect(sent).toEqual([200]);
    vi.advanceTimersByTime(64 * T1);
    expect(removed).toEqual(['k']);
  });
});

function clientLayer(fail = false) {
  const sent: string[] = [];
  const removed: string[] = [];
  return {
    sent,
    removed,
    layer: {
      queues: new TimerQueues((err) => {
        throw err;
      }),
      send: (d: Buffer, _dest: Destination, onError: (e: Error) => void) => {
        sent.push(d.toString().split(' ')[0]);
        if (fail) onError(new Error('refused'));
      },
      remove: (k: string) => removed.push(k),
    },
  };
}

const UDP_DEST: Destination = { transport: 'UDP', address: '127.0.0.1', port: 5080 };

describe('non-INVITE client transaction (RFC 3261 §17.1.2)', () => {
  it('retransmits with Timer E (doubling, capped at T2) and times out with Timer F', () => {
    const { sent, layer } = clientLayer();
    const cb = { onFinal: vi.fn(), onTimeout: vi.fn(), onTransportError: vi.fn() };
    const tx = new ClientTransaction('k', request('MESSAGE'), UDP_DEST, layer, cb, DEFAULT_TIMERS);
    tx.start();
    const at: number[] = [];
    let t = 0;
    for (let i = 0; i < 64 * T1; i += 100) {
      const before = sent.length;
      vi.advanceTimersByTime(100);
      t += 100;
      if (sent.length > before) at.push(t);
    }
    // E fires at 500, 1500, 3500, 7500, then every T2 = 4 s
    expect(at.slice(0, 6)).toEqual([500, 1500, 3500, 7500, 11500, 15500]);
    expect(cb.onTimeout).toHaveBeenCalledOnce();
    expect(cb.onFinal).not.toHaveBeenCalled();
  });

  it('hands the final response to the TU once and absorbs retransmissions during Timer K', () => {
    const { removed, layer } = clientLayer();
    const cb = { onFinal: vi.fn(), onTimeout: vi.fn(), onTransportError: vi.fn(), onProvisional: vi.fn() };
    const req = request('MESSAGE');
    const tx = new ClientTransaction('k', req, UDP_DEST, layer, cb, DEFAULT_TIMERS);
    tx.start();
    tx.receive(response(req, 100));
    tx.receive(response(req, 200));
    tx.receive(response(req, 200));
    expect(cb.onProvisional).toHaveBeenCalledOnce();
    expect(cb.onFinal).toHaveBeenCalledOnce();
    vi.advanceTimersByTime(T4);
    expect(removed).toEqual(['k']);
    expect(cb.onTimeout).not.toHaveBeenCalled();
  });

  it('ends at once, without Timer K, under a layer that drops responses matching nothing (RFC 3261 §17.1.2.2)', () => {
    const { removed, layer } = clientLayer();
    const cb = { onFinal: vi.fn(), onTimeout: vi.fn(), onTransportError: vi.fn() };
    const req = request('MESSAGE');
    const tx = new ClientTransaction('k', req, UDP_DEST, { ...layer, dropsUnmatchedResponses: true }, cb, DEFAULT_TIMERS);
    tx.start();
    tx.receive(response(req, 200));
    expect(cb.onFinal).toHaveBeenCalledOnce();
    expect(removed).toEqual(['k']);
    // ended, it has let go of its request (and of the callbacks, which are not called again)
    expect(() => tx.request).toThrow(/already ended/);
    tx.receive(response(req, 200));
    vi.advanceTimersByTime(64 * T1);
    expect(cb.onFinal).toHaveBeenCalledOnce();
    expect(cb.onTimeout).not.toHaveBeenCalled();
  });

  it('reports a transport error to the TU (RFC 3261 §17.1.4)', () => {
    const { layer } = clientLayer(true);
    const cb = { onFinal: vi.fn(), onTimeout: vi.fn(), onTransportError: vi.fn() };
    const tx = new ClientTransaction('k', request('MESSAGE'), UDP_DEST, layer, cb, DEFAULT_TIMERS);
    tx.start();
    expect(cb.onTransportError).toHaveBeenCalledOnce();
    expect(tx.state).toBe('terminated');
    vi.advanceTimersByTime(64 * T1);
    expect(cb.onTimeout).not.toHaveBeenCalled();
  });
});

describe('INVITE client transaction (RFC 3261 §17.1.1, RFC 6026)', () => {
  it('retransmits with Timer A until a provisional, ACKs a non-2xx final itself', () => {
    const { sent, layer } = clientLayer();
    const cb = { onFinal: vi.fn(), onTimeout: vi.fn(), onTransportError: vi.fn() };
    const req = request('INVITE');
    const tx = new ClientTransaction('k', req, UDP_DEST, layer, cb, DEFAULT_TIMERS);
    tx.start();
    vi.advanceTimersByTime(T1 + 2 * T1);
    expect(sent).toEqual(['INVITE', 'INVITE', 'INVITE']);
    tx.receive(response(req, 180));
    vi.advanceTimersByTime(10 * T1);
    expect(sent.length).toBe(3);
    tx.receive(response(req, 486));
    expect(sent[3]).toBe('ACK');
    tx.receive(response(req, 486));
    expect(sent[4]).toBe('ACK');
    expect(cb.onFinal).toHaveBeenCalledOnce();
  });

  it('times out with Timer B', () => {
    const { layer } = clientLayer();
    const cb = { onFinal: vi.fn(), onTimeout: vi.fn(), onTransportError: vi.fn() };
    new ClientTransaction('k', request('INVITE'), UDP_DEST, layer, cb, DEFAULT_TIMERS).start();
    vi.advanceTimersByTime(64 * T1);
    expect(cb.onTimeout).toHaveBeenCalledOnce();
  });

  it('passes 2xx retransmissions to the TU in Accepted (RFC 6026 §8.4)', () => {
    const { layer } = clientLayer();
    const cb = { onFinal: vi.fn(), onTimeout: vi.fn(), onTransportError: vi.fn() };
    const req = request('INVITE');
    const tx = new ClientTransaction('k', req, UDP_DEST, layer, cb, DEFAULT_TIMERS);
    tx.start();
    tx.receive(response(req, 200));
    tx.receive(response(req, 200));
    expect(tx.state).toBe('accepted');
    expect(cb.onFinal).toHaveBeenCalledTimes(2);
  });
});
