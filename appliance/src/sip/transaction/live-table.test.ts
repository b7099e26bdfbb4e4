import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { LiveTable } from './live-table.js';
import { seededHash } from './completed-responses.js';

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
    // a small key space under a fixed seed, so that probe runs are long and deletions shift often
    let x = 7;
    const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8;
    const t = new LiveTable<number>(99);
    const ref = new Map<string, number>();
    let peak = 0;
    for (let step = 0; step < 60_000; step++) {
      // phases: a burst that fills past the first table, then a drain that lets it shrink again
      const filling = step % 20_000 < 12_000;
      const key = `k${next() % 5_000}`;
      if (next() % 10 < (filling ? 7 : 2)) {
        t.set(key, step);
        ref.set(key, step);
      } else {
        expect(t.delete(key)).toBe(ref.delete(key));
      }
      peak = Math.max(peak, ref.size);
      if (step % 997 === 0) {
        expect(t.size).toBe(ref.size);
        for (const [k, v] of ref) expect(t.get(k)).toBe(v);
      }
    }
    expect(peak).toBeGreaterThan(2_000);
    for (let i = 0; i < 5_000; i++) expect(t.get(`k${i}`)).toBe(ref.get(`k${i}`));
    for (const k of [...ref.keys()]) t.delete(k);
    expect(t.size).toBe(0);
  });

  it('lets go of a removed value: nothing in the table keeps it alive', async () => {
    // a FinalizationRegistry hears of the value once collected; `gc` from a fresh context once
    // the flag that exposes it is set (V8 puts it on contexts made afterwards)
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const t = new LiveTable<object>();
    let collected = false;
    const registry = new FinalizationRegistry(() => {
      collected = true;
    });
    (() => {
      const value = { big: new Array(1000).fill(0) };
      registry.register(value, 'v');
      t.set('k', value);
      // many other keys, so that the removed one's slot is reused and shifted around
      for (let i = 0; i < 100; i++) t.set(`o${i}`, {});
      t.delete('k');
    })();
    expect(t.get('k')).toBeUndefined();
    for (let i = 0; i < 10 && !collected; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(collected).toBe(true);
  });

  it('seeds its hash anew when keys are made to collide, and still finds every one', () => {
    // an attacker who knew the seed: 80 keys whose homes are the first two slots of the first
    // table (1,024 slots: the low 10 bits), one probe run past 64 slots
    const seed = 4242;
    const keys: string[] = [];
    for (let i = 0; keys.length < 80; i++) {
      const key = `z9hG4bK${i}|MESSAGE`;
      if ((seededHash(key, seed) & 0x3ff) < 2) keys.push(key);
    }
    const t = new LiveTable<string>(seed);
    for (const k of keys) t.set(k, k.toUpperCase());
    expect(t.reseeds).toBeGreaterThan(0);
    expect(t.size).toBe(80);
    expect(keys.every((k) => t.get(k) === k.toUpperCase())).toBe(true);
    for (const k of keys.slice(0, 40)) expect(t.delete(k)).toBe(true);
    expect(keys.slice(40).every((k) => t.get(k) === k.toUpperCase())).toBe(true);
    expect(keys.slice(0, 40).some((k) => t.has(k))).toBe(false);
  });
});
