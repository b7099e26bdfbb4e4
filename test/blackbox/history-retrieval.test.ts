import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startAppliance, type RunningAppliance } from '../support/appliance.js';
import { ChatClient } from '../support/msrp-client.js';
import { historyGet, pager } from '../support/history-client.js';
import type { ReceivedMessage } from '../../appliance/src/msrp/msrp-session.js';

let app: RunningAppliance;

beforeAll(async () => {
  // the site policy stores every pager conversation: the seed for these tests
  app = await startAppliance({ config: { history: { storeAll: true } }, users: { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' } });
}, 120_000);
afterAll(async () => {
  await app?.cleanup();
});

interface ApiConversation {
  id: string;
  name: string;
  kind: string;
  peers: string[];
  messages: number;
  bytes: number;
  uri: string;
  started: string;
  startedMs: number;
}
interface ApiMessage {
  id: number;
  sender: string;
  recipients: string[];
  contentType: string;
  encoding: 'text' | 'base64';
  body: string;
  time: string;
  timeMs: number;
  messageId: string | null;
}

/** Alice's conversation with `peer` once it holds `count` messages (HTTP list). */
async function aliceWith(peer: string, count: number): Promise<ApiConversation> {
  return eventually(async () => {
    const list = (await historyGet(app, 'conversations')).json.conversations as ApiConversation[];
    return list.find((c) => c.peers[0] === `sip:${peer}@parley.test` && c.messages === count);
  });
}

async function allMessages(id: string, limit: number, user = 'alice'): Promise<{ pages: number; messages: ApiMessage[] }> {
  const messages: ApiMessage[] = [];
  let pages = 0;
  for (let after: number | null = 0; after !== null; pages++) {
    const res = await historyGet(app, `conversations/${id}/messages?limit=${limit}${after > 0 ? `&after=${after}` : ''}`, user);
    expect(res.status).toBe(200);
    messages.push(...(res.json.messages as ApiMessage[]));
    after = res.json.next as number | null;
  }
  return { pages, messages };
}

const CPIM_WITH_ID = [
  'From: <sip:alice@parley.test>',
  'To: <sip:bob@parley.test>',
  'DateTime: 2020-01-01T00:00:00Z',
  'NS: imdn <urn:ietf:params:imdn>',
  'imdn.Message-ID: rtv-1',
  '',
  'Content-Type: text/plain;charset=utf-8',
  '',
  'wrapped in CPIM',
].join('\r\n');

describe('HTTP retrieval of stored conversations (H1), digest through the aggregation proxy', () => {
  it('lists conversations and pages through messages: sender, recipients, type, text or base64 body, ISO and ms server time', async () => {
    const sent: [string, string, string, string | undefined][] = [
      ['alice', 'bob', 'one', undefined],
      ['bob', 'alice', 'two: ünïcödé', 'text/plain;charset=utf-8'],
      ['alice', 'bob', '\u0089PNG fake', 'image/png'],
      ['alice', 'bob', CPIM_WITH_ID, 'message/cpim'],
      ['bob', 'alice', 'five', undefined],
    ];
    for (const [from, to, body, contentType] of sent) expect(await pager(app, from, to, body, { contentType })).toMatch(/^SIP\/2\.0 202/);
    const c = await aliceWith('bob', 5);
    expect(c).toMatchObject({ kind: 'pager', uri: `sip:history-${c.id}@parley.test` });
    expect(new Date(c.startedMs).toISOString()).toBe(c.started);
    const { pages, messages } = await allMessages(c.id, 2);
    expect(pages).toBe(3);
    expect(messages.map((m) => [m.sender, m.recipients])).toEqual(sent.map(([f, t]) => [`sip:${f}@parley.test`, [`sip:${t}@parley.test`]]));
    expect(messages[0]).toMatchObject({ contentType: 'text/plain', encoding: 'text', body: 'one' });
    expect(messages[1]).toMatchObject({ encoding: 'text', body: 'two: ünïcödé' });
    expect(messages[2]).toMatchObject({ contentType: 'image/png', encoding: 'base64' });
    expect(Buffer.from(messages[2].body, 'base64').toString('utf8')).toBe('\u0089PNG fake');
    expect(messages[3]).toMatchObject({ contentType: 'message/cpim', encoding: 'text', body: CPIM_WITH_ID, messageId: 'rtv-1' });
    for (const m of messages) expect(new Date(m.timeMs).toISOString()).toBe(m.time);
    // server times in storage order
    expect(messages.map((m) => m.timeMs)).toEqual([...messages.map((m) => m.timeMs)].sort((a, b) => a - b));
  });

  it('answers bad paging with 400, another user with 403, an unknown id with 404, no credentials with a digest challenge', async () => {
    const c = await aliceWith('bob', 5);
    expect((await historyGet(app, `conversations/${c.id}/messages?limit=0`)).status).toBe(400);
    expect((await historyGet(app, `conversations/${c.id}/messages?after=x`)).status).toBe(400);
    // a limit over the maximum is cut to it
    expect(((await historyGet(app, `conversations/${c.id}/messages?limit=100000`)).json.messages as unknown[]).length).toBe(5);
    const other = await historyGet(app, `conversations/${c.id}/messages`, 'carol');
    expect(other.status).toBe(403);
    expect(other.json.error).toMatch(/not your conversation/);
    expect((await historyGet(app, 'conversations/no-such-id/messages')).status).toBe(404);
    expect((await historyGet(app, 'conversations/%E0%A4%A/messages')).status).toBe(400);
    expect(((await historyGet(app, 'conversations', 'carol')).json.conversations as unknown[]).length).toBe(0);
    const bare = await fetch(`http://127.0.0.1:${app.httpPort}/history/conversations`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toMatch(/^Digest /);
  });

  it("reads the user's session history, newest first, paged (H2)", async () => {
    const alice = await ChatClient.connect(app, 'alice', 'alice-pw');
    const bob = await ChatClient.connect(app, 'bob', 'bob-pw');
    try {
      for (const text of ['first session', 'second session']) {
        const [aCall, bCall] = await Promise.all([alice.invite('bob'), bob.answerInvite()]);
        const got = new Promise<ReceivedMessage>((r) => (bCall.session.onMessage = (m) => (m.report(200), r(m))));
        await aCall.session.send('text/plain', Buffer.from(text));
        await got;
        await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);
      }
    } finally {
      alice.close();
      bob.close();
    }
    const first = await eventually(async () => {
      const r = await historyGet(app, 'sessions?limit=1');
      return r.json.next !== null ? r : undefined;
    });
    const [newest] = first.json.sessions as Record<string, unknown>[];
    expect(newest).toMatchObject({ kind: 'one-to-one', caller: 'sip:alice@parley.test', callee: 'sip:bob@parley.test', messages: 1, endReason: 'bye-caller' });
    expect(new Date(newest.startedMs as number).toISOString()).toBe(newest.started);
    const second = await historyGet(app, `sessions?limit=1&before=${String(first.json.next)}`);
    const [older] = second.json.sessions as Record<string, unknown>[];
    expect(older.id as number).toBeLessThan(newest.id as number);
    expect(((await historyGet(app, 'sessions', 'bob')).json.sessions as unknown[]).length).toBe(2);
    expect(((await historyGet(app, 'sessions', 'carol')).json.sessions as unknown[]).length).toBe(0);
  });
});

describe('replay of a stored conversation over MSRP (H1)', () => {
  it('SENDs every stored message as message/cpim with its original From/To and the storage time as DateTime, in order, then BYE', async () => {
    const c = await aliceWith('bob', 5);
    const { messages: stored } = await allMessages(c.id, 100);
    const alice = await ChatClient.connect(app, 'alice', 'alice-pw');
    const received: ReceivedMessage[] = [];
    // collect from the moment the session exists: the replay starts as soon as the connection is bound
    const create = alice.msrp.create.bind(alice.msrp);
    alice.msrp.create = (...args) => {
      const s = create(...args);
      s.onMessage = (m) => {
        received.push(m);
        m.report(200);
      };
      return s;
    };
    try {
      const call = await alice.invite(`history-${c.id}`);
      expect(call.final).toMatch(/^SIP\/2\.0 200/);
      expect(call.peerMedia?.direction).toBe('sendonly');
      const bye = await alice.awaitBye(call);
      expect(bye).toMatch(/^BYE /);
      expect(received.map((m) => m.contentType)).toEqual(stored.map(() => 'message/cpim'));
      received.forEach((m, i) => {
        const s = stored[i];
        const cpim = Buffer.from(m.body).toString('utf8');
        const [head, inner, ...rest] = cpim.split('\r\n\r\n');
        const content = rest.join('\r\n\r\n');
        expect(head, `message ${i}`).toContain(`From: <${s.sender}>`);
        expect(head).toContain(`To: <${s.recipients[0]}>`);
        // RFC 3862 §4.4: DateTime is the server's storage time
        expect(/^DateTime: (.*)$/m.exec(head)?.[1]).toBe(s.time);
        if (s.contentType === 'message/cpim') {
          // a CPIM message is replayed with its own content and Message-ID
          expect(inner).toBe('Content-Type: text/plain;charset=utf-8');
          expect(content).toBe('wrapped in CPIM');
          expect(head).toContain('imdn.Message-ID: rtv-1');
        } else {
          expect(inner).toBe(`Content-Type: ${s.contentType}`);
          expect(Buffer.from(content, 'utf8').toString(s.encoding === 'base64' ? 'base64' : 'utf8')).toBe(s.body);
        }
      });
    } finally {
      alice.close();
    }
  });

  it("refuses another user's replay with 403 and an unknown conversation with 404", async () => {
    const c = await aliceWith('bob', 5);
    const carol = await ChatClient.connect(app, 'carol', 'carol-pw');
    try {
      expect((await carol.invite(`history-${c.id}`)).final).toMatch(/^SIP\/2\.0 403/);
      expect((await carol.invite('history-nothing-here')).final).toMatch(/^SIP\/2\.0 404/);
    } finally {
      carol.close();
    }
  });
});
