import { describe, expect, it } from 'vitest';
import { NonceTable } from './nonces.js';

describe('digest nonces (RFC 7616 §3.3)', () => {
  it('knows its own nonce and when it was made; a forged, altered or foreign one is not found', () => {
    const t = new NonceTable(300, 100);
    const now = Date.now();
    const n = t.create(now);
    expect(t.issuedAt(n)).toBe(Math.floor(now / 1000) * 1000);
    const last = n.at(-1) === '0' ? '1' : '0';
    const serial = n.slice(0, n.indexOf('.'));
    for (const other of [n.slice(0, -1) + last, `0${n}`, `${n}0`, `${n} `, ` ${n}`, `+${n}`, `0x${Number(serial).toString(16)}${n.slice(serial.length)}`, `${serial}.0${n.slice(serial.length + 1)}`, 'garbage', '', '.', `99999999999999999999${n}`]) {
      expect(t.issuedAt(other)).toBeNull();
      expect(t.use(other, 1)).toBe('stale');
    }
    // another table (another process, or an earlier run of this one) that made as many nonces
    const other = new NonceTable(300, 100);
    other.create(now);
    expect(other.issuedAt(n)).toBeNull();
    expect(other.use(n, 1)).toBe('stale');
    // serials that are no integer of ours
    for (const bad of ['-100.0.0', '-1.undefined.undefined', '-0.0.0', `${2 ** 53}.1.1`, 'NaN.0.0', 'Infinity.0.0']) expect(t.issuedAt(bad)).toBeNull();
  });

  it('writes a nonce again by its serial while it is held and has time left (a challenge sent again)', () => {
    const t = new NonceTable(300, 10);
    const now = Date.now();
    const serial = t.make(now);
    const n = t.text(serial, now)!;
    expect(t.issuedAt(n)).toBe(Math.floor(now / 1000) * 1000);
    expect(t.text(serial, now + 299_000)).toBe(n);
    // past its lifetime, or not made, or pushed out of its slot: none
    expect(t.text(serial, now + 301_000)).toBeNull();
    for (const bad of [serial + 1, -1, 0.5, NaN]) expect(t.text(bad, now)).toBeNull();
    for (let i = 0; i < 10; i++) t.make(now);
    expect(t.text(serial, now)).toBeNull();
    expect(t.use(n, 1, now)).toBe('stale');
  });

  it("never lets an old serial borrow the random bits of the newer nonce in its slot", () => {
    const t = new NonceTable(300, 10);
    const old = t.create();
    const serial = Number(old.slice(0, old.indexOf('.')));
    for (let i = 0; i < 9; i++) t.create();
    // serial + 10 takes the old one's slot: its random bits with the old serial are no nonce
    const newer = t.create();
    expect(Number(newer.slice(0, newer.indexOf('.')))).toBe(serial + 10);
    const borrowed = `${serial}${newer.slice(newer.indexOf('.'))}`;
    expect(t.issuedAt(borrowed)).toBeNull();
    expect(t.use(borrowed, 1)).toBe('stale');
    expect(t.use(newer, 1)).toBe('ok');
  });

  it('accepts each count once and only increasing; a nonce without qop once', () => {
    const t = new NonceTable(300, 100);
    const n = t.create();
    expect(t.use(n, 1)).toBe('ok');
    expect(t.use(n, 1)).toBe('replay');
    expect(t.use(n, 3)).toBe('ok');
    expect(t.use(n, 2)).toBe('replay');
    const plain = t.create();
    expect(t.use(plain, null)).toBe('ok');
    expect(t.use(plain, null)).toBe('replay');
    // RFC 7616 §3.4: counts start at 00000001 and have 8 hex digits; nothing else counts a use
    const odd = t.create();
    for (const nc of [0, -1, 1.5, NaN, 2 ** 32]) expect(t.use(odd, nc)).toBe('replay');
    expect(t.use(odd, 0xffffffff)).toBe('ok');
    expect(t.use(odd, 0xffffffff)).toBe('replay');
  });

  it('calls a nonce past its lifetime stale', () => {
    const t = new NonceTable(300, 100);
    const now = Date.now();
    const n = t.create(now);
    expect(t.use(n, 1, now + 299_000)).toBe('ok');
    expect(t.use(n, 2, now + 301_000)).toBe('stale');
  });

  it('calls a nonce stale when the clock was set back past its issue time (more than the second it is cut to)', () => {
    const t = new NonceTable(300, 100);
    const now = Date.now();
    const n = t.create(now);
    expect(t.use(n, 1, now - 4000)).toBe('ok');
    expect(t.use(n, 2, now - 3_600_000)).toBe('stale');
  });

  it('counts its window in nonces made: challenges nobody answers shorten it, and what falls out is refused, never replayed', () => {
    const t = new NonceTable(300, 1000);
    const kept = t.create();
    expect(t.use(kept, 1)).toBe('ok');
    // 1,000 challenges that nobody answers push it out of the table
    for (let i = 0; i < 1000; i++) t.create();
    expect(t.size).toBe(1000);
    // the client that reused its nonce with the next count takes a fresh challenge (stale)
    expect(t.use(kept, 2)).toBe('stale');
  });

  it('takes nonces back in any order while they are held', () => {
    const t = new NonceTable(300, 1000);
    const made = Array.from({ length: 1000 }, () => t.create());
    for (let i = made.length - 1; i >= 0; i -= 2) expect(t.use(made[i], 1)).toBe('ok');
    for (let i = 0; i < made.length; i += 2) expect(t.use(made[i], 1)).toBe('ok');
    for (const n of made) expect(t.use(n, 1)).toBe('replay');
    // one more: the oldest is pushed out, and its slot belongs to the newest
    const newest = t.create();
    expect(t.use(made[0], 2)).toBe('stale');
    expect(t.use(newest, 1)).toBe('ok');
    expect(t.use(made[1], 2)).toBe('ok');
  });

  it('survives 10,000 users refreshing: memory stays at the cap, nothing replays', () => {
    const t = new NonceTable(300, 20_000);
    // ten refresh rounds: every user takes a challenge and answers it once, then once more (nc=2);
    // outcomes are counted and asserted per round (one expect per answer made this test slow under load)
    for (let round = 0; round < 10; round++) {
      let refusedFresh = 0;
      let replaysAccepted = 0;
      for (let user = 0; user < 10_000; user++) {
        const n = t.create();
        if (t.use(n, 1) !== 'ok') refusedFresh++;
        if (t.use(n, 2) !== 'ok') refusedFresh++;
        if (user % 1000 === 0 && t.use(n, 2) !== 'replay') replaysAccepted++;
      }
      expect({ round, refusedFresh, replaysAccepted }).toEqual({ round, refusedFresh: 0, replaysAccepted: 0 });
      expect(t.size).toBe(Math.min(20_000, (round + 1) * 10_000));
    }
  });

  it('makes nonces of digits and dots (nothing to quote or escape), unique across many', () => {
    const t = new NonceTable(300, 10);
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const n = t.create();
      expect(n).toMatch(/^[0-9]+\.[0-9]+\.[0-9]+$/);
      seen.add(n);
    }
    expect(seen.size).toBe(5000);
  });
});
