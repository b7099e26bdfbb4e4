import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimerQueues } from '../transaction/timer-queues.js';
import { DEFAULT_TIMERS } from '../transaction/timers.js';
import { parseMessage } from '../message/parser.js';
import type { SipRequest } from '../message/message.js';
import type { Destination } from '../transport/transport-types.js';
import { AckWait } from './ack-wait.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

const dest: Destination = { transport: 'UDP', address: '192.0.2.7', port: 5070 };
const sent = { data: Buffer.from('SIP/2.0 200 OK\r\n\r\n'), dest };

/** The ACK a caller sends for the 2xx (its own branch, our To tag, the INVITE's CSeq number). */
function ack(toTag: string, seq: number): SipRequest {
  const text = `ACK sip:room@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bKack${seq}\r\nFrom: <sip:alice@parley.test>;tag=a\r\nTo: <sip:room@parley.test>;tag=${toTag}\r\nCall-ID: c1\r\nCSeq: ${seq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  const outcome = parseMessage(Buffer.from(text));
  if (outcome === null || !outcome.ok || !outcome.message.isRequest) throw new Error('test ACK does not parse');
  return outcome.message;
}

describe('AckWait: the UAS core resends its 2xx until the ACK (RFC 3261 §13.3.1.4)', () => {
  it('resends at T1, 2·T1, 4·T1 … capped at T2 over UDP, and stops at the ACK', () => {
    const times: number[] = [];
    const start = Date.now();
    const w = new AckWait(new TimerQueues((e) => { throw e; }), DEFAULT_TIMERS, () => times.push(Date.now() - start));
    const timeout = vi.fn();
    w.start('c1', 'ours', 1, sent, false, timeout);
    vi.advanceTimersByTime(500 + 1000 + 2000 + 4000 + 4000 + 10);
    expect(times).toEqual([500, 1500, 3500, 7500, 11500]);
    expect(w.acknowledge(ack('other', 1))).toBe(false);
    expect(w.acknowledge(ack('ours', 2))).toBe(false);
    expect(w.acknowledge(ack('ours', 1))).toBe(true);
    vi.advanceTimersByTime(60_000);
    expect(times).toHaveLength(5);
    expect(timeout).not.toHaveBeenCalled();
    expect(w.size).toBe(0);
  });

  it('gives up after 64·T1 without an ACK and says so; over a reliable transport it only waits', () => {
    const sends = vi.fn();
    const w = new AckWait(new TimerQueues((e) => { throw e; }), DEFAULT_TIMERS, sends);
    const timeout = vi.fn();
    w.start('c1', 'ours', 1, sent, true, timeout);
    vi.advanceTimersByTime(64 * 500 - 1);
    expect(timeout).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(timeout).toHaveBeenCalledTimes(1);
    expect(sends).not.toHaveBeenCalled();
    expect(w.acknowledge(ack('ours', 1))).toBe(false);
  });
});
