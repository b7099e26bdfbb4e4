import { describe, expect, it } from 'vitest';
import { CompletedResponses } from './completed-responses.js';

const dest = { transport: 'UDP' as const, address: '127.0.0.1', port: 5070 };

describe('completed responses (Timer J without a transaction each)', () => {
  it('answers retransmissions until 64 × T1 has passed, then forgets, in order', () => {
    const c = new CompletedResponses(32_000);
    c.hold('a', null, Buffer.from('200 a'), dest, 0);
    c.hold('b', null, Buffer.from('200 b'), dest, 10_000);
    expect(c.get('a')?.data.toString()).toBe('200 a');
    c.sweep(31_999);
    expect(c.size).toBe(2);
    c.sweep(32_000);
    expect(c.get('a')).toBeUndefined();
    expect(c.get('b')?.data.toString()).toBe('200 b');
    c.sweep(42_000);
    expect(c.size).toBe(0);
    c.clear();
  });

  it('says which branches it may hold, and forgets them as their keys expire', () => {
    const c = new CompletedResponses(32_000);
    c.hold('z9hG4bKa|127.0.0.1:5070|MESSAGE|c1|1', 'z9hG4bKa', Buffer.from('200 a'), dest, 0);
    expect(c.mayHoldBranch('z9hG4bKa')).toBe(true);
    expect(c.mayHoldBranch('z9hG4bKb')).toBe(false);
    c.sweep(32_000);
    expect(c.mayHoldBranch('z9hG4bKa')).toBe(false);
    c.clear();
  });

  it('stays compact under a steady stream', () => {
    const c = new CompletedResponses(1000);
    for (let t = 0; t < 100_000; t++) {
      c.hold(`k${t}`, null, Buffer.alloc(1), dest, t);
      if (t % 100 === 0) c.sweep(t);
    }
    expect(c.size).toBeLessThanOrEqual(1100);
    c.clear();
  });
});
