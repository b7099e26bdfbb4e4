import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startAppliance, type RunningAppliance } from '../support/appliance.js';
import { xcapRequest } from '../support/xcap-client.js';
import { Subscriber } from '../support/subscriber.js';
import { conversationsOf, historyDocument, historyGet, pager } from '../support/history-client.js';

let app: RunningAppliance;
const DOC = 'im-history/users/sip:alice@parley.test/index';
const MIME = 'application/vnd.parley.im-history+xml';
const ATT = { 'Content-Type': 'application/xcap-att+xml' };
const EL = { 'Content-Type': 'application/xcap-el+xml' };
const node = (sel: string) => `${DOC}/~~/${encodeURI(sel)}`;

beforeAll(async () => {
  // the site policy stores every pager conversation: the seed for these tests
  app = await startAppliance({ config: { history: { storeAll: true } }, users: Object.fromEntries(['alice', 'bob', 'carol', 'dave', 'erin', 'frank'].map((u) => [u, `${u}-pw`])) });
  // one `parley user add` per user: slow on a loaded machine
}, 180_000);
afterAll(async () => {
  await app?.cleanup();
});

/** Alice's stored conversation with `peer`, after `bodies` were sent to it (each test has its own peer). */
async function seeded(peer: string, bodies: string[]) {
  const before = conversationsOf((await historyDocument(app)).body).find((x) => x.peers[0] === `sip:${peer}@parley.test` && x.recording === 'true');
  for (const b of bodies) expect(await pager(app, 'alice', peer, b)).toMatch(/^SIP\/2\.0 202/);
  return conversationWith(peer, Number(before?.messages ?? 0) + bodies.length);
}

/** Alice's conversation with `peer` as im-history shows it, once it has `count` messages. */
async function conversationWith(peer: string, count: number, user = 'alice') {
  return eventually(async () => {
    const c = conversationsOf((await historyDocument(app, user)).body).find((x) => x.peers[0] === `sip:${peer}@parley.test` && x.recording === 'true');
    return c !== undefined && Number(c.messages) === count ? c : undefined;
  });
}

describe('im-history: the view of the stored conversations (H1, seed 5.3.3)', () => {
  it('lists each stored conversation with id, name, kind, peers, times, count, size and replay URI; its strong ETag follows new messages', async () => {
    expect(await pager(app, 'alice', 'bob', 'hello bob')).toMatch(/^SIP\/2\.0 202/);
    expect(await pager(app, 'bob', 'alice', 'hi alice!')).toMatch(/^SIP\/2\.0 202/);
    const c = await conversationWith('bob', 2);
    expect(c.id).toMatch(/^[\w-]{16}$/);
    expect(c).toMatchObject({ kind: 'pager', name: 'Chat with bob@parley.test', bytes: String('hello bob'.length + 'hi alice!'.length), uri: `sip:history-${c.id}@parley.test` });
    expect(Date.parse(c.last) - Date.parse(c.started)).toBeGreaterThanOrEqual(0);
    const before = await historyDocument(app);
    expect(before.status).toBe(200);
    expect(before.etag).toMatch(/^"[\w-]+"$/);
    // RFC 9110 §13.1.2: the same ETag means not modified
    const again = await xcapRequest(app, 'GET', DOC, { headers: { 'If-None-Match': before.etag } });
    expect(again.status).toBe(304);
    await pager(app, 'alice', 'bob', 'third');
    await conversationWith('bob', 3);
    expect((await historyDocument(app)).etag).not.toBe(before.etag);
    // bob has his own conversation with alice
    expect((await conversationWith('alice', 3, 'bob')).id).not.toBe(c.id);
  });

  it('renames by attribute and by element PUT, under If-Match', async () => {
    const c = await seeded('bob', ['about the offsite']);
    const { etag } = await historyDocument(app);
    const stale = await xcapRequest(app, 'PUT', node(`history/conversation[@id="${c.id}"]/@name`), { body: 'Offsite', headers: { ...ATT, 'If-Match': '"not-it"' } });
    expect(stale.status).toBe(412);
    const renamed = await xcapRequest(app, 'PUT', node(`history/conversation[@id="${c.id}"]/@name`), { body: 'Offsite', headers: { ...ATT, 'If-Match': etag } });
    expect(renamed.status, await renamed.clone().text()).toBe(200);
    const after = await historyDocument(app);
    expect(renamed.headers.get('etag')).toBe(after.etag);
    expect(conversationsOf(after.body).find((x) => x.id === c.id)!.name).toBe('Offsite');
    // the whole element back, with only its name changed
    const el = await xcapRequest(app, 'GET', node(`history/conversation[@id="${c.id}"]`));
    const body = (await el.text()).replace('name="Offsite"', 'name="Offsite 2026"');
    const put = await xcapRequest(app, 'PUT', node(`history/conversation[@id="${c.id}"]`), { body, headers: EL });
    expect(put.status, await put.clone().text()).toBe(200);
    expect(conversationsOf((await historyDocument(app)).body).find((x) => x.id === c.id)!.name).toBe('Offsite 2026');
    // and the HTTP API sees the same name
    const list = (await historyGet(app, 'conversations')).json.conversations as { id: string; name: string }[];
    expect(list.find((x) => x.id === c.id)!.name).toBe('Offsite 2026');
  });

  it('refuses made-up conversations and changes to what the server keeps, with RFC 4825 409 bodies, changing nothing', async () => {
    const c = await seeded('carol', ['c1']);
    const { etag, body } = await historyDocument(app);
    const refusals: [string, Promise<Response>, string][] = [
      ['count', xcapRequest(app, 'PUT', node(`history/conversation[@id="${c.id}"]/@messages`), { body: '1000', headers: ATT }), 'constraint-failure'],
      ['start time', xcapRequest(app, 'PUT', node(`history/conversation[@id="${c.id}"]/@started`), { body: '2020-01-01T00:00:00Z', headers: ATT }), 'constraint-failure'],
      ['peer', xcapRequest(app, 'PUT', node(`history/conversation[@id="${c.id}"]/peer`), { body: '<peer>sip:mallory@parley.test</peer>', headers: EL }), 'constraint-failure'],
      ['restart recording', xcapRequest(app, 'PUT', node(`history/conversation[@id="${c.id}"]/@recording`), { body: 'maybe', headers: ATT }), 'schema-validation-error'],
      ['made-up id', xcapRequest(app, 'PUT', node('history/conversation[@id="made-up"]'), { body: '<conversation id="made-up" name="x"><peer>sip:carol@parley.test</peer></conversation>', headers: EL }), 'constraint-failure'],
      ['no id', xcapRequest(app, 'PUT', node('history/conversation[@name="new"]'), { body: '<conversation name="new"><peer>sip:carol@parley.test</peer></conversation>', headers: EL }), 'cannot-insert'],
      ['other ids', xcapRequest(app, 'PUT', DOC, { body: body.replace(new RegExp(`id="${c.id}"`), 'id="other"'), headers: { 'Content-Type': MIME } }), 'constraint-failure'],
      ['re-save with an id', xcapRequest(app, 'PUT', node('history/conversation[@name="dup"]'), { body: `<conversation id="x" resave-of="${c.id}" name="dup"/>`, headers: EL }), 'constraint-failure'],
    ];
    for (const [what, res, condition] of refusals) {
      const r = await res;
      expect(r.status, what).toBe(409);
      expect(r.headers.get('content-type'), what).toContain('application/xcap-error+xml');
      expect(await r.text(), what).toContain(`<${condition}`);
    }
    expect((await historyDocument(app)).etag).toBe(etag);
    // the whole document may be deleted only element by element
    expect((await xcapRequest(app, 'DELETE', DOC)).status).toBe(403);
  });

  it('re-saves a copy under a new name (201, Location names it), then deletes it with its messages', async () => {
    const c = await seeded('erin', ['e1', 'e2', 'e3']);
    const res = await xcapRequest(app, 'PUT', node(`history/conversation[@resave-of="${c.id}"]`), { body: `<conversation resave-of="${c.id}" name="Kept copy"/>`, headers: EL });
    expect(res.status, await res.clone().text()).toBe(201);
    const location = res.headers.get('location')!;
    expect(location).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/xcap-root/${DOC.replace(/\./g, '\\.')}/~~/history/conversation%5B@id=%22[\\w-]+%22%5D$`));
    const el = await fetchXcap(location);
    const copy = conversationsOf(`${el}`)[0];
    expect(copy.id).not.toBe(c.id);
    expect(copy).toMatchObject({ name: 'Kept copy', recording: 'false', messages: '3', bytes: c.bytes, started: c.started, kind: 'pager', peers: ['sip:erin@parley.test'] });
    // every message copied: same senders, bodies and server times
    const original = (await historyGet(app, `conversations/${c.id}/messages`)).json.messages as Record<string, unknown>[];
    const copied = (await historyGet(app, `conversations/${copy.id}/messages`)).json.messages as Record<string, unknown>[];
    const strip = (m: Record<string, unknown>) => ({ sender: m.sender, recipients: m.recipients, body: m.body, time: m.time });
    expect(copied.map(strip)).toEqual(original.map(strip));
    // DELETE of the element deletes the conversation and its messages
    const del = await xcapRequest(app, 'DELETE', node(`history/conversation[@id="${copy.id}"]`));
    expect(del.status).toBe(200);
    expect(conversationsOf((await historyDocument(app)).body).some((x) => x.id === copy.id)).toBe(false);
    expect((await historyGet(app, `conversations/${copy.id}/messages`)).status).toBe(404);
    // the original is untouched
    expect((await historyGet(app, `conversations/${c.id}/messages`)).json.messages).toHaveLength(3);
  });

  it('stops a recording with recording="false"; the next message starts a new conversation (site policy)', async () => {
    const c = await seeded('frank', ['one']);
    const res = await xcapRequest(app, 'PUT', node(`history/conversation[@id="${c.id}"]/@recording`), { body: 'false', headers: ATT });
    expect(res.status, await res.clone().text()).toBe(200);
    await pager(app, 'alice', 'frank', 'two');
    const fresh = await conversationWith('frank', 1);
    expect(fresh.id).not.toBe(c.id);
    const old = conversationsOf((await historyDocument(app)).body).find((x) => x.id === c.id)!;
    expect(old).toMatchObject({ recording: 'false', messages: '1' });
  });

  it('applies a burst of concurrent edits of one document, each atomically', async () => {
    const a = await seeded('dave', ['burst 1']);
    await pager(app, 'alice', 'erin', 'burst 2');
    const e = (await eventually(async () => conversationsOf((await historyDocument(app)).body).find((x) => x.peers[0] === 'sip:erin@parley.test' && x.recording === 'true')))!;
    const results = await Promise.all([
      xcapRequest(app, 'PUT', node(`history/conversation[@id="${a.id}"]/@name`), { body: 'Burst A', headers: ATT }),
      xcapRequest(app, 'PUT', node(`history/conversation[@id="${e.id}"]/@name`), { body: 'Burst E', headers: ATT }),
      xcapRequest(app, 'PUT', node(`history/conversation[@resave-of="${a.id}"]`), { body: `<conversation resave-of="${a.id}" name="Burst copy"/>`, headers: EL }),
      pager(app, 'alice', 'dave', 'burst 3'),
    ]);
    expect(results.slice(0, 3).map((r) => (r as Response).status)).toEqual([200, 200, 201]);
    const now = conversationsOf((await historyDocument(app)).body);
    expect(now.find((x) => x.id === a.id)!.name).toBe('Burst A');
    expect(now.find((x) => x.id === e.id)!.name).toBe('Burst E');
    expect(now.filter((x) => x.name === 'Burst copy')).toHaveLength(1);
  });

  it('is the owner’s alone: another user gets 403 reading or changing it', async () => {
    const c = await seeded('dave', ['d1']);
    expect((await xcapRequest(app, 'GET', DOC, { user: 'bob' })).status).toBe(403);
    expect((await xcapRequest(app, 'DELETE', node(`history/conversation[@id="${c.id}"]`), { user: 'bob' })).status).toBe(403);
    expect((await historyGet(app, `conversations/${c.id}/messages`, 'bob')).status).toBe(403);
  });

  it('tells xcap-diff subscribers of each change: rename, new message, new conversation, delete', async () => {
    const BOBS = 'im-history/users/sip:bob@parley.test/index';
    const sub = await Subscriber.udp(app, 'bob');
    try {
      const ok = await sub.subscribe({ event: 'xcap-diff', target: 'bob', accept: 'application/xcap-diff+xml' });
      expect(ok).toMatch(/^SIP\/2\.0 2/);
      const full = await sub.nextNotify();
      const first = await historyDocument(app, 'bob');
      expect(full.body).toContain(`<document new-etag="${first.etag.replace(/"/g, '&quot;')}" sel="${BOBS}"/>`);
      // each step, once its effect is in the document: what it did
      const steps: [string, () => Promise<unknown>][] = [
        ['new conversation', async () => pager(app, 'bob', 'carol', 'not alice’s').then(() => pager(app, 'carol', 'bob', 'x')).then(() => conversationWith('carol', 2, 'bob'))],
        ['new message', async () => pager(app, 'carol', 'bob', 'news').then(() => conversationWith('carol', 3, 'bob'))],
        // bob's own document (alice's is 403 to him)
        ['rename', async () => xcapRequest(app, 'PUT', `${BOBS}/~~/${encodeURI(`history/conversation[@id="${(await conversationWith('carol', 3, 'bob')).id}"]/@name`)}`, { user: 'bob', body: 'Carol', headers: ATT })],
        ['delete', async () => xcapRequest(app, 'DELETE', `${BOBS}/~~/${encodeURI(`history/conversation[@id="${(await conversationWith('carol', 3, 'bob')).id}"]`)}`, { user: 'bob' })],
      ];
      let previous = first.etag;
      for (const [what, step] of steps) {
        const res = await step();
        if (res instanceof Response) expect(res.status, what).toBe(200);
        // the NOTIFYs chain from the ETag told last to the document's ETag now (changes close
        // together, such as two messages stored in one commit, may be told as one)
        const now = (await historyDocument(app, 'bob')).etag;
        expect(now, what).not.toBe(previous);
        while (previous !== now) {
          const n = await sub.notifyWhere((x) => x.body.includes(`previous-etag="${previous.replace(/"/g, '&quot;')}"`));
          expect(n.body, what).toContain(`sel="${BOBS}"`);
          previous = /new-etag="([^"]*)"/.exec(n.body)![1].replace(/&quot;/g, '"');
        }
      }
      // the last ETag told is the document's (the chain reached the current state)
      await eventually(async () => (await historyDocument(app, 'bob')).etag === previous);
    } finally {
      sub.close();
    }
  });
});

async function fetchXcap(absolute: string): Promise<string> {
  const path = absolute.slice(absolute.indexOf('/xcap-root/') + '/xcap-root/'.length);
  const res = await xcapRequest(app, 'GET', path);
  expect(res.status).toBe(200);
  return res.text();
}
