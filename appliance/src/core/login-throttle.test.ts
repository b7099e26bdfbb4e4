import { describe, expect, it } from 'vitest';
import { LoginThrottle, sourceKey } from './login-throttle.js';

const OPTS = { window: 300, perSourceAndUser: 5, perSource: 30, perUser: 10, blockFor: 30, maxBlock: 900 };

describe('login throttle', () => {
  it('blocks one user from one address after perSourceAndUser failures, doubling on repeats', () => {
    const t = new LoginThrottle(OPTS);
    let now = 1_000_000;
    for (let i = 0; i < 4; i++) expect(t.failed('bob', '10.0.0.1', now)).toBe(0);
    expect(t.failed('bob', '10.0.0.1', now)).toBe(30);
    expect(t.retryAfter('bob', '10.0.0.1', now)).toBe(30);
    expect(t.retryAfter('bob', '10.0.0.2', now)).toBe(0);
    expect(t.retryAfter('carol', '10.0.0.1', now)).toBe(0);
    now += 31_000;
    expect(t.retryAfter('bob', '10.0.0.1', now)).toBe(0);
    for (let i = 0; i < 4; i++) t.failed('bob', '10.0.0.1', now);
    expect(t.failed('bob', '10.0.0.1', now)).toBe(60);
  });

  it('lets a success reset the pair', () => {
    const t = new LoginThrottle(OPTS);
    for (let i = 0; i < 4; i++) t.failed('bob', '10.0.0.1', 0);
    t.succeeded('bob', '10.0.0.1', 0);
    expect(t.failed('bob', '10.0.0.1', 0)).toBe(0);
  });

  it('blocks an address that fails for many names', () => {
    const t = new LoginThrottle(OPTS);
    for (let i = 0; i < 29; i++) expect(t.failed(`u${i}`, '10.0.0.9', 0)).toBe(0);
    expect(t.failed('u29', '10.0.0.9', 0)).toBe(30);
    expect(t.retryAfter('anyone', '10.0.0.9', 0)).toBe(30);
  });

  it('under attack, lets only known addresses try for that user', () => {
    const t = new LoginThrottle(OPTS);
    t.succeeded('walt', '192.0.2.7', 0);
    for (let i = 1; i <= 10; i++) t.failed('walt', `198.51.100.${i}`, 1000);
    expect(t.retryAfter('walt', '203.0.113.1', 1000)).toBeGreaterThan(0);
    expect(t.retryAfter('walt', '192.0.2.7', 1000)).toBe(0);
  });

  it('counts IPv6 sources by their /64', () => {
    expect(sourceKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('::1')).toBe('0:0:0:0::/64');
    expect(sourceKey('192.0.2.1')).toBe('192.0.2.1');
  });
});
