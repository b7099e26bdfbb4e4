import net from 'node:net';
import sqlite3 from 'sqlite3';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { ChatClient } from '../support/msrp-client.js';
import { xcapRequest } from '../support/xcap-client.js';
import type { ReceivedMessage, ReceivedReport } from '../../appliance/src/msrp/msrp-session.js';

// small limits, so that the bad-input tests can exceed them cheaply
const CONFIG = { msrp: { maxChunkBytes: 65536, maxMessageBytes: 2 * 2 ** 20 } };
const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw' };
let app: RunningAppliance;
const clients: ChatClient[] = [];

beforeAll(async () => {
  app = await startAppliance({ users: USERS, config: CONFIG });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await app?.cleanup();
});

async function client(name: keyof typeof USERS, register = true): Promise<ChatClient> {
  const c = await ChatClient.connect(app, name, USERS[name], register);
  clients.push(c);
  return c;
}

/** The next complete message on a session (the report callback answers as a real client would). */
function nextMessage(s: { onMessage: (m: ReceivedMessage) => void }): Promise<ReceivedMessage> {
  return new Promise((resolve) => {
    s.onMessage = (m) => {
      m.report(200);
      resolve(m);
    };
  });
}

function nextReport(s: { onReport: (r: ReceivedReport) => void }): Promise<ReceivedReport> {
  return new Promise((resolve) => (s.onReport = resolve));
}

/** Rows of the session history table, read from the appliance's store as the history issue will. */
async function historyRows(): Promise<Record<string, unknown>[]> {
  const db = new sqlite3.Database(path.join(app.dataDir, 'parley.sqlite'), sqlite3.OPEN_READONLY);
  try {
    return await new Promise((resolve, reject) => db.all('SELECT * FROM session_history ORDER BY id', (err, rows) => (err ? reject(err) : resolve(rows as Record<string, unknown>[]))));
  } finally {
    db.close();
  }
}

describe('one-to-one MSRP session through the IM server switch (S1)', () => {
  it('connects Alice and Bob, switches messages both ways, and ends both legs on BYE with a history row', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const [aCall, bCall] = await Promise.all([alice.invite('bob'), bob.answerInvite()]);
    expect(aCall.final).toMatch(/^SIP\/2\.0 200 OK/);
    // the IM server terminates both legs: neither side sees the other's MSRP path
    expect(aCall.peerMedia!.path).toContain(`:${app.msrpPort}/`);
    expect(bCall.peerMedia!.path).toContain(`:${app.msrpPort}/`);
    expect(aCall.peerMedia!.setup).toBe('passive');
    // Bob sees Alice as the originating policy shows her, asserted
    expect(bCall.final).toMatch(/^P-Asserted-Identity: <sip:alice@parley\.test>/m);

    const toBob = nextMessage(bCall.session);
    expect((await aCall.session.send('text/plain', Buffer.from('Hi Bob'))).status).toBe(200);
    expect((await toBob).body.toString()).toBe('Hi Bob');
    const toAlice = nextMessage(aCall.session);
    expect((await bCall.session.send('text/plain', Buffer.from('Hi Alice'))).status).toBe(200);
    expect((await toAlice).body.toString()).toBe('Hi Alice');

    const bye = alice.bye(aCall);
    await bob.awaitBye(bCall);
    expect(await bye).toMatch(/^SIP\/2\.0 200/);
    const rows = await eventually(async () => {
      const r = await historyRows();
      return r.length > 0 && r;
    });
    expect(rows[0]).toMatchObject({ kind: 'one-to-one', caller: 'sip:alice@parley.test', callee: 'sip:bob@parley.test', message_count: 2, end_reason: 'bye-caller' });
  });

  it('carries a 1 MiB message in chunks, reassembled whole, and passes the success report back', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const [aCall, bCall] = await Promise.all([alice.invite('bob'), bob.answerInvite()]);
    const body = Buffer.alloc(2 ** 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 256;
    const got = nextMessage(bCall.session);
    const report = nextReport(aCall.session);
    const sent = await aCall.session.send('application/octet-stream', body, { successReport: true });
    expect(sent.status).toBe(200);
    expect((await got).body.equals(body)).toBe(true);
    expect(await report).toMatchObject({ messageId: sent.messageId, status: 200, byteRange: `1-${body.length}/${body.length}` });
    await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);
  });

  it("gives the sender a failure report when the callee's MSRP leg refuses the message", async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const [aCall, bCall] = await Promise.all([alice.invite('bob'), bob.answerInvite()]);
    // Bob's client says no to this one (RFC 4975 §7.1.2: it sends a failure REPORT)
    bCall.session.onMessage = (m) => m.report(415, 'Unsupported Media Type');
    const report = nextReport(aCall.session);
    const sent = await aCall.session.send('application/x-unknown', Buffer.from('?'));
    expect(sent.status).toBe(200);
    expect(await report).toMatchObject({ messageId: sent.messageId, status: 415 });
    await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);
  });

  it('answers 480 when the callee has no device, and 404 for an unknown user', async () => {
    const alice = await client('alice');
    expect((await alice.invite('carol')).final).toMatch(/^SIP\/2\.0 480/);
    expect((await alice.invite('nobody')).final).toMatch(/^SIP\/2\.0 404/);
  });

  it('refuses an offer without a usable MSRP path with 488 and the reason', async () => {
    const alice = await client('alice');
    const noPath = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=message 7 TCP/MSRP *', 'a=accept-types:text/plain', ''].join('\r\n');
    expect((await alice.invite('bob', { rawSdp: noPath })).final).toMatch(/^SIP\/2\.0 488 No a=path/);
    const audio = noPath.replace('m=message 7 TCP/MSRP *', 'm=audio 7 RTP/AVP 0');
    expect((await alice.invite('bob', { rawSdp: audio })).final).toMatch(/^SIP\/2\.0 488 No MSRP media line/);
  });
});

const RULES = 'im-access-rules/users/sip:bob@parley.test/index';
const rules = (handling: string, who: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>
<cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy" xmlns:ir="urn:parley:params:xml:ns:im-rules">
  <cp:rule id="r1">
    <cp:conditions><cp:identity><cp:one id="${who}"/></cp:identity></cp:conditions>
    <cp:actions><ir:im-handling>${handling}</ir:im-handling></cp:actions>
  </cp:rule>
</cp:ruleset>`;

describe('MSRP over WebSocket (RFC 7977)', () => {
  it("carries the caller's leg over the appliance's WS port with sub-protocol msrp", async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const [aCall, bCall] = await Promise.all([alice.invite('bob', { protocol: 'TCP/WS/MSRP' }), bob.answerInvite()]);
    expect(aCall.final).toMatch(/^SIP\/2\.0 200/);
    expect(aCall.peerMedia).toMatchObject({ protocol: 'TCP/WS/MSRP', setup: 'passive' });
    expect(aCall.peerMedia!.path).toMatch(new RegExp(`^msrp://127\\.0\\.0\\.1:${app.wsPort}/[^;]+;ws$`));
    const got = nextMessage(bCall.session);
    const body = Buffer.alloc(200_000, 'w');
    expect((await aCall.session.send('text/plain', body)).status).toBe(200);
    expect((await got).body.equals(body)).toBe(true);
    const back = nextMessage(aCall.session);
    await bCall.session.send('text/plain', Buffer.from('over tcp, back over ws'));
    expect((await back).body.toString()).toBe('over tcp, back over ws');
    await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);
  });
});

describe("sessions pass the callee's participating function (S1, Y2)", () => {
  it('refuses a blocked caller with 403 and treats a politely blocked one as absent (480); others get through', async () => {
    const bob = await client('bob');
    const alice = await client('alice');
    const dave = await client('dave');
    const put = async (handling: string) => (await xcapRequest(app, 'PUT', RULES, { user: 'bob', body: rules(handling, 'sip:alice@parley.test'), headers: { 'Content-Type': 'application/auth-policy+xml' } })).status;
    expect(await put('block')).toBeLessThan(300);
    expect((await alice.invite('bob')).final).toMatch(/^SIP\/2\.0 403/);
    expect(await put('polite-block')).toBeLessThan(300);
    expect((await alice.invite('bob')).final).toMatch(/^SIP\/2\.0 480/);
    const [dCall, bCall] = await Promise.all([dave.invite('bob'), bob.answerInvite()]);
    expect(dCall.final).toMatch(/^SIP\/2\.0 200/);
    await Promise.all([dave.bye(dCall), bob.awaitBye(bCall)]);
    expect((await xcapRequest(app, 'DELETE', RULES, { user: 'bob' })).status).toBe(200);
  });
});

/** A raw MSRP connection for bad-input tests: writes bytes, collects response start lines. */
async function rawMsrp(): Promise<{ sock: net.Socket; lines: string[]; closed: () => boolean }> {
  const sock = net.connect(app.msrpPort, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const lines: string[] = [];
  let closed = false;
  sock.on('data', (d: Buffer) => lines.push(...d.toString('latin1').split('\r\n').filter((l) => /^MSRP \S+ \d{3}/.test(l))));
  sock.on('close', () => (closed = true));
  sock.on('error', () => undefined);
  return { sock, lines, closed: () => closed };
}

describe('bad MSRP input on a live session (RFC 4975 §7, §10)', () => {
  it('answers each bad request with its status and the session carries on, losing nothing accepted', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const [aCall, bCall] = await Promise.all([alice.invite('bob', { connect: false }), bob.answerInvite()]);
    const to = aCall.peerMedia!.path;
    const from = aCall.session.localPath;
    const raw = await rawMsrp();
    const send = (tid: string, headers: string[], body?: string, method = 'SEND') =>
      raw.sock.write(`MSRP ${tid} ${method}\r\nTo-Path: ${to}\r\nFrom-Path: ${from}\r\n${headers.map((h) => `${h}\r\n`).join('')}${body === undefined ? '' : `\r\n${body}\r\n`}-------${tid}$\r\n`);
    const received: string[] = [];
    bCall.session.onMessage = (m) => received.push(m.body.toString());
    send('tid00001', ['Message-ID: m1', 'Byte-Range: 1-5/5', 'Content-Type: text/plain'], 'first');
    send('tid00002', ['Message-ID: m2', 'Byte-Range: 1-5/3', 'Content-Type: text/plain'], 'hello');
    send('tid00003', ['Message-ID: m3'], undefined, 'FETCH');
    send('tid00004', ['Message-ID: m4', 'Byte-Range: 1-5/3000000', 'Content-Type: text/plain'], 'large');
    send('tid00005', ['Message-ID: m5', 'Byte-Range: 1-70000/70000', 'Content-Type: text/plain'], 'x'.repeat(70_000));
    send('tid00006', ['Message-ID: m6', 'Content-Type: text/plain', 'no colon'], 'bad header');
    send('tid00007', ['Message-ID: m7', 'Byte-Range: 1-6/6', 'Content-Type: text/plain'], 'second');
    await eventually(() => raw.lines.length >= 7);
    expect(raw.lines).toEqual([
      'MSRP tid00001 200 OK',
      'MSRP tid00002 400 Byte-Range past the total',
      'MSRP tid00003 501 Unknown method FETCH',
      'MSRP tid00004 413 Message larger than the announced max-size',
      'MSRP tid00005 413 Chunk larger than the announced max-size',
      'MSRP tid00006 400 Malformed header line',
      'MSRP tid00007 200 OK',
    ]);
    await eventually(() => received.length >= 2);
    expect(received).toEqual(['first', 'second']);
    // bytes that are not MSRP close that connection only; the session's own goes on
    const junk = await rawMsrp();
    junk.sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await eventually(() => junk.closed());
    send('tid00008', ['Message-ID: m8', 'Byte-Range: 1-5/5', 'Content-Type: text/plain'], 'third');
    await eventually(() => received.length >= 3);
    expect(received[2]).toBe('third');
    raw.sock.destroy();
    await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);
  });
});
