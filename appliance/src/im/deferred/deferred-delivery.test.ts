import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SipStack } from '../../sip/stack.js';
import type { LocationService } from '../../core/location-service.js';
import type { LocalDomain } from '../../core/local-domain.js';
import type { Logger } from '../../log.js';
import type { DeferredStore, StoredMessage } from './deferred-store.js';
import { DeferredDelivery } from './deferred-delivery.js';

/** the store's read of a user's oldest messages, as the fakes below give it */
type Oldest = (user: string, limit: number, after: number) => Promise<StoredMessage[]>;

const domain = { aor: (u: string) => `sip:${u}@parley.test` } as unknown as LocalDomain;
const OPTIONS = { retryMinSec: 1, retryMaxSec: 600, timeoutMs: 8000 };
/** a logger whose errors the test reads */
const logWith = (error: ReturnType<typeof vi.fn>) => ({ error, warn: vi.fn(), info: vi.fn(), debug: vi.fn() }) as unknown as Logger;

// A delivery run that throws (its store unreadable for a while) must be tried again on its own:
// before, a registered user's messages waited for their next REGISTER.
describe('deferred delivery after a run that threw (P2)', () => {
  let oldest: ReturnType<typeof vi.fn<Oldest>>;
  let error: ReturnType<typeof vi.fn>;
  let delivery: DeferredDelivery;

  beforeEach(() => {
    vi.useFakeTimers();
    oldest = vi.fn<Oldest>();
    error = vi.fn();
    const store = { pendingFor: () => 1, recipients: [], oldest, removeMany: async () => undefined } as unknown as DeferredStore;
    // nobody online: a run that reads the store ends at its first message, waiting for a REGISTER
    const location = { lookup: () => [] } as unknown as LocationService;
    delivery = new DeferredDelivery({} as SipStack, store, location, domain, OPTIONS, logWith(error));
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

  it('does not retry a run that throws because the appliance is stopping', async () => {
    let fail!: (err: Error) => void;
    oldest.mockReturnValueOnce(new Promise((_, reject) => (fail = reject))).mockResolvedValue([]);
    delivery.onRegistered('carol');
    delivery.stop();
    fail(new Error('SQLITE_MISUSE: Database is closed'));
    await vi.advanceTimersByTimeAsync(600_000);
    expect(oldest).toHaveBeenCalledTimes(1);
    expect(error).not.toHaveBeenCalled();
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

// The pushes in flight when a store read throws: the run waits for them, and nothing of theirs
// goes on beside its retry.
describe('deferred delivery when a store read throws during pushes (P2)', () => {
  afterEach(() => vi.useRealTimers());

  it('stops the other pushers, removes what they delivered, and throws only once they have ended', async () => {
    vi.useFakeTimers();
    const stored = (id: number): StoredMessage => ({
      id, recipient: 'carol', fromHeader: '<sip:alice@parley.test>;tag=a', senderAor: 'sip:alice@parley.test', contentType: 'text/plain',
      body: Buffer.from(`m${id}`), receivedAt: 0, expiresAt: Number.MAX_SAFE_INTEGER, attempts: 0, nextAttemptAt: 0, callId: `c${id}`,
    });
    // the first read gives one message (less than a batch: nothing is read ahead); the next one,
    // made by a second pusher while the first waits for its answer, fails
    const oldest = vi.fn<Oldest>()
      .mockResolvedValueOnce([stored(1)]).mockRejectedValueOnce(new Error('SQLITE_BUSY: database is locked')).mockResolvedValue([]);
    const removed: number[][] = [];
    const store = { pendingFor: () => 1, recipients: [], oldest, removeMany: async (ms: StoredMessage[]) => void removed.push(ms.map((m) => m.id)) } as unknown as DeferredStore;
    const binding = { aor: 'sip:carol@parley.test', contactUri: 'sip:carol@127.0.0.1:5999', transport: 'UDP', sourceAddress: '127.0.0.1', sourcePort: 5999, flowId: 'udp:127.0.0.1:5999' };
    const location = { lookup: () => [binding] } as unknown as LocationService;
    const answers: ((res: { status: number }) => void)[] = [];
    const stack = {
      newId: () => 'id',
      advertisedHost: 'parley.test',
      userAgent: null,
      timerQueues: { start: () => 0, stop: () => undefined },
      sendRequest: (_req: unknown, _dest: unknown, on: { onFinal: (res: { status: number }) => void }) => (answers.push(on.onFinal), {}),
    } as unknown as SipStack;
    const error = vi.fn();
    const delivery = new DeferredDelivery(stack, store, location, domain, OPTIONS, logWith(error));
    delivery.onRegistered('carol');
    await vi.advanceTimersByTimeAsync(0);
    // message 1 is out, its answer not yet in; the read after it has failed
    expect(answers).toHaveLength(1);
    expect(oldest).toHaveBeenCalledTimes(2);
    expect(error).not.toHaveBeenCalled();
    answers[0]({ status: 200 });
    await vi.advanceTimersByTimeAsync(0);
    // its pusher read nothing more and pushed nothing more; message 1 was removed before the run threw
    expect(oldest).toHaveBeenCalledTimes(2);
    expect(answers).toHaveLength(1);
    expect(removed.flat()).toEqual([1]);
    expect(error).toHaveBeenCalledTimes(1);
    // and the retry reads from the first again
    await vi.advanceTimersByTimeAsync(1000);
    expect(oldest).toHaveBeenCalledTimes(3);
    expect(oldest.mock.calls[2][2]).toBe(0);
    delivery.stop();
  });
});
