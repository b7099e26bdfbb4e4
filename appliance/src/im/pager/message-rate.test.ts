import { describe, expect, it } from 'vitest';
import { MessageRate } from './message-rate.js';

describe('MessageRate: the last hour per minute', () => {
  it('counts per minute, forgets minutes over an hour old, and reads 60 slots oldest first', () => {
    const r = new MessageRate();
    const t0 = Date.UTC(2026, 0, 1, 10, 0, 30);
    r.count(t0);
    r.count(t0 + 10_000);
    r.count(t0 + 60_000);
    let hour = r.lastHour(t0 + 60_000);
    expect(hour).toHaveLength(60);
    expect(hour.at(-1)).toEqual({ minute: '2026-01-01T10:01:00.000Z', count: 1 });
    expect(hour.at(-2)).toEqual({ minute: '2026-01-01T10:00:00.000Z', count: 2 });
    // an hour later the 10:00 slot is reused: the old count must not show
    r.count(t0 + 3600_000);
    hour = r.lastHour(t0 + 3600_000);
    expect(hour.at(-1)).toEqual({ minute: '2026-01-01T11:00:00.000Z', count: 1 });
    expect(hour.reduce((n, m) => n + m.count, 0)).toBe(2);
  });
});
