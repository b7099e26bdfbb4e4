import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SipStack } from '../../sip/stack.js';
import type { LocationService } from '../../core/location-service.js';
import type { LocalDomain } from '../../core/local-domain.js';
import type { Logger } from '../../log.js';
import type { DeferredStore, StoredMessage } from './deferred-store.js';
import { DeferredDelivery } from './deferred-delivery.js';

// A delivery run that throws (its store unreadable for a moment) must be tried again on its own:
// before, the user's messages waited for their next REGISTER (session 37).
describe('deferred delivery after a run that threw (P2)', () => {
  let oldest: ReturnType<typeof vi.fn<(user: string, limit: number, after: number) => Promise<StoredMessage[]>>>;
  let error: ReturnType<typeof vi.fn>;
  let delivery: DeferredDelivery;

  beforeEach(() => {
    vi.useFakeTimers();
    oldest = vi.fn<(user: string, limit: number, after: number) => Promise<StoredMessage[]>>();
    error = vi.fn();
    const store = { pendingFor: () => 1, recipients: [], oldest, removeMany: async () => undefined } as unknown as DeferredStore;
    // nobody online: a run that reads the store ends at its first message, waiting for a REGISTER
    const location = { lookup: () => [] } as unknown as LocationService;
    const domain = { aor: (u: string) => `sip:${u}@parley.test` } as unknown as LocalDomain;
    const log = { error, warn: vi.fn(), info: vi.fn() } as unknown as Logger;
    delivery = new DeferredDelivery({} as SipStack, store, location, domain, { retryMinSec: 1, retryMaxSec: 600, timeoutMs: 8000 }, log);
  });
  afterEach(() => {
    delivery.stop();
    vi.useRealTimers();
  });

  it('is tried again after deferred.retryMin, backing off while it keeps failing, and not again once a run ends', async () => {
    oldest.mockRejectedValueOnce(new Error('SQLITE_BUSY: database is locked')).mockRejectedValueOnce(new Error('SQLITE_BUSY: database is locked')).mockResolvedValue([]);
    delivery.onRegistered('carol');
    await vi.advanceTimersByTimeAsync(0);
    expect(oldest).toHaveBeenCalledTimes(1);
    expect(error).toHaveBeenCalledTimes(1);
    expect(error.mock.calls[0][0]).toMatchObject({ username: 'carol', failed: 1 });
    // retryMin (1 s) after the first
    await vi.advanceTimersByTimeAsync(999);
    expect(oldest).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(oldest).toHaveBeenCalledTimes(2);
    expect(error.mock.calls[1][0]).toMatchObject({ failed: 2 });
    // twice that after the second
    await vi.advanceTimersByTimeAsync(1999);
    expect(oldest).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(oldest).toHaveBeenCalledTimes(3);
    // that run read the store and ended: nothing more is scheduled
    await vi.advanceTimersByTimeAsync(600_000);
    expect(oldest).toHaveBeenCalledTimes(3);
    expect(error).toHaveBeenCalledTimes(2);
  });

  it('starts its back-off over once a run has ended', async () => {
    oldest.mockRejectedValueOnce(new Error('first')).mockResolvedValueOnce([]).mockRejectedValueOnce(new Error('again')).mockResolvedValue([]);
    delivery.onRegistered('carol');
    await vi.advanceTimersByTimeAsync(1000);
    expect(oldest).toHaveBeenCalledTimes(2);
    // a later REGISTER's run throws: its retry is retryMin away, not twice that
    delivery.onRegistered('carol');
    await vi.advanceTimersByTimeAsync(0);
    expect(oldest).toHaveBeenCalledTimes(3);
    expect(error.mock.calls[1][0]).toMatchObject({ failed: 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(oldest).toHaveBeenCalledTimes(4);
  });

  it('tries nothing more once stopped', async () => {
    oldest.mockRejectedValue(new Error('closed'));
    delivery.onRegistered('carol');
    await vi.advanceTimersByTimeAsync(0);
    expect(error).toHaveBeenCalledTimes(1);
    delivery.stop();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(oldest).toHaveBeenCalledTimes(1);
  });
});
