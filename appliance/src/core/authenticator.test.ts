import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Authenticator } from './authenticator.js';
import { LoginThrottle } from './login-throttle.js';
import type { UserDirectory } from './user-directory.js';

function authenticator(maxTrackedNonces: number): Authenticator {
  return new Authenticator(
    {} as UserDirectory,
    { realm: 'parley.test', algorithms: ['SHA-256', 'MD5'], offerAllTo: [/^Linphone/], nonceLifetime: 300, maxTrackedNonces },
    new LoginThrottle({ window: 300, perSourceAndUser: 1000, perSource: 1000, perUser: 1000, blockFor: 1, maxBlock: 1 }),
    pino({ level: 'silent' }),
  );
}

const nonceOf = (value: string) => /nonce="([^"]+)"/.exec(value)![1];

describe('Authenticator.challengeAgain: a retransmitted request challenged again (AtOnceMemo)', () => {
  it('gives the same challenge for the serial it gave, while the nonce table holds it', () => {
    const auth = authenticator(100);
    const first = auth.challengeAgain(null, 'Linphone/5.2');
    // both algorithms for a client that chooses, one nonce for both (RFC 8760)
    expect(first.values.map((v) => /algorithm=([\w-]+)/.exec(v)![1])).toEqual(['SHA-256', 'MD5']);
    expect(new Set(first.values.map(nonceOf)).size).toBe(1);
    expect(auth.challengeAgain(first.serial, 'Linphone/5.2')).toEqual(first);
    // a fresh request gets another nonce
    const other = auth.challengeAgain(null, 'Linphone/5.2');
    expect(other.serial).not.toBe(first.serial);
    expect(nonceOf(other.values[0])).not.toBe(nonceOf(first.values[0]));
  });

  it('makes a new nonce once the old one has been pushed out of the table', () => {
    const auth = authenticator(4);
    const first = auth.challengeAgain(null, undefined);
    for (let i = 0; i < 4; i++) auth.challengeAgain(null, undefined);
    const again = auth.challengeAgain(first.serial, undefined);
    expect(again.serial).not.toBe(first.serial);
    expect(nonceOf(again.values[0])).not.toBe(nonceOf(first.values[0]));
    expect(again.values).toHaveLength(1);
  });
});
