import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, health, eventually, type RunningAppliance } from '../support/appliance.js';
import { sipp, sippOk, sippDevice, received, header } from '../support/sipp.js';
import { runSql } from '../support/store-sql.js';

// SIPp answers only the first challenge and only with MD5, so MD5 is offered first here.
const CONFIG = { auth: { algorithms: ['MD5', 'SHA-256'] } };
const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw', erin: 'erin-pw', frank: 'frank-pw' };

let app: RunningAppliance;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: USERS });
});
afterAll(async () => {
  await app?.cleanup();
});

async function register(user: string, contact: string, opts: { expires?: number; transport?: 'u1' | 't1' } = {}) {
  return sippOk({
    scenario: 'register.xml',
    remotePort: app.sipPort,
    service: user,
    auth: { user, password: USERS[user as keyof typeof USERS] },
    transport: opts.transport,
    vars: { domain: app.domain, expires: String(opts.expires ?? 300), contact },
  });
}

async function sendMessage(from: string, to: string, body: string) {
  return sippOk({
    scenario: 'message-uac.xml',
    remotePort: app.sipPort,
    service: from,
    auth: { user: from, password: USERS[from as keyof typeof USERS] },
    vars: { domain: app.domain, to, body },
  });
}

/** A SIPp device waiting for `count` MESSAGEs on its own port. */
function device(count = 1) {
  return sippDevice({ scenario: 'message-uas.xml', remotePort: app.sipPort, calls: count, timeoutSec: 30 });
}

describe('registrar with digest authentication (C1, C2)', () => {
  it('registers over UDP after a 401 challenge and lists the binding', async () => {
    const r = await register('alice', '127.0.0.1:5999');
    const [challenge, ok] = received(r.messages);
    expect(challenge).toMatch(/^SIP\/2\.0 401/);
    expect(header(challenge, 'WWW-Authenticate')).toMatch(/Digest realm="parley\.test".*qop="auth"/);
    expect(ok).toMatch(/^SIP\/2\.0 200 OK/);
    expect(header(ok, 'Contact')).toMatch(/<sip:alice@127\.0\.0\.1:5999>;expires=(300|29\d)/);
  });

  it('registers over TCP; the binding goes when the connection closes', async () => {
    const before = (await health(app)).registrations;
    const r = await register('erin', '127.0.0.1:5998;transport=tcp', { transport: 't1' });
    expect(received(r.messages).pop()).toMatch(/^SIP\/2\.0 200 OK/);
    // SIPp closes its connection on exit: the flow's binding is removed (RFC 5626 §5)
    await eventually(async () => (await health(app)).registrations === before);
  });

  it('answers 423 with Min-Expires to a too brief interval', async () => {
    const r = await sipp({
      scenario: 'register.xml', remotePort: app.sipPort, service: 'alice',
      auth: { user: 'alice', password: 'alice-pw' }, vars: { domain: app.domain, expires: '5', contact: '127.0.0.1:5997' },
    }).done;
    const last = received(r.messages).pop()!;
    expect(last).toMatch(/^SIP\/2\.0 423 Interval Too Brief/);
    expect(header(last, 'Min-Expires')).toBe('60');
  });

  it('challenges an unknown user again like a wrong password, and tells a disabled one 403 only with valid credentials', async () => {
    const unknown = await sipp({
      scenario: 'register.xml', remotePort: app.sipPort, service: 'mallory',
      auth: { user: 'mallory', password: 'x' }, vars: { domain: app.domain, expires: '300', contact: '127.0.0.1:5996' },
    }).done;
    // challenged, answered, and challenged again: nothing says whether mallory exists
    expect(received(unknown.messages).map((m) => m.slice(0, 16))).toEqual(['SIP/2.0 401 Unau', 'SIP/2.0 401 Unau']);
    await app.cli('user', 'disable', 'frank');
    await eventually(async () => {
      const r = await sipp({
        scenario: 'register.xml', remotePort: app.sipPort, service: 'frank',
        auth: { user: 'frank', password: 'frank-pw' }, vars: { domain: app.domain, expires: '300', contact: '127.0.0.1:5995' },
      }).done;
      return received(r.messages).pop()?.startsWith('SIP/2.0 403');
    });
    await app.cli('user', 'enable', 'frank');
  });
});

describe('pager-mode MESSAGE (P1)', () => {
  it('delivers online to the registered device with the authenticated identity', async () => {
    const bobDevice = await device();
    await register('bob', `127.0.0.1:${bobDevice.port}`);
    const r = await sendMessage('alice', 'bob', 'hello bob');
    expect(received(r.messages).pop()).toMatch(/^SIP\/2\.0 200 OK/);
    const got = await bobDevice.run.done;
    expect(got.code).toBe(0);
    const msg = received(got.messages)[0];
    expect(msg).toMatch(new RegExp(`^MESSAGE sip:bob@127\\.0\\.0\\.1:${bobDevice.port} SIP/2\\.0`));
    expect(header(msg, 'P-Asserted-Identity')).toBe('<sip:alice@parley.test>');
    expect(header(msg, 'Proxy-Authorization')).toBeUndefined();
    expect(msg).toContain('hello bob');
    await register('bob', `127.0.0.1:${bobDevice.port}`, { expires: 0 });
  });

  it('delivers to every registered device of the recipient', async () => {
    const d1 = await device();
    const d2 = await device();
    await register('bob', `127.0.0.1:${d1.port}`);
    await register('bob', `127.0.0.1:${d2.port}`);
    const r = await sendMessage('alice', 'bob', 'to all of you');
    expect(received(r.messages).pop()).toMatch(/^SIP\/2\.0 200 OK/);
    for (const d of [d1, d2]) {
      const got = await d.run.done;
      expect(got.code).toBe(0);
      expect(received(got.messages)[0]).toContain('to all of you');
    }
    await register('bob', `127.0.0.1:${d1.port}`, { expires: 0 });
    await register('bob', `127.0.0.1:${d2.port}`, { expires: 0 });
  });
});

describe('deferred messaging (P2)', () => {
  it('accepts for an offline user with 202 and pushes on REGISTER with the original Date', async () => {
    const sentAt = Date.now();
    const r = await sendMessage('alice', 'carol', 'while you were out');
    expect(received(r.messages).pop()).toMatch(/^SIP\/2\.0 202 Accepted/);
    expect((await health(app)).storedMessages).toBe(1);
    // time passes between the 202 and the push, so that the Date can be told from delivery time
    await new Promise((res) => setTimeout(res, 2500));
    const carol = await device();
    const registeredAt = Date.now();
    await register('carol', `127.0.0.1:${carol.port}`);
    const got = await carol.run.done;
    expect(got.code).toBe(0);
    const msg = received(got.messages)[0];
    expect(msg).toContain('while you were out');
    expect(header(msg, 'From')).toMatch(/^<sip:alice@parley\.test>;tag=/);
    // a request the appliance originates says so (RFC 3261 §20.41)
    expect(header(msg, 'User-Agent')).toMatch(/^Parley\/\d+\.\d+\.\d+$/);
    // the Date is when the server took the message (1 s resolution), not when it delivered it
    const date = Date.parse(header(msg, 'Date')!);
    expect(date).toBeGreaterThanOrEqual(Math.floor(sentAt / 1000) * 1000);
    expect(date).toBeLessThan(registeredAt - 1000);
    await eventually(async () => (await health(app)).storedMessages === 0);
    await register('carol', `127.0.0.1:${carol.port}`, { expires: 0 });
  });

  it('keeps stored messages across a restart and delivers them in order', { timeout: 60_000 }, async () => {
    for (const text of ['first', 'second', 'third']) {
      const r = await sendMessage('alice', 'dave', text);
      expect(received(r.messages).pop()).toMatch(/^SIP\/2\.0 202/);
    }
    await app.restart();
    expect((await health(app)).storedMessages).toBe(3);
    const dave = await device(3);
    await register('dave', `127.0.0.1:${dave.port}`);
    const got = await dave.run.done;
    expect(got.code).toBe(0);
    const bodies = received(got.messages).map((m) => m.split('\n').pop());
    expect(bodies).toEqual(['first', 'second', 'third']);
    await eventually(async () => (await health(app)).storedMessages === 0);
  });

  it('pushes more stored messages than one read of the store holds in order, each once, and removes them all', { timeout: 120_000 }, async () => {
    // 450: past two reads of 200, so pushes go on while the next read is made (deferred-delivery.ts)
    const n = 450;
    // one call at a time: SIPp's call numbers (in each Call-ID, which the push keeps) are the arrival order
    const r = await sippOk({
      scenario: 'message-uac.xml', remotePort: app.sipPort, service: 'alice', calls: n, timeoutSec: 90,
      auth: { user: 'alice', password: USERS.alice }, vars: { domain: app.domain, to: 'erin', body: 'batched' },
      extra: ['-r', '1000', '-l', '1'],
    });
    expect(received(r.messages).filter((m) => /^SIP\/2\.0 202/.test(m))).toHaveLength(n);
    expect((await health(app)).storedMessages).toBe(n);
    const erin = await sippDevice({ scenario: 'message-uas.xml', remotePort: app.sipPort, calls: n, timeoutSec: 60 });
    await register('erin', `127.0.0.1:${erin.port}`);
    const got = await erin.run.done;
    expect(got.code).toBe(0);
    const order = received(got.messages).map((m) => Number(/^(\d+)-/.exec(header(m, 'Call-ID')!)![1]));
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    await eventually(async () => (await health(app)).storedMessages === 0);
    await register('erin', `127.0.0.1:${erin.port}`, { expires: 0 });
  });

  it('passes over a stored message that no longer decrypts and pushes the ones after it, keeping it', { timeout: 60_000 }, async () => {
    for (const text of ['one', 'two', 'three']) {
      const r = await sendMessage('alice', 'frank', text);
      expect(received(r.messages).pop()).toMatch(/^SIP\/2\.0 202/);
    }
    // the second row's sealed body altered on disk, as a restored backup without its key would leave it
    await runSql(app, "UPDATE deferred_messages SET body = zeroblob(LENGTH(body)) WHERE id = (SELECT id FROM deferred_messages WHERE recipient = 'frank' ORDER BY id LIMIT 1 OFFSET 1)");
    const frank = await device(2);
    await register('frank', `127.0.0.1:${frank.port}`);
    const got = await frank.run.done;
    expect(got.code).toBe(0);
    expect(received(got.messages).map((m) => m.split('\n').pop())).toEqual(['one', 'three']);
    await eventually(async () => (await health(app)).storedMessages === 1);
    expect(app.logs.filter((l) => l.includes('do not decrypt'))).toHaveLength(1);
    await register('frank', `127.0.0.1:${frank.port}`, { expires: 0 });
    // the next run reads it again, before the message stored after it: passed over again, not logged twice
    const r = await sendMessage('alice', 'frank', 'four');
    expect(received(r.messages).pop()).toMatch(/^SIP\/2\.0 202/);
    const again = await device(1);
    await register('frank', `127.0.0.1:${again.port}`);
    const later = await again.run.done;
    expect(later.code).toBe(0);
    expect(received(later.messages).map((m) => m.split('\n').pop())).toEqual(['four']);
    await eventually(async () => (await health(app)).storedMessages === 1);
    expect(app.logs.filter((l) => l.includes('do not decrypt'))).toHaveLength(1);
    await register('frank', `127.0.0.1:${again.port}`, { expires: 0 });
  });
});
