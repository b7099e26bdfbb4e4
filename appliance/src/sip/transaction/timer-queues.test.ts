import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimerQueues } from './timer-queues.js';

beforeEach(() => vi.useFakeTimers());
const fail = (err: unknown): never => {
  throw err;
};
afterEach(() => vi.useRealTimers());

describe('TimerQueues', () => {
  it('runs each timer at its own deadline, in start order within a duration', () => {
    const q = new TimerQueues(fail);
    const ran: string[] = [];
    q.start(500, () => ran.push('a'));
    vi.advanceTimersByTime(100);
    q.start(500, () => ran.push('b'));
    q.start(200, () => ran.push('short'));
    vi.advanceTimersByTime(199);
    expect(ran).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ran).toEqual(['short']);
    vi.advanceTimersByTime(199);
    expect(ran).toEqual(['short']);
    vi.advanceTimersByTime(1);
    expect(ran).toEqual(['short', 'a']);
    vi.advanceTimersByTime(100);
    expect(ran).toEqual(['short', 'a', 'b']);
    expect(q.pending).toBe(0);
  });

  it('never runs a stopped timer, and the ones behind it still run', () => {
    const q = new TimerQueues(fail);
    const ran: string[] = [];
    const first = q.start(500, () => ran.push('stopped'));
    q.start(500, () => ran.push('kept'));
    q.stop(first);
    expect(q.pending).toBe(1);
    vi.advanceTimersByTime(500);
    expect(ran).toEqual(['kept']);
  });

  it('a timer that throws does not hold back the others due with it', () => {
    const failures: unknown[] = [];
    const q = new TimerQueues((err) => failures.push(err));
    const ran: string[] = [];
    q.start(50, () => {
      throw new Error('boom');
    });
    q.start(50, () => ran.push('after'));
    vi.advanceTimersByTime(50);
    expect(ran).toEqual(['after']);
    expect(failures).toEqual([new Error('boom')]);
  });

  it('keeps going after it ran empty', () => {
    const q = new TimerQueues(fail);
    const ran: number[] = [];
    q.start(10, () => ran.push(1));
    vi.advanceTimersByTime(10);
    q.start(10, () => ran.push(2));
    vi.advanceTimersByTime(10);
    expect(ran).toEqual([1, 2]);
  });

  it('drops stopped timers while they are young once they are many and most of the queue, and runs the rest in order', () => {
    const q = new TimerQueues(fail);
    const ran: number[] = [];
    const timers = Array.from({ length: 3000 }, (_, i) => q.start(32_000, () => ran.push(i)));
    // like Timer F: nearly every one stopped a moment after its start
    timers.forEach((t, i) => i % 300 !== 0 && q.stop(t));
    q.stop(timers[1]); // stopping twice counts once
    expect(q.pending).toBe(10);
    expect(q.queued).toBeLessThan(2000);
    vi.advanceTimersByTime(32_000);
    expect(ran).toEqual([0, 300, 600, 900, 1200, 1500, 1800, 2100, 2400, 2700]);
    expect(q.queued).toBe(0);
  });
});
