import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { LiveTable } from './live-table.js';
import { seededHash } from './completed-responses.js';

/** Keys of the form `${prefix}${i}` whose home slot in a first table (1,024 slots) under `seed` is `home`. */
function keysAt(home: number, count: number, seed: number, prefix: string): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    const key = `${prefix}${i}`;
    if ((seededHash(key, seed) & 0x3ff) === home) keys.push(key);
  }
  return keys;
}

describe('LiveTable', () => {
  it('holds, replaces, finds and removes entries by key', () => {
    const t = new LiveTable<number>();
    expect(t.size).toBe(0);
    expect(t.get('a')).toBeUndefined();
    expect(t.delete('a')).toBe(false);
    t.set('z9hG4bK1|MESSAGE', 1);
    t.set('z9hG4bK2|MESSAGE', 2);
    t.set('z9hG4bK1|MESSAGE', 3);
    expect(t.size).toBe(2);
    expect(t.get('z9hG4bK1|MESSAGE')).toBe(3);
    expect(t.has('z9hG4bK2|MESSAGE')).toBe(true);
    expect(t.has('z9hG4bK3|MESSAGE')).toBe(false);
    expect(t.delete('z9hG4bK1|MESSAGE')).toBe(true);
    expect(t.delete('z9hG4bK1|MESSAGE')).toBe(false);
    expect(t.get('z9hG4bK1|MESSAGE')).toBeUndefined();
    expect(t.get('z9hG4bK2|MESSAGE')).toBe(2);
    expect(t.size).toBe(1);
  });

  it('answers as a Map does through a long run of random adds and removes, growing and shrinking', () => {
    // a fixed seed, so that a failure comes back the same
    let x = 7;
    const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8;
    const t = new LiveTable<number>(99);
    const ref = new Map<string, number>();
    const capacities = new Set<number>();
    let grewTo = 0;
    let shrankAfterGrowing = false;
    for (let step = 0; step < 60_000; step++) {
      // phases: a burst that fills past the first table (about 3,500 of 5,000 keys held), then a
      // drain that empties it far enough for the table to shrink (towards 100 held)
      const filling = step % 20_000 < 10_000;
      const key = `k${next() % 5_000}`;
      if (next() % 100 < (filling ? 70 : 2)) {
        t.set(key, step);
        ref.set(key, step);
      } else {
        expect(t.delete(key)).toBe(ref.delete(key));
      }
      capacities.add(t.capacity);
      grewTo = Math.max(grewTo, t.capacity);
      if (t.capacity < grewTo) shrankAfterGrowing = true;
      if (step % 997 === 0) {
        expect(t.size).toBe(ref.size);
        for (const [k, v] of ref) expect(t.get(k)).toBe(v);
      }
    }
    expect(grewTo).toBeGreaterThanOrEqual(8192);
    expect(shrankAfterGrowing).toBe(true);
    expect(capacities.has(1024)).toBe(true);
    for (let i = 0; i < 5_000; i++) expect(t.get(`k${i}`)).toBe(ref.get(`k${i}`));
  });

  it('keeps every key of a run that wraps past the last slot findable as its entries are removed', () => {
    const seed = 31337;
    // four keys at home in the last slot (they fill 1023, 0, 1, 2) and two at home in slot 0 (3, 4)
    const last = keysAt(1023, 4, seed, 'last');
    const first = keysAt(0, 2, seed, 'first');
    const all = [...last, ...first];
    for (const order of [all, [...all].reverse(), [last[0], first[0], last[2], first[1], last[1], last[3]]]) {
      const t = new LiveTable<string>(seed);
      for (const k of all) t.set(k, k);
      const left = new Set(all);
      for (const k of order) {
        expect(t.delete(k)).toBe(true);
        left.delete(k);
        for (const other of all) expect(t.get(other)).toBe(left.has(other) ? other : undefined);
        expect(t.size).toBe(left.size);
      }
    }
  });

  it('lets go of removed values: nothing in the table keeps them alive, also after it grew and shrank', async () => {
    // `gc` from a fresh context once the flag that exposes it is set (V8 puts it on contexts made
    // afterwards); a FinalizationRegistry hears of each value collected
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    let collected = 0;
    const registry = new FinalizationRegistry(() => {
      collected++;
    });
    const seed = 5150;
    const t = new LiveTable<object>(seed);
    // clusters where deletions shift entries: 40 keys at home in each of 10 slots next to each
    // other, and 700 more, so that the table grows (past 512) and shrinks again (under 256 of 2,048)
    const keys = [...Array.from({ length: 10 }, (_, i) => keysAt(500 + i, 40, seed, `c${i}-`)).flat(), ...Array.from({ length: 700 }, (_, i) => `other${i}`)];
    (() => {
      for (const k of keys) {
        const value = { k, pad: new Array(100).fill(0) };
        registry.register(value, k);
        t.set(k, value);
      }
      // replaced values must go too
      for (const k of keys.slice(0, 50)) {
        const value = { k, replaced: true };
        registry.register(value, `${k}'`);
        t.set(k, value);
      }
    })();
    expect(t.capacity).toBe(4096);
    // removed in an order that is neither insertion order nor its reverse
    for (let i = 0; i < keys.length; i++) expect(t.delete(keys[(i * 7) % keys.length])).toBe(true);
    expect(t.size).toBe(0);
    expect(t.capacity).toBe(1024);
    const expected = keys.length + 50;
    for (let i = 0; i < 20 && collected < expected; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(collected).toBe(expected);
  });

  it('seeds its hash anew when keys are made to collide, and still finds every one', () => {
    // an attacker who knew the seed: 80 keys whose homes are the first two slots of the first
    // table (1,024 slots: the low 10 bits), one probe run past 64 slots
    const seed = 4242;
    const keys = [...keysAt(0, 40, seed, 'z9hG4bK'), ...keysAt(1, 40, seed, 'z9hG4bK')];
    const t = new LiveTable<string>(seed);
    for (const k of keys) t.set(k, k.toUpperCase());
    // once: under the new seed the keys no longer collide
    expect(t.reseeds).toBe(1);
    expect(t.size).toBe(80);
    expect(keys.every((k) => t.get(k) === k.toUpperCase())).toBe(true);
    for (const k of keys.slice(0, 40)) expect(t.delete(k)).toBe(true);
    expect(keys.slice(40).every((k) => t.get(k) === k.toUpperCase())).toBe(true);
    expect(keys.slice(0, 40).some((k) => t.has(k))).toBe(false);
  });
});
