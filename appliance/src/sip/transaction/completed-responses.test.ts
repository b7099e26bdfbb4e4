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

describe('completed responses, held outside the heap', () => {
  it('matches a model Map through growth, holds again, expiry and chunk changes', () => {
    // a deterministic stream: keys held, some held again, swept as time passes; checked against a Map
    const c = new CompletedResponses(1000);
    const model = new Map<string, { data: string; port: number; expires: number }>();
    let seed = 7;
    const random = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let t = 0; t < 60_000; t++) {
      // about 2,000 live keys at any time, bodies up to 3 kB so records cross chunk boundaries
      const key = random(10) === 0 && t > 10 ? `z9hG4bK${t - 1 - random(10)}|10.0.0.1:5060|MESSAGE|c|1` : `z9hG4bK${t}|10.0.0.1:5060|MESSAGE|c|1`;
      const data = `SIP/2.0 200 OK ${t} ${'x'.repeat(random(3000))}`;
      const port = 1024 + random(60_000);
      c.hold(key, key.slice(0, key.indexOf('|')), Buffer.from(data), { transport: 'UDP', address: '10.0.0.2', port }, t / 2);
      model.set(key, { data, port, expires: t / 2 + 1000 });
      if (t % 97 === 0) {
        c.sweep(t / 2);
        for (const [k, v] of model) if (v.expires <= t / 2) model.delete(k);
        expect(c.size).toBe(model.size);
      }
      if (t % 1013 === 0) {
        const wrong: string[] = [];
        for (const [k, v] of model) {
          const held = c.get(k);
          if (held?.data.toString() !== v.data || held.dest.port !== v.port || held.dest.address !== '10.0.0.2' || held.dest.transport !== 'UDP') wrong.push(k);
          if (!c.mayHoldBranch(k.slice(0, k.indexOf('|')))) wrong.push(`branch of ${k}`);
          if (!c.has(k)) wrong.push(`has ${k}`);
        }
        expect(wrong).toEqual([]);
        expect(c.get(`z9hG4bK${t + 1}|10.0.0.1:5060|MESSAGE|c|1`)).toBeUndefined();
        expect(c.has(`z9hG4bK${t + 1}|10.0.0.1:5060|MESSAGE|c|1`)).toBe(false);
      }
    }
    c.clear();
    expect(c.size).toBe(0);
  });

  it('tells keys apart whose hashes may meet, and keys beyond Latin-1', () => {
    const c = new CompletedResponses(32_000);
    const keys = ['a|1', 'a|2', 'b|1', 'ü|1', '€|1', 'z9hG4bK😀|1'];
    keys.forEach((k, i) => c.hold(k, k.slice(0, k.indexOf('|')), Buffer.from(`r${i}`), { ...dest, address: '::1' }, 0));
    keys.forEach((k, i) => {
      expect(c.get(k)?.data.toString()).toBe(`r${i}`);
      expect(c.get(k)?.dest.address).toBe('::1');
    });
    expect(c.get('€|2')).toBeUndefined();
    expect(c.get('a|')).toBeUndefined();
    c.clear();
  });

  it('says no for branches it never held, nearly always', () => {
    const c = new CompletedResponses(32_000);
    for (let i = 0; i < 50_000; i++) c.hold(`z9hG4bKheld${i}|h:1|MESSAGE|c|1`, `z9hG4bKheld${i}`, Buffer.from('x'), dest, 0);
    let yes = 0;
    for (let i = 0; i < 50_000; i++) if (c.mayHoldBranch(`z9hG4bKother${i}`)) yes++;
    expect(yes / 50_000).toBeLessThan(0.06);
    c.clear();
  });

  it('keeps a response it gave out intact after its record expired', () => {
    const c = new CompletedResponses(10);
    c.hold('k', null, Buffer.from('the answer'), dest, 0);
    const held = c.get('k')!;
    c.sweep(10);
    for (let i = 0; i < 3000; i++) c.hold(`n${i}`, null, Buffer.alloc(1000, 0x41), dest, 20);
    expect(held.data.toString()).toBe('the answer');
    c.clear();
  });
});
