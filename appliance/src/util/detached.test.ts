import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { detached, detachedOrNull } from './detached.js';

/** A full collection, from a test: --expose-gc set at run time, `gc` taken from a fresh context. */
function collect(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Heap growth (bytes) while `keep` holds one value cut from each of 400 texts of 100 kB. */
function heldBy(cut: (value: string) => string): number {
  collect();
  const before = process.memoryUsage().heapUsed;
  const keep: string[] = [];
  for (let i = 0; i < 400; i++) {
    const head = `${String(i).padStart(6, '0')};`.repeat(14_000) + `Call-ID: ${i}-${'c'.repeat(50)}\r\n`;
    keep.push(cut(head.slice(head.lastIndexOf('Call-ID: ') + 9, head.length - 2)));
  }
  collect();
  const grown = process.memoryUsage().heapUsed - before;
  expect(keep).toHaveLength(400);
  return grown;
}

describe('detached strings', () => {
  it('is the same text, whatever its length', () => {
    const head = `MESSAGE sip:bob@example.test SIP/2.0\r\nCall-ID: ${'a'.repeat(40)}@host\r\n`;
    const callId = head.slice(head.indexOf('Call-ID: ') + 9, head.length - 2);
    expect(detached(callId)).toBe(callId);
    expect(detached('short')).toBe('short');
    expect(detached('')).toBe('');
    expect(detachedOrNull(null)).toBeNull();
    expect(detachedOrNull(callId)).toBe(callId);
  });

  it('does not keep the text it was cut from alive, where a plain slice does', () => {
    // 400 texts of ~100 kB: held through their slices that is ~40 MB, detached a few kB
    expect(heldBy((v) => v)).toBeGreaterThan(30_000_000);
    expect(heldBy(detached)).toBeLessThan(2_000_000);
  });
});
