import { describe, expect, it } from 'vitest';
import { SubscribeRate } from './subscribe-rate.js';

describe('SUBSCRIBE rate per subscriber', () => {
  it('allows a burst, then refuses with the seconds to wait, for that subscriber only', () => {
    const rate = new SubscribeRate({ burst: 3, perSecond: 1 });
    const t = 1_000_000;
    expect([rate.take('a', t), rate.take('a', t), rate.take('a', t)]).toEqual([0, 0, 0]);
    expect(rate.take('a', t)).toBe(1);
    expect(rate.take('b', t)).toBe(0);
    // a second later one more token has come back
    expect(rate.take('a', t + 1000)).toBe(0);
  });
});
