import { describe, expect, it } from 'vitest';
import { NonceCounts } from './nonce-counts.js';
import { NonceFactory } from './digest.js';

/** A nonce of `f` and its serial, as the authenticator reads it after the MAC checked. */
function made(f: NonceFactory): number {
  const nonce = f.create();
  expect(f.issuedAt(nonce)).not.toBeNull();
  const serial = f.serialOf(nonce);
  if (serial === null) throw new Error(`no serial in ${nonce}`);
  return serial;
}

describe('nonce counts (replay protection, RFC 7616 §3.3)', () => {
  it('accepts each count once and only increasing; a nonce without qop once', () => {
    const f = new NonceFactory(300);
    const counts = new NonceCounts(100);
    const n = made(f);
    expect(counts.accept(n, 1)).toBe(true);
    expect(counts.accept(n, 1)).toBe(false);
    expect(counts.accept(n, 3)).toBe(true);
    expect(counts.accept(n, 2)).toBe(false);
    const plain = made(f);
    expect(counts.accept(plain, null)).toBe(true);
    expect(counts.accept(plain, null)).toBe(false);
    expect(counts.size).toBe(2);
  });

  it('reads the serial a factory wrote, one more per nonce, and none from text of another shape', () => {
    const f = new NonceFactory(300);
    const first = made(f);
    expect(made(f)).toBe(first + 1);
    for (let i = 0; i < 100_000; i++) f.create();
    expect(made(f)).toBe(first + 100_002);
    expect(f.serialOf('no-dots')).toBeNull();
    expect(f.serialOf('abc.short.mac')).toBeNull();
    expect(f.serialOf('abc.saltxx.mac')).toBeNull(); // nothing after the six salt characters
    // another factory's nonce (another process) has another salt: no serial of ours
    expect(f.serialOf(new NonceFactory(300).create())).toBeNull();
  });

  it('counts its window in nonces made: challenges nobody answers shorten it, and what falls out is refused, never replayed', () => {
    const f = new NonceFactory(300);
    const counts = new NonceCounts(1000);
    const kept = made(f);
    expect(counts.accept(kept, 1)).toBe(true);
    // 1,000 challenges that nobody answers, then one that is answered
    for (let i = 0; i < 1000; i++) f.create();
    expect(counts.accept(made(f), 1)).toBe(true);
    // the client that reused its nonce with the next count takes a fresh challenge (stale)
    expect(counts.accept(kept, 2)).toBe(false);
  });

  it('survives 10,000 users refreshing: memory stays at the cap, nothing replays', () => {
    const f = new NonceFactory(300);
    const counts = new NonceCounts(20_000);
    // ten refresh rounds: every user takes a challenge and answers it once, then once more (nc=2);
    // outcomes are counted and asserted per round (one expect per answer made this test slow under load)
    for (let round = 0; round < 10; round++) {
      let refusedFresh = 0;
      let replaysAccepted = 0;
      for (let user = 0; user < 10_000; user++) {
        const n = f.serialOf(f.create())!;
        if (!counts.accept(n, 1)) refusedFresh++;
        if (!counts.accept(n, 2)) refusedFresh++;
        if (user % 1000 === 0 && counts.accept(n, 2)) replaysAccepted++;
      }
      expect({ round, refusedFresh, replaysAccepted }).toEqual({ round, refusedFresh: 0, replaysAccepted: 0 });
      expect(counts.size).toBeLessThanOrEqual(20_000);
    }
  });

  it('when full, forgets the oldest and refuses it from then on (never a replay), whatever order nonces come back in', () => {
    const f = new NonceFactory(300);
    const counts = new NonceCounts(1000);
    const old = made(f);
    expect(counts.accept(old, 1)).toBe(true);
    // a nonce made long before others but answered after them is still taken while it is held
    const late = made(f);
    const next = Array.from({ length: 998 }, () => made(f));
    for (const n of next) expect(counts.accept(n, 1)).toBe(true);
    expect(counts.accept(late, 1)).toBe(true);
    expect(counts.size).toBe(1000);
    // one more: the table is full and the oldest goes
    expect(counts.accept(made(f), 1)).toBe(true);
    expect(counts.size).toBe(1000);
    expect(counts.accept(old, 2)).toBe(false);
    // the slot it had now holds the newest nonce's count: that one is not taken for the old one
    expect(counts.accept(late, 2)).toBe(true);
    expect(counts.accept(late, 2)).toBe(false);
  });
});
