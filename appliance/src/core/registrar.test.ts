import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { tempStore } from '../../../test/support/temp-store.js';
import { pino } from 'pino';
import { UserDirectory } from './user-directory.js';
import { Authenticator } from './authenticator.js';
import { LocationService } from './location-service.js';
import { Registrar } from './registrar.js';
import { LocalDomain } from './local-domain.js';
import { parseMessage } from '../sip/message/parser.js';
import type { SipRequest } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { SipStack, ReplyOptions } from '../sip/stack.js';
import { SipError } from '../sip/errors.js';
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
  await users.add('alice', 'alice-pw');
  await users.add('bob', 'bob-pw');
  location = new LocationService(ds, log);
  await location.load();
  const auth = new Authenticator(users, { realm: 'parley.test', algorithms: ['SHA-256', 'MD5'], nonceLifetime: 300 });
  registrar = new Registrar(stack, new LocalDomain('parley.test', []), users, auth, location, {
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

function register(user: string, headers: string[], authz?: string, callId = 'reg-1'): SipRequest {
  const text = [
    'REGISTER sip:parley.test SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK' + cseq,
    `From: <sip:${user}@parley.test>;tag=1`,
    `To: <sip:${user}@parley.test>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq++} REGISTER`,
    'Max-Forwards: 70',
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

/** Runs a REGISTER through the challenge and returns the final outcome (status, or the SipError). */
async function registered(user: string, password: string, headers: string[], callId?: string): Promise<number> {
  let challenge: SipError;
  try {
    await registrar.handle(register(user, headers, undefined, callId), tx);
    throw new Error('not challenged');
  } catch (e) {
    challenge = e as SipError;
  }
  expect(challenge.status).toBe(401);
  const www = (challenge.headers['WWW-Authenticate'] as string[])[0];
  expect(www).toContain('algorithm=SHA-256');
  try {
    await registrar.handle(register(user, headers, authorize(www, { method: 'REGISTER', uri: 'sip:parley.test', username: user, password }), callId), tx);
    return replies.at(-1)!.status;
  } catch (e) {
    if (e instanceof SipError) return e.status;
    throw e;
  }
}

describe('registrar (RFC 3261 §10.3)', () => {
  it('challenges with SHA-256 first, then MD5 (RFC 8760 §2.4)', async () => {
    await expect(registrar.handle(register('alice', ['Contact: <sip:alice@127.0.0.1:5070>']), tx)).rejects.toMatchObject({
      status: 401,
      headers: { 'WWW-Authenticate': [expect.stringContaining('SHA-256'), expect.stringContaining('MD5')] },
    });
  });

  it('registers with SHA-256 credentials and answers with the binding and its expiry', async () => {
    expect(await registered('alice', 'alice-pw', ['Contact: <sip:alice@127.0.0.1:5070>', 'Expires: 120'])).toBe(200);
    const contact = replies.at(-1)!.opts.headers!.Contact as string[];
    expect(contact).toEqual(['<sip:alice@127.0.0.1:5070>;expires=120']);
  });

  it('keeps several contacts ordered by q and removes one with expires=0', async () => {
    expect(await registered('alice', 'alice-pw', ['Contact: <sip:alice@10.0.0.2:5070>;q=0.9, <sip:alice@10.0.0.3>;q=0.1'])).toBe(200);
    expect(location.lookup('sip:alice@parley.test').map((b) => b.contactUri)).toEqual([
      'sip:alice@127.0.0.1:5070',
      'sip:alice@10.0.0.2:5070',
      'sip:alice@10.0.0.3',
    ]);
    expect(await registered('alice', 'alice-pw', ['Contact: <sip:alice@10.0.0.3>;expires=0'])).toBe(200);
    expect(location.lookup('sip:alice@parley.test')).toHaveLength(2);
  });

  it('refuses a too brief interval with 423 and Min-Expires', async () => {
    expect(await registered('alice', 'alice-pw', ['Contact: <sip:alice@10.0.0.9>;expires=10'])).toBe(423);
  });

  it('limits the number of contacts per user', async () => {
    expect(await registered('alice', 'alice-pw', ['Contact: <sip:alice@10.0.0.7>, <sip:alice@10.0.0.8>'])).toBe(403);
  });

  it('rejects a REGISTER that is out of order for the same Call-ID (500)', async () => {
    expect(await registered('bob', 'bob-pw', ['Contact: <sip:bob@10.0.1.1>'], 'bob-call')).toBe(200);
    cseq -= 10;
    expect(await registered('bob', 'bob-pw', ['Contact: <sip:bob@10.0.1.1>'], 'bob-call')).toBe(500);
    cseq += 20;
  });

  it("removes every binding with '*' and Expires: 0, and refuses '*' otherwise", async () => {
    expect(await registered('bob', 'bob-pw', ['Contact: *', 'Expires: 60'], 'bob-call')).toBe(400);
    expect(await registered('bob', 'bob-pw', ['Contact: *', 'Expires: 0'], 'bob-call')).toBe(200);
    expect(location.lookup('sip:bob@parley.test')).toEqual([]);
  });

  it("refuses credentials of another user (403) and unknown users (404)", async () => {
    const req = register('bob', ['Contact: <sip:bob@10.0.1.1>']);
    let www = '';
    try {
      await registrar.handle(req, tx);
    } catch (e) {
      www = ((e as SipError).headers['WWW-Authenticate'] as string[])[0];
    }
    const forged = register('bob', ['Contact: <sip:bob@10.0.1.1>'], authorize(www, { method: 'REGISTER', uri: 'sip:parley.test', username: 'alice', password: 'alice-pw' }));
    await expect(registrar.handle(forged, tx)).rejects.toMatchObject({ status: 403 });
    await expect(registrar.handle(register('nobody', ['Contact: <sip:x@10.0.0.1>']), tx)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses a wrong password with 403 and a disabled user with 403', async () => {
    expect(await registered('bob', 'wrong', ['Contact: <sip:bob@10.0.1.1>'])).toBe(403);
    await users.setDisabled('bob', true);
    expect(await registered('bob', 'bob-pw', ['Contact: <sip:bob@10.0.1.1>'])).toBe(403);
    await users.setDisabled('bob', false);
  });

  it('keeps bindings in the store: a new location service loads them', async () => {
    const again = new LocationService(ds, log);
    await again.load();
    expect(again.lookup('sip:alice@parley.test').length).toBe(2);
    again.stop();
  });
});
