import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExpiringKeys } from './expiring-keys.js';

// the keys' time is the monotonic clock: performance.now, faked with the interval that sweeps them
beforeEach(() => vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] }));
afterEach(() => vi.useRealTimers());

describe('ExpiringKeys', () => {
  it('holds each key for its time from its last add, and lets go of them in order', () => {
    const keys = new ExpiringKeys(5000);
    keys.add('a|MESSAGE');
    vi.advanceTimersByTime(2000);
    keys.add('b|MESSAGE');
    expect(keys.has('a|MESSAGE') && keys.has('b|MESSAGE')).toBe(true);
    vi.advanceTimersByTime(3000);
    expect(keys.has('a|MESSAGE')).toBe(false);
    expect(keys.has('b|MESSAGE')).toBe(true);
    keys.add('b|MESSAGE'); // added again: its time starts over
    vi.advanceTimersByTime(4000);
    expect(keys.has('b|MESSAGE')).toBe(true);
    vi.advanceTimersByTime(1000);
    expect(keys.size).toBe(0);
  });
});
