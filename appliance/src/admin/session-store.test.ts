import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempStore } from '../../../test/support/temp-store.js';
import { ConsoleAccounts } from './console-accounts.js';
import { SessionStore } from './session-store.js';

let store: Awaited<ReturnType<typeof tempStore>>;
let accounts: ConsoleAccounts;
let sessions: SessionStore;

beforeAll(async () => {
  store = await tempStore('sessions');
  accounts = new ConsoleAccounts(store.ds);
  sessions = new SessionStore(store.ds, { lifetime: 3600, idleTimeout: 600 });
  await accounts.add('ann', 'admin', 'ann-password-1');
});
afterAll(async () => {
  await store?.cleanup();
});

describe('console sessions', () => {
  it('stores only a hash of the token, and opens the session with the token alone', async () => {
    const t0 = Date.now();
    const { token, session } = await sessions.create({ name: 'ann', role: 'admin' }, t0);
    const rows = (await store.ds.query('SELECT id FROM console_sessions')) as { id: string }[];
    expect(rows.map((r) => r.id)).toEqual([session.id]);
    expect(session.id).not.toBe(token);
    expect(await sessions.lookup(session.id, t0)).toBeNull();
    expect((await sessions.lookup(token, t0 + 1000))?.account).toEqual({ name: 'ann', role: 'admin' });
  });

  it('ends a session after the idle timeout, even within its lifetime, and at its lifetime, however busy', async () => {
    const t0 = Date.now();
    const idle = await sessions.create({ name: 'ann', role: 'admin' }, t0);
    expect(await sessions.lookup(idle.token, t0 + 600_000)).toBeNull();
    const busy = await sessions.create({ name: 'ann', role: 'admin' }, t0);
    // a request every 5 minutes keeps it alive...
    for (let t = t0 + 300_000; t < t0 + 3600_000; t += 300_000) expect(await sessions.lookup(busy.token, t)).not.toBeNull();
    // ...until the lifetime is up
    expect(await sessions.lookup(busy.token, t0 + 3600_000)).toBeNull();
  });

  it('ends the sessions of an account that is disabled or gets a new password', async () => {
    const a = await sessions.create({ name: 'ann', role: 'admin' });
    await accounts.setPassword('ann', 'ann-password-2');
    expect(await sessions.lookup(a.token)).toBeNull();
    const b = await sessions.create({ name: 'ann', role: 'admin' });
    await accounts.setDisabled('ann', true);
    expect(await sessions.lookup(b.token)).toBeNull();
    expect(await accounts.verify('ann', 'ann-password-2')).toBeNull();
    await accounts.setDisabled('ann', false);
    expect((await accounts.verify('ANN', 'ann-password-2'))?.name).toBe('ann');
    expect(await accounts.verify('ann', 'ann-password-1')).toBeNull();
  });
});
