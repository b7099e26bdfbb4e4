import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { tempStore } from '../../../test/support/temp-store.js';
import { pino } from 'pino';
import { UserDirectory } from './user-directory.js';
import { Authenticator } from './authenticator.js';
import { LoginThrottle } from './login-throttle.js';
import { LocationService } from './location-service.js';
import { Registrar } from './registrar.js';
import { LocalDomain } from './local-domain.js';
import { parseMessage } from '../sip/message/parser.js';
import type { SipRequest } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { SipStack, ReplyOptions } from '../sip/stack.js';
import { SipAnswer, SipError } from '../sip/errors.js';
import { authorize } from '../../../test/support/digest-client.js';

const log = pino({ level: 'silent' });
let store: Awaited<ReturnType<typeof tempStore>>;
let ds: DataSource;
let registrar: Registrar;
let location: LocationService;
let users: UserDirectory;
let replies: { status: number; reason: string; opts: ReplyOptions }[];
let cseq = 1;

const stack = {
  reply: (_tx: ServerTransaction, status: number, reason: string, opts: ReplyOptions = {}) => {
    replies.push({ status, reason, opts });
    return undefined;
  },
} as unknown as SipStack;

beforeAll(async () => {
  store = await tempStore('reg');
  ({ ds } = store);
  users = new UserDirectory(ds, 'parley.test');
  location = new LocationService(ds, log);
  await location.load();
  const auth = new Authenticator(
    users,
    { realm: 'parley.test', algorithms: ['SHA-256', 'MD5'], offerAllTo: [/^Parley-test/], nonceLifetime: 300, maxTrackedNonces: 10_000 },
    new LoginThrottle({ window: 300, perSourceAndUser: 1000, perSource: 1000, perUser: 1000, blockFor: 1, maxBlock: 1 }),
    log,
  );
  registrar = new Registrar(stack, new LocalDomain('parley.test', []), auth, location, {
    minExpires: 60,
    maxExpires: 3600,
    defaultExpires: 3600,
    maxContactsPerUser: 3,
  });
});
afterAll(async () => {
  location.stop();
  await store.cleanup();
});
beforeEach(() => {
  replies = [];
});

let userCount = 0;
/** A user of its own for each test, so tests do not depend on each other's bindings or order. */
async function freshUser(): Promise<string> {
  const name = `u${++userCount}`;
  await users.add(name, `${name}-pw`);
  return name;
}

function register(user: string, headers: string[], authz?: string, callId = 'reg-1'): SipRequest {
  const text = [
    'REGISTER sip:parley.test SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK' + cseq,
    `From: <sip:${user}@parley.test>;tag=1`,
    `To: <sip:${user}@parley.test>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq++} REGISTER`,
    'Max-Forwards: 70',
    'User-Agent: Parley-test',
    ...headers,
    ...(authz ? [`Authorization: ${authz}`] : []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const o = parseMessage(text);
  if (!o?.ok || !o.message.isRequest) throw new Error('fixture');
  return o.message;
}

const tx = { source: { transport: 'UDP', address: '127.0.0.1', port: 5070, flowId: 'udp:127.0.0.1:5070' } } as ServerTransaction;

/** The registrar's outcome as the router takes it, an answer it returns (a challenge) thrown as the SipError it stands for. */
async function handle(req: SipRequest): Promise<void> {
  const outcome = await registrar.handle(req, tx);
  if (outcome instanceof SipAnswer) throw SipError.of(outcome);
}

/** Runs a REGISTER through the challenge and returns the final outcome (status, or the SipError). */
async function registered(user: string, password: string, headers: string[], callId?: string): Promise<number> {
  let challenge: SipError;
  try {
    await handle(register(user, headers, undefined, callId));
    throw new Error('not challenged');
  } catch (e) {
    challenge = e as SipError;
  }
  expect(challenge.status).toBe(401);
  const www = (challenge.headers['WWW-Authenticate'] as string[])[0];
  expect(www).toContain('algorithm=SHA-256');
  try {
    await handle(register(user, headers, authorize(www, { method: 'REGISTER', uri: 'sip:parley.test', username: user, password }), callId));
    return replies.at(-1)!.status;
  } catch (e) {
    if (e instanceof SipError) return e.status;
    throw e;
  }
}

describe('registrar (RFC 3261 §10.3)', () => {
  it('challenges with SHA-256 first, then MD5 (RFC 8760 §2.4), to a client that takes several challenges', async () => {
    const u = await freshUser();
    await expect(handle(register(u, [`Contact: <sip:${u}@127.0.0.1:5070>`]))).rejects.toMatchObject({
      status: 401,
      headers: { 'WWW-Authenticate': [expect.stringContaining('SHA-256'), expect.stringContaining('MD5')] },
    });
  });

  it('registers with SHA-256 credentials and answers with the binding and its expiry', async () => {
    const u = await freshUser();
    expect(await registered(u, `${u}-pw`, [`Contact: <sip:${u}@127.0.0.1:5070>`, 'Expires: 120'])).toBe(200);
    expect(replies.at(-1)!.opts.headers!.Contact as string[]).toEqual([`<sip:${u}@127.0.0.1:5070>;expires=120`]);
  });

  it('keeps several contacts ordered by q and removes one with expires=0', async () => {
    const u = await freshUser();
    expect(await registered(u, `${u}-pw`, [`Contact: <sip:${u}@127.0.0.1:5070>`])).toBe(200);
    expect(await registered(u, `${u}-pw`, [`Contact: <sip:${u}@10.0.0.2:5070>;q=0.9, <sip:${u}@10.0.0.3>;q=0.1`])).toBe(200);
    expect(location.lookup(`sip:${u}@parley.test`).map((b) => b.contactUri)).toEqual([`sip:${u}@127.0.0.1:5070`, `sip:${u}@10.0.0.2:5070`, `sip:${u}@10.0.0.3`]);
    expect(await registered(u, `${u}-pw`, [`Contact: <sip:${u}@10.0.0.3>;expires=0`])).toBe(200);
    expect(location.lookup(`sip:${u}@parley.test`)).toHaveLength(2);
  });

  it('refuses a too brief interval with 423 and Min-Expires', async () => {
    const u = await freshUser();
    expect(await registered(u, `${u}-pw`, [`Contact: <sip:${u}@10.0.0.9>;expires=10`])).toBe(423);
  });

  it('limits the number of contacts per user', async () => {
    const u = await freshUser();
    expect(await registered(u, `${u}-pw`, [`Contact: <sip:${u}@10.0.0.6>, <sip:${u}@10.0.0.7>`])).toBe(200);
    expect(await registered(u, `${u}-pw`, [`Contact: <sip:${u}@10.0.0.8>, <sip:${u}@10.0.0.9>`])).toBe(403);
    expect(location.lookup(`sip:${u}@parley.test`)).toHaveLength(2);
  });

  it('holds the contact limit when many REGISTERs arrive at once', async () => {
    const u = await freshUser();
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => registered(u, `${u}-pw`, [`Contact: <sip:${u}@10.0.2.${i}>`], `burst-${u}-${i}`)));
    expect(outcomes.filter((s) => s === 200)).toHaveLength(3);
    expect(outcomes.filter((s) => s === 403)).toHaveLength(17);
    expect(location.lookup(`sip:${u}@parley.test`)).toHaveLength(3);
    expect(Number(((await ds.query('SELECT COUNT(*) AS n FROM bindings WHERE aor = ?', [`sip:${u}@parley.test`])) as { n: number }[])[0].n)).toBe(3);
  });

  it('rejects a REGISTER that is out of order for the same Call-ID (500)', async () => {
    const u = await freshUser();
    expect(await registered(u, `${u}-pw`, [`Contact: <sip:${u}@10.0.1.1>`], `${u}-call`)).toBe(200);
    cseq -= 10;
    expect(await registered(u, `${u}-pw`, [`Contact: <sip:${u}@10.0.1.1>`], `${u}-call`)).toBe(500);
    cseq += 20;
  });

  it("removes every binding with '*' and Expires: 0, and refuses '*' otherwise", async () => {
    const u = await freshUser();
    expect(await registered(u, `${u}-pw`, [`Contact: <sip:${u}@10.0.1.1>`], `${u}-call`)).toBe(200);
    expect(await registered(u, `${u}-pw`, ['Contact: *', 'Expires: 60'], `${u}-call`)).toBe(400);
    expect(await registered(u, `${u}-pw`, ['Contact: *', 'Expires: 0'], `${u}-call`)).toBe(200);
    expect(location.lookup(`sip:${u}@parley.test`)).toEqual([]);
  });

  it('refuses credentials of another user (403); an unknown user is challenged like a wrong password', async () => {
    const [a, b] = [await freshUser(), await freshUser()];
    const www = await challengeFor(register(b, [`Contact: <sip:${b}@10.0.1.1>`]));
    const forged = register(b, [`Contact: <sip:${b}@10.0.1.1>`], authorize(www, { method: 'REGISTER', uri: 'sip:parley.test', username: a, password: `${a}-pw` }));
    await expect(handle(forged)).rejects.toMatchObject({ status: 403 });
    expect(await registered('nobody', 'whatever', ['Contact: <sip:nobody@10.0.0.1>'])).toBe(401);
    expect(await registered(b, 'wrong', [`Contact: <sip:${b}@10.0.1.1>`])).toBe(401);
  });

  it('tells "disabled" (403) only to valid credentials', async () => {
    const u = await freshUser();
    await users.setDisabled(u, true);
    expect(await registered(u, 'wrong', [`Contact: <sip:${u}@10.0.1.1>`])).toBe(401);
    expect(await registered(u, `${u}-pw`, [`Contact: <sip:${u}@10.0.1.1>`])).toBe(403);
  });

  it('takes the user part of the AOR case-insensitively', async () => {
    const u = await freshUser();
    const upper = u.toUpperCase();
    const www = await challengeFor(register(upper, [`Contact: <sip:${u}@10.0.3.1>`]));
    const req = register(upper, [`Contact: <sip:${u}@10.0.3.1>`], authorize(www, { method: 'REGISTER', uri: 'sip:parley.test', username: u, password: `${u}-pw` }));
    await handle(req);
    expect(replies.at(-1)!.status).toBe(200);
    expect(location.lookup(`sip:${u}@parley.test`)).toHaveLength(1);
  });

  it('keeps bindings in the store: a new location service loads them', async () => {
    const u = await freshUser();
    expect(await registered(u, `${u}-pw`, [`Contact: <sip:${u}@10.0.4.1>, <sip:${u}@10.0.4.2>`])).toBe(200);
    const again = new LocationService(ds, log);
    await again.load();
    expect(again.lookup(`sip:${u}@parley.test`).length).toBe(2);
    again.stop();
  });
});

async function challengeFor(req: SipRequest): Promise<string> {
  try {
    await handle(req);
  } catch (e) {
    return ((e as SipError).headers['WWW-Authenticate'] as string[])[0];
  }
  throw new Error('not challenged');
}
