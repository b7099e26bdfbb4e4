import { describe, expect, it } from 'vitest';
import { CompletedResponses, seededHash } from './completed-responses.js';

const dest = { transport: 'UDP' as const, address: '127.0.0.1', port: 5070 };

describe('completed responses (Timer J without a transaction each)', () => {
  it('answers retransmissions until 64 × T1 has passed, then forgets, in order', () => {
    const c = new CompletedResponses(32_000);
    c.hold('a', false, Buffer.from('200 a'), dest, 0);
    c.hold('b', false, Buffer.from('200 b'), dest, 10_000);
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
    c.hold('z9hG4bKa|127.0.0.1:5070|MESSAGE|c1|1', true, Buffer.from('200 a'), dest, 0);
    expect(c.mayHoldBranch('z9hG4bKa')).toBe(true);
    expect(c.mayHoldBranch('z9hG4bKb')).toBe(false);
    c.sweep(32_000);
    expect(c.mayHoldBranch('z9hG4bKa')).toBe(false);
    c.clear();
  });

  it('stays compact under a steady stream', () => {
    const c = new CompletedResponses(1000);
    for (let t = 0; t < 100_000; t++) {
      c.hold(`k${t}`, false, Buffer.alloc(1), dest, t);
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
      c.hold(key, true, Buffer.from(data), { transport: 'UDP', address: '10.0.0.2', port }, t / 2);
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
    keys.forEach((k, i) => c.hold(k, true, Buffer.from(`r${i}`), { ...dest, address: '::1' }, 0));
    keys.forEach((k, i) => {
      expect(c.get(k)?.data.toString()).toBe(`r${i}`);
      expect(c.get(k)?.dest.address).toBe('::1');
    });
    expect(c.get('€|2')).toBeUndefined();
    expect(c.get('a|')).toBeUndefined();
    c.clear();
  });

  it('knows the branch of a key whose first character past Latin-1 comes after the branch', () => {
    const c = new CompletedResponses(32_000);
    // the one-pass write stops at '€' with the branch hashed already: it is hashed again as UTF-16
    c.hold('z9hG4bKa|192.0.2.1:5060|MESSAGE|c€|1', true, Buffer.from('late wide'), dest, 0);
    c.hold('z9hG4bKb|192.0.2.1:5060|MESSAGE|c|1', true, Buffer.from('plain'), dest, 0);
    expect(c.mayHoldBranch('z9hG4bKa')).toBe(true);
    expect(c.mayHoldBranch('z9hG4bKb')).toBe(true);
    expect(c.get('z9hG4bKa|192.0.2.1:5060|MESSAGE|c€|1')?.data.toString()).toBe('late wide');
    expect(c.get('z9hG4bKb|192.0.2.1:5060|MESSAGE|c|1')?.data.toString()).toBe('plain');
    c.clear();
  });

  it('says no for branches it never held, nearly always', () => {
    const c = new CompletedResponses(32_000);
    for (let i = 0; i < 50_000; i++) c.hold(`z9hG4bKheld${i}|h:1|MESSAGE|c|1`, true, Buffer.from('x'), dest, 0);
    let yes = 0;
    for (let i = 0; i < 50_000; i++) if (c.mayHoldBranch(`z9hG4bKother${i}`)) yes++;
    expect(yes / 50_000).toBeLessThan(0.06);
    c.clear();
  });

  it('says no for most branches it never held with a million held (15,000 calls/s for Timer J)', () => {
    const c = new CompletedResponses(32_000);
    const one = Buffer.from('x');
    for (let i = 0; i < 1_000_000; i++) c.hold(`z9hG4bKheld${i}|h:1|MESSAGE|c|1`, true, one, dest, 0);
    let yes = 0;
    for (let i = 0; i < 50_000; i++) if (c.mayHoldBranch(`z9hG4bKother${i}`)) yes++;
    // about one in twenty; two in five with session 30's filter (2^21 positions anywhere)
    expect(yes / 50_000).toBeLessThan(0.08);
    c.clear();
  });

  it('gives out a copy of a response, not a view that keeps its chunk', () => {
    const c = new CompletedResponses(10);
    c.hold('k', false, Buffer.from('the answer'), dest, 0);
    const held = c.get('k')!;
    expect(held.data.buffer.byteLength).toBeLessThan(1 << 20);
    expect(held.data.toString()).toBe('the answer');
    c.clear();
  });

  it('tells apart keys whose hashes are equal', () => {
    // two keys with one hash under a fixed seed, found by the birthday search
    const seed = 12345;
    const suffix = '|10.0.0.1:5060|MESSAGE|c|1';
    const seen = new Map<number, string>();
    let pair: [string, string] | null = null;
    // of one length, so that only the bytes can tell them apart
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let x = 1;
    const letter = () => alphabet[((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 16) % alphabet.length];
    for (let i = 0; pair === null && i < 400_000; i++) {
      const key = `z9hG4bK${Array.from({ length: 8 }, letter).join('')}${suffix}`;
      const h = seededHash(key, seed);
      const other = seen.get(h);
      if (other !== undefined) pair = [other, key];
      else seen.set(h, key);
    }
    expect(pair).not.toBeNull();
    const [a, b] = pair!;
    const c = new CompletedResponses(1000, seed);
    c.hold(a, true, Buffer.from('A'), dest, 0);
    c.hold(b, true, Buffer.from('B'), dest, 500);
    expect(c.size).toBe(2);
    expect(c.get(a)?.data.toString()).toBe('A');
    expect(c.get(b)?.data.toString()).toBe('B');
    c.sweep(1000);
    expect(c.get(a)).toBeUndefined();
    expect(c.get(b)?.data.toString()).toBe('B');
    c.clear();
  });

  it('seeds its hash anew when keys are made to collide, and still finds every one', () => {
    // an attacker who knew the seed: 140 keys of one index table (the hash's top 8 bits), which
    // then has 512 slots, whose homes are its first four (low 9 bits): one run, past 128 probes
    const seed = 777;
    const keys: string[] = [];
    for (let i = 0; keys.length < 140; i++) {
      const key = `b${i}|x`;
      const h = seededHash(key, seed);
      if (h >>> 24 === 0 && (h & 0x1ff) < 4) keys.push(key);
    }
    const c = new CompletedResponses(32_000, seed);
    // and one key beyond Latin-1, held before them, hashed again from its UTF-16 bytes
    c.hold('z9hG4bKü€|192.0.2.1:5060|MESSAGE|x|1', true, Buffer.from('wide'), dest, 0);
    keys.forEach((k, i) => c.hold(k, true, Buffer.from(`r${i}`), dest, 0));
    expect(c.reseeds).toBeGreaterThan(0);
    expect(c.get('z9hG4bKü€|192.0.2.1:5060|MESSAGE|x|1')?.data.toString()).toBe('wide');
    expect(c.mayHoldBranch('z9hG4bKü€')).toBe(true);
    expect(keys.every((k, i) => c.get(k)?.data.toString() === `r${i}`)).toBe(true);
    expect(keys.every((k) => c.mayHoldBranch(k.slice(0, k.indexOf('|'))))).toBe(true);
    c.clear();
  });

  it('moves the branch count with a key held again, and forgets a key whose new response is too large', () => {
    const c = new CompletedResponses(1000);
    c.hold('B1|x', true, Buffer.from('1'), dest, 0);
    c.hold('B1|x', true, Buffer.from('2'), dest, 10);
    c.hold('B2|y', true, Buffer.from('3'), dest, 20);
    c.sweep(1005);
    expect(c.mayHoldBranch('B1')).toBe(true);
    expect(c.get('B1|x')?.data.toString()).toBe('2');
    c.sweep(1010);
    expect(c.mayHoldBranch('B1')).toBe(false);
    expect(c.mayHoldBranch('B2')).toBe(true);
    c.hold('B2|y', true, Buffer.alloc(1 << 20), dest, 30);
    expect(c.get('B2|y')).toBeUndefined();
    expect(c.mayHoldBranch('B2')).toBe(false);
    expect(c.size).toBe(0);
    c.clear();
  });

  it('writes into chunks it let go of rather than fresh memory, and reads back what it wrote there', () => {
    const c = new CompletedResponses(1000);
    const tables = c as unknown as { chunks: Buffer[] };
    const body = (t: number): Buffer => Buffer.alloc(10_000, t % 251);
    // 104 records a chunk: the first holds t = 0…103, and is let go of once they have expired
    for (let t = 0; t < 150; t++) c.hold(`k${t}`, false, body(t), dest, t);
    const first = tables.chunks[0];
    c.sweep(1110);
    expect(tables.chunks.includes(first)).toBe(false);
    for (let t = 150; t < 260; t++) c.hold(`k${t}`, false, body(t), dest, t);
    expect(tables.chunks.includes(first)).toBe(true);
    for (const t of [150, 205, 259]) expect(c.get(`k${t}`)?.data.equals(body(t))).toBe(true);
    c.clear();
  });

  it('keeps at most eight chunks for reuse, and none once everything is let go of', () => {
    const c = new CompletedResponses(1000);
    const tables = c as unknown as { chunks: Buffer[]; spare: Buffer[] };
    // ~12 chunks of records at t < 1000, all expired together while the next one is held
    for (let t = 0; t < 1200; t++) c.hold(`k${t}`, false, Buffer.alloc(10_000), dest, t < 1200 - 1 ? 0 : 500);
    c.sweep(1000);
    expect(c.size).toBe(1);
    expect(tables.spare.length).toBe(8);
    c.sweep(1500);
    expect(c.size).toBe(0);
    expect(tables.spare.length).toBe(0);
    c.clear();
  });

  it('goes back to its first sizes when everything is let go of', () => {
    const c = new CompletedResponses(10);
    for (let i = 0; i < 40_000; i++) c.hold(`k${i}`, false, Buffer.from('x'), dest, 0);
    const tables = c as unknown as { shards: { size: number }[]; blocks: unknown[]; chunks: Buffer[] };
    expect(tables.blocks.length).toBe(3);
    c.sweep(10);
    expect(c.size).toBe(0);
    expect(tables.shards.every((t) => t.size === 16)).toBe(true);
    expect(tables.blocks.length).toBe(0);
    expect(tables.chunks.length).toBe(0);
    c.hold('again', false, Buffer.from('y'), dest, 20);
    expect(c.get('again')?.data.toString()).toBe('y');
    c.clear();
  });

  it('grows by parts: a hold grows at most one index table, and records stay in the block they were written to', () => {
    const c = new CompletedResponses(1000);
    const tables = c as unknown as { shards: { size: number; live: number }[]; blocks: unknown[] };
    c.hold('k0', false, Buffer.from('x'), dest, 0);
    const firstBlock = tables.blocks[0];
    for (let i = 1; i < 33_000; i++) {
      const before = [...tables.shards];
      c.hold(`k${i}`, false, Buffer.from('x'), dest, 0);
      expect(tables.shards.filter((t, s) => t !== before[s]).length).toBeLessThanOrEqual(1);
    }
    expect(tables.blocks[0]).toBe(firstBlock);
    // every table at most half full, and grown only as far as its own keys needed
    expect(tables.shards.every((t) => 2 * t.live <= t.size && t.size <= 4 * Math.max(8, t.live))).toBe(true);
    expect(new Set(tables.shards.map((t) => t.size)).size).toBeGreaterThan(1);
    expect([0, 11_000, 22_000, 32_999].every((i) => c.get(`k${i}`)?.data.toString() === 'x')).toBe(true);
    c.sweep(1000);
    expect(c.size).toBe(0);
    c.clear();
  });
});
