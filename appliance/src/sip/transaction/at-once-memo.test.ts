import { describe, expect, it } from 'vitest';
import { AtOnceMemo } from './at-once-memo.js';

const key = (branch: string, callId: string) => `${branch}|127.0.0.1:5070|MESSAGE|${callId}|1`;

describe('AtOnceMemo: at-once answers made again for Timer J (RFC 3261 §17.2.2)', () => {
  it("finds a request's To tag number and token until its time is over, and nothing for another request on the branch", () => {
    const memo = new AtOnceMemo(32_000);
    memo.remember('z9hG4bKa', key('z9hG4bKa', 'c1'), 41, 7, 1000);
    const slot = memo.find('z9hG4bKa', key('z9hG4bKa', 'c1'), 1500);
    expect(slot).toBeGreaterThanOrEqual(0);
    expect([memo.tagOf(slot), memo.tokenOf(slot)]).toEqual([41, 7]);
    // the same branch with another Call-ID is another request (a client that reuses branches)
    expect(memo.find('z9hG4bKa', key('z9hG4bKa', 'c2'), 1500)).toBe(-1);
    expect(memo.mayHoldBranch('z9hG4bKa', 1500)).toBe(true);
    // Timer J over: gone from both looks
    expect(memo.find('z9hG4bKa', key('z9hG4bKa', 'c1'), 33_000)).toBe(-1);
    expect(memo.mayHoldBranch('z9hG4bKa', 33_000)).toBe(false);
  });

  it('says no, exactly, for every branch never remembered', () => {
    const memo = new AtOnceMemo(32_000, 10, 12345);
    for (let i = 0; i < 1500; i++) memo.remember(`z9hG4bKheld${i}`, key(`z9hG4bKheld${i}`, `c${i}`), i, i, 0);
    // a set holds two: of 1,500 remembered in 1,024 sets, the last two of each set are kept
    let kept = 0;
    for (let i = 0; i < 1500; i++) if (memo.find(`z9hG4bKheld${i}`, key(`z9hG4bKheld${i}`, `c${i}`), 1) >= 0) kept++;
    expect(kept).toBeGreaterThan(1000);
    // a yes for a branch never remembered needs its 32-bit hash to equal a kept one's
    for (let i = 0; i < 100_000; i++) expect(memo.mayHoldBranch(`z9hG4bKnew${i}`, 1)).toBe(false);
  });

  it('keeps one slot per request, and when its set is full lets go of the one that expires first', () => {
    // one set of two slots
    const memo = new AtOnceMemo(32_000, 0, 1);
    memo.remember('z9hG4bKa', key('z9hG4bKa', 'a'), 1, 1, 0);
    memo.remember('z9hG4bKb', key('z9hG4bKb', 'b'), 2, 2, 10);
    // the first again (its retransmission answered once more): its own slot, its time anew
    memo.remember('z9hG4bKa', key('z9hG4bKa', 'a'), 1, 3, 20);
    expect(memo.tokenOf(memo.find('z9hG4bKb', key('z9hG4bKb', 'b'), 30))).toBe(2);
    expect(memo.tokenOf(memo.find('z9hG4bKa', key('z9hG4bKa', 'a'), 30))).toBe(3);
    // a third: b expires first and goes
    memo.remember('z9hG4bKc', key('z9hG4bKc', 'c'), 3, 3, 40);
    expect(memo.find('z9hG4bKb', key('z9hG4bKb', 'b'), 50)).toBe(-1);
    expect(memo.find('z9hG4bKa', key('z9hG4bKa', 'a'), 50)).toBeGreaterThanOrEqual(0);
    expect(memo.find('z9hG4bKc', key('z9hG4bKc', 'c'), 50)).toBeGreaterThanOrEqual(0);
    // an expired slot is written over first
    memo.remember('z9hG4bKd', key('z9hG4bKd', 'd'), 4, 4, 32_030);
    expect(memo.find('z9hG4bKc', key('z9hG4bKc', 'c'), 32_030)).toBeGreaterThanOrEqual(0);
    expect(memo.find('z9hG4bKd', key('z9hG4bKd', 'd'), 32_030)).toBeGreaterThanOrEqual(0);
  });
});
