import { describe, expect, it } from 'vitest';
import { NonceCounts } from './nonce-counts.js';
import { NonceFactory } from './digest.js';

const LIFETIME_MS = 300_000;

describe('nonce counts (replay protection, RFC 7616 §3.3)', () => {
  it('accepts each count once and only increasing; a nonce without qop once', () => {
    const f = new NonceFactory(300);
    const counts = new NonceCounts(LIFETIME_MS, 100);
    const now = Date.now();
    const n = f.create(now);
    const issued = f.issuedAt(n)!;
    expect(counts.accept(n, issued, 1, now)).toBe(true);
    expect(counts.accept(n, issued, 1, now)).toBe(false);
    expect(counts.accept(n, issued, 3, now)).toBe(true);
    expect(counts.accept(n, issued, 2, now)).toBe(false);
    const plain = f.create(now);
    expect(counts.accept(plain, f.issuedAt(plain)!, null, now)).toBe(true);
    expect(counts.accept(plain, f.issuedAt(plain)!, null, now)).toBe(false);
  });

  it('survives 10,000 users refreshing: memory stays bounded by fresh nonces and the cap, nothing replays', () => {
    const f = new NonceFactory(300);
    const counts = new NonceCounts(LIFETIME_MS, 20_000);
    const start = Date.now();
    // ten refresh rounds, 100 s apart: every user takes a challenge and answers it once, then once more (nc=2);
    // outcomes are counted and asserted per round (one expect per answer made this test slow under load)
    for (let round = 0; round < 10; round++) {
      const now = start + round * 100_000;
      let refusedFresh = 0;
      let replaysAccepted = 0;
      for (let user = 0; user < 10_000; user++) {
        const n = f.create(now);
        const issued = f.issuedAt(n)!;
        if (!counts.accept(n, issued, 1, now)) refusedFresh++;
        if (!counts.accept(n, issued, 2, now + 10)) refusedFresh++;
        if (user % 1000 === 0 && counts.accept(n, issued, 2, now + 20)) replaysAccepted++;
      }
      expect({ round, refusedFresh, replaysAccepted }).toEqual({ round, refusedFresh: 0, replaysAccepted: 0 });
      // only nonces still fresh are remembered (at most three rounds' worth here), and never over the cap
      expect(counts.size).toBeLessThanOrEqual(20_000);
    }
  });

  it('when full, forgets the oldest and refuses everything issued up to it (never a replay)', () => {
    const f = new NonceFactory(300);
    const counts = new NonceCounts(LIFETIME_MS, 1000);
    const t0 = Date.now();
    const old = f.create(t0);
    expect(counts.accept(old, f.issuedAt(old)!, 1, t0)).toBe(true);
    // 1,000 more nonces, a second later: the table is full and the old one goes
    for (let i = 0; i < 1000; i++) {
      const n = f.create(t0 + 1000);
      expect(counts.accept(n, f.issuedAt(n)!, 1, t0 + 1000)).toBe(true);
    }
    expect(counts.size).toBe(1000);
    expect(counts.accept(old, f.issuedAt(old)!, 2, t0 + 1000)).toBe(false);
  });
});
