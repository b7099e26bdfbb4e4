import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimerQueues } from './timer-queues.js';
import { TimerSet } from './timers.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());
const fail = (err: unknown): never => {
  throw err;
};

describe('TimerSet', () => {
  it('runs named timers, stops one by name, and restarting a name replaces its timer', () => {
    const queues = new TimerQueues(fail);
    const set = new TimerSet(queues);
    const ran: string[] = [];
    set.start('retransmit', 500, () => ran.push('E'));
    set.start('timeout', 32_000, () => ran.push('F'));
    set.start('retransmit', 1000, () => ran.push('E again'));
    vi.advanceTimersByTime(999);
    expect(ran).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ran).toEqual(['E again']);
    set.stop('timeout');
    vi.advanceTimersByTime(40_000);
    expect(ran).toEqual(['E again']);
    expect(queues.pending).toBe(0);
  });

  it('lets a timer start itself again from its own function (retransmissions doubling)', () => {
    const queues = new TimerQueues(fail);
    const set = new TimerSet(queues);
    const at: number[] = [];
    let interval = 500;
    const again = (): void => {
      at.push(Date.now());
      interval *= 2;
      if (at.length < 4) set.start('retransmit', interval, again);
    };
    const t0 = Date.now();
    set.start('retransmit', interval, again);
    set.start('timeout', 64 * 500, () => at.push(-1));
    vi.advanceTimersByTime(10_000);
    expect(at.map((t) => t - t0)).toEqual([500, 1500, 3500, 7500]);
    set.clear();
    vi.advanceTimersByTime(40_000);
    expect(at).not.toContain(-1);
  });

  it('frees the slot of a timer that ran, and refuses a fourth timer at once', () => {
    const queues = new TimerQueues(fail);
    const set = new TimerSet(queues);
    set.start('a', 100, () => undefined);
    set.start('b', 100, () => undefined);
    set.start('c', 100, () => undefined);
    expect(() => set.start('d', 100, () => undefined)).toThrow(/fourth timer/);
    expect(queues.pending).toBe(3);
    vi.advanceTimersByTime(100);
    // all three ran: their slots take new ones
    set.start('d', 100, () => undefined);
    set.start('e', 100, () => undefined);
    set.start('f', 100, () => undefined);
    expect(queues.pending).toBe(3);
    set.clear();
    expect(queues.pending).toBe(0);
  });
});
