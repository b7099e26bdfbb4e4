import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { Logger } from '../../log.js';
import { ConnectionGuard, type GuardedConnection, type GuardReason } from './connection-guard.js';

const LIMITS = { idleTimeout: 120, messageTimeout: 10, maxPerSource: 2, max: 3 };

/** A logger that keeps its warn lines. */
function capturingLog(): { log: Logger; warnings: Record<string, unknown>[] } {
  const warnings: Record<string, unknown>[] = [];
  const log: Logger = pino({ level: 'silent' });
  log.warn = ((obj: Record<string, unknown>) => warnings.push(obj)) as typeof log.warn;
  return { log, warnings };
}

function connection(id: string, lastActivity: number, messageStartedAt: number | null = null): GuardedConnection & { closedFor: GuardReason | null } {
  return {
    id,
    lastActivity,
    messageStartedAt,
    closedFor: null,
    close(reason) {
      this.closedFor = reason;
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ConnectionGuard', () => {
  it('caps connections per source address and in all, and frees a place on release', () => {
    const guard = new ConnectionGuard(LIMITS, pino({ level: 'silent' }));
    expect([guard.admit('10.0.0.1'), guard.admit('10.0.0.1'), guard.admit('10.0.0.1')]).toEqual([true, true, false]);
    expect([guard.admit('10.0.0.2'), guard.admit('10.0.0.3')]).toEqual([true, false]);
    expect(guard.count()).toBe(3);
    guard.release('10.0.0.1');
    expect([guard.fits('10.0.0.3'), guard.admit('10.0.0.1'), guard.count('10.0.0.1')]).toEqual([true, true, 2]);
    // a release that was never admitted changes nothing
    guard.release('10.9.9.9');
    expect(guard.count()).toBe(3);
  });

  it('logs refusals once per source per minute, with how many were refused', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { log, warnings } = capturingLog();
    const guard = new ConnectionGuard({ ...LIMITS, maxPerSource: 1 }, log);
    guard.admit('10.0.0.1');
    for (let i = 0; i < 50; i++) guard.admit('10.0.0.1');
    guard.admit('10.0.0.2');
    guard.admit('10.0.0.2');
    expect(warnings.map((w) => [w.source, w.refused])).toEqual([['10.0.0.1', 1], ['10.0.0.2', 1]]);
    vi.setSystemTime(1_000_000 + 60_000);
    guard.sweep();
    // the 49 refused after the first line are reported when the minute is over
    expect(warnings.slice(2).map((w) => [w.source, w.refused])).toEqual([['10.0.0.1', 49]]);
    guard.admit('10.0.0.1');
    expect(warnings.slice(3).map((w) => [w.source, w.refused])).toEqual([['10.0.0.1', 1]]);
  });

  it('closes a connection idle for idleTimeout unless the core still uses it', () => {
    const guard = new ConnectionGuard(LIMITS, pino({ level: 'silent' }));
    const idle = connection('tcp:10.0.0.1:1', 0);
    const registered = connection('tcp:10.0.0.1:2', 0);
    const busy = connection('tcp:10.0.0.1:3', 100_000);
    for (const c of [idle, registered, busy]) guard.track(c);
    const asked: string[] = [];
    guard.inUse = (flowId) => {
      asked.push(flowId);
      return flowId === registered.id;
    };
    guard.sweep(119_999);
    expect([idle.closedFor, registered.closedFor, busy.closedFor]).toEqual([null, null, null]);
    guard.sweep(120_000);
    expect([idle.closedFor, registered.closedFor, busy.closedFor]).toEqual(['idle', null, null]);
    // the registered flow is asked about again only after another idle period, then closed once unused
    guard.inUse = () => false;
    guard.sweep(200_000);
    expect(registered.closedFor).toBe(null);
    guard.sweep(240_000);
    expect([registered.closedFor, busy.closedFor]).toEqual(['idle', 'idle']);
    expect(asked).toEqual([idle.id, registered.id]);
  });

  it('closes a connection whose message is not complete within messageTimeout, however busy', () => {
    const guard = new ConnectionGuard(LIMITS, pino({ level: 'silent' }));
    const slow = connection('tcp:10.0.0.1:1', 9_999, 0);
    const fine = connection('tcp:10.0.0.1:2', 9_999, 5_000);
    guard.track(slow);
    guard.track(fine);
    guard.inUse = () => true;
    guard.sweep(10_000);
    expect([slow.closedFor, fine.closedFor]).toEqual(['message timeout', null]);
  });
});
