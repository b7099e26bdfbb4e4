import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startAppliance, health, eventually, type RunningAppliance } from '../support/appliance.js';
import { RawClient, buildRequest, headerOf } from '../support/raw-client.js';
import { authorize } from '../support/digest-client.js';

let app: RunningAppliance;
const D = 'parley.test';

beforeAll(async () => {
  // these tests poll with a password until the CLI's change reaches the server: each poll before
  // that is a failed login, so the throttle must not step in (auth.test.ts tests it)
  const throttle = { perSourceAndUser: 10_000, perSource: 10_000, perUser: 10_000 };
  app = await startAppliance({ users: { alice: 'alice-pw', bob: 'bob-pw', carl: 'carl-pw' }, config: { auth: { throttle } } });
});
afterAll(async () => {
  await app?.cleanup();
});

/** REGISTER through the challenge with the given password; returns the final status line. */
async function register(user: string, password: string, expires = 300): Promise<string> {
  const c = await RawClient.udp(app.sipPort);
  try {
    const spec = { method: 'REGISTER', uri: `sip:${D}`, from: `sip:${user}@${D}`, to: `sip:${user}@${D}`, transport: 'UDP' as const, localPort: c.localPort, callId: `cli-${user}-${Date.now()}` };
    const headers = [`Contact: <sip:${user}@127.0.0.1:${c.localPort}>`, `Expires: ${expires}`];
    const first = await c.request(buildRequest({ ...spec, cseq: 1, headers }));
    if (!first.startsWith('SIP/2.0 401')) return first.split('\r\n')[0];
    const authz = authorize(headerOf(first, 'WWW-Authenticate')[0], { method: 'REGISTER', uri: spec.uri, username: user, password });
    return (await c.request(buildRequest({ ...spec, cseq: 2, headers: [...headers, `Authorization: ${authz}`] }))).split('\r\n')[0];
  } finally {
    c.close();
  }
}

describe('parley user … against a running server', () => {
  it('lists users and refuses a duplicate with a clear message', async () => {
    expect(await app.cli('user', 'list')).toMatch(/^alice\tenabled\t/m);
    await expect(app.cli('user', 'add', 'alice', '--password', 'again')).rejects.toThrow(/user 'alice' already exists/);
  });

  it('passwd: the old password stops working, the new one works', async () => {
    expect(await register('bob', 'bob-pw')).toBe('SIP/2.0 200 OK');
    await app.cli('user', 'passwd', 'bob', '--password', 'new-bob-pw');
    // a wrong password is challenged again, like any failed login
    await eventually(async () => (await register('bob', 'bob-pw')) === 'SIP/2.0 401 Unauthorized');
    expect(await register('bob', 'new-bob-pw')).toBe('SIP/2.0 200 OK');
  });

  it('disable: the registration is dropped and new ones get 403; enable restores service', async () => {
    expect(await register('carl', 'carl-pw')).toBe('SIP/2.0 200 OK');
    const before = (await health(app)).registrations;
    await app.cli('user', 'disable', 'carl');
    await eventually(async () => (await health(app)).registrations === before - 1);
    expect(await register('carl', 'carl-pw')).toBe('SIP/2.0 403 User disabled');
    await app.cli('user', 'enable', 'carl');
    await eventually(async () => (await register('carl', 'carl-pw')) === 'SIP/2.0 200 OK');
  });

  it('remove: the user is gone (challenged again, like an unknown user)', async () => {
    await app.cli('user', 'remove', 'carl');
    await eventually(async () => (await register('carl', 'carl-pw')) === 'SIP/2.0 401 Unauthorized');
    expect(await app.cli('user', 'list')).not.toContain('carl');
  });

  it('import: all or nothing, every bad line named', async () => {
    const bad = path.join(app.dataDir, 'bad.csv');
    writeFileSync(bad, 'name,password\ndora,dora-pw\nalice,dup-pw\nbad name,xxxx\n');
    await expect(app.cli('user', 'import', bad)).rejects.toThrow(/line 3: user 'alice' already exists[\s\S]*line 4: invalid user name/);
    expect(await app.cli('user', 'list')).not.toContain('dora');
    const good = path.join(app.dataDir, 'good.csv');
    writeFileSync(good, 'dora,dora-pw\neve,eve-pw\n');
    expect(await app.cli('user', 'import', good)).toContain('2 users imported');
    await eventually(async () => (await register('dora', 'dora-pw')) === 'SIP/2.0 200 OK');
  });

  it('takes passwords from standard input, so they stay out of shell history', async () => {
    expect(await app.cliWithInput('stdin-pw-1\n', 'user', 'add', 'frida', '--password-stdin')).toContain('user frida added');
    await eventually(async () => (await register('frida', 'stdin-pw-1')) === 'SIP/2.0 200 OK');
    await app.cliWithInput('stdin-pw-2\n', 'user', 'passwd', 'frida', '--password-stdin');
    await eventually(async () => (await register('frida', 'stdin-pw-2')) === 'SIP/2.0 200 OK');
    await expect(app.cli('user', 'add', 'gus')).rejects.toThrow(/pass --password-stdin/);
  });

  it('names every configuration problem and exits non-zero', async () => {
    await expect(app.cli('user', 'list', '--config', '/nonexistent.yaml')).rejects.toThrow(/cannot read config file/);
  });
});
