import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { addConsoleAccount, login, type AdminSession } from '../support/admin-client.js';
import { TRAFFIC, TRAFFIC_USERS, csvCellOf, oneSession, sendTraffic } from '../support/conversation-traffic.js';

// Stored conversations in the admin API (issue 11, A2/A3): search across users, the reader, export
// jobs and their files, the audit trail of every read and export, and a user's session history.
// The conversations come from real pager traffic (history.storeAll), the checks from the wire.
const USERS = TRAFFIC_USERS;
const SENT = TRAFFIC;
const ALICE = 'sip:alice@parley.test';
const BOB = 'sip:bob@parley.test';
const CAROL = 'sip:carol@parley.test';

let app: RunningAppliance;
let admin: AdminSession;
let support: AdminSession;
let before: number;
let after: number;

const json = async <T>(res: Response | Promise<Response>, status = 200): Promise<T> => {
  const r = await res;
  const text = await r.text();
  expect(r.status, text).toBe(status);
  return JSON.parse(text) as T;
};

interface Hit { id: string; owner: string; peers: string[]; hits: number; lastHitAt: string; messageCount: number }
interface Page { items: Hit[]; total: number }
const search = (s: AdminSession, q: Record<string, string>) => json<Page>(s.request('GET', `/conversations?${new URLSearchParams(q)}`));
/** owner and peer of each hit, with its hit count */
const who = (p: Page) => p.items.map((c) => [c.owner, c.peers[0], c.hits]);

beforeAll(async () => {
  app = await startAppliance({ users: USERS, config: { history: { storeAll: true } } });
  await addConsoleAccount(app, 'root', 'root-password-1');
  await addConsoleAccount(app, 'helpdesk', 'helpdesk-password-1', 'support');
  [admin, support] = await Promise.all([login(app, 'root', 'root-password-1'), login(app, 'helpdesk', 'helpdesk-password-1')]);
  before = Date.now();
  // one at a time: the order of storing is the order the search and the reader show
  for (const status of await sendTraffic(app)) expect(status).toMatch(/^SIP\/2\.0 20[02]/);
  // each message goes into the sender's and the recipient's conversation
  await eventually(async () => (await search(admin, {})).items.reduce((n, c) => n + c.messageCount, 0) === 8 || undefined, 10_000);
  after = Date.now();
}, 60_000);
afterAll(async () => {
  await app?.cleanup();
});

describe('conversation search in the admin API', () => {
  it('finds by keyword across all users, diacritics folded, newest match first, with hit counts', async () => {
    expect(who(await search(support, { q: 'zurich' }))).toEqual([[BOB, ALICE, 1], [ALICE, BOB, 1]]);
    const noon = await search(support, { q: 'noon' });
    expect(noon.total).toBe(4);
    // the newest match (carol's message) first; alice's chat with bob has two matches
    expect(who(noon).slice(2)).toEqual([[BOB, ALICE, 2], [ALICE, BOB, 2]]);
    expect(who(noon).slice(0, 2).sort()).toEqual([[ALICE, CAROL, 1], [CAROL, ALICE, 1]]);
    expect(who(await search(support, { q: 'nOo*' }))).toHaveLength(4);
  });

  it('narrows by participant (owner or sender), peer, group, date range, and pages', async () => {
    // bob owns his chat with alice and sent a message in hers
    expect(who(await search(support, { participant: 'bob' })).sort()).toEqual([[ALICE, BOB, 2], [BOB, ALICE, 2]]);
    expect(who(await search(support, { participant: BOB, q: 'fine' })).sort()).toEqual([[ALICE, BOB, 1], [BOB, ALICE, 1]]);
    expect(who(await search(support, { peer: 'carol' }))).toEqual([[ALICE, CAROL, 2]]);
    expect((await search(support, { group: 'sip:team@parley.test' })).total).toBe(0);
    expect((await search(support, { to: new Date(before - 60_000).toISOString() })).total).toBe(0);
    expect((await search(support, { from: new Date(after + 60_000).toISOString() })).total).toBe(0);
    expect((await search(support, { from: new Date(before).toISOString(), to: new Date(after + 1).toISOString() })).total).toBe(4);
    const second = await search(support, { pageSize: '1', page: '2' });
    expect([second.total, second.items.length]).toEqual([4, 1]);
  });

  it('takes any typed text as a keyword (never as FTS5 syntax), and refuses bad filters naming the field', async () => {
    const typed = ['"', 'AND', 'noon OR fine', 'NEAR(noon', '*', '-noon', 'body:noon', "'; DROP TABLE conversations; --", '(', '{x}'];
    const totals = await Promise.all(typed.map(async (q) => (await search(support, { q })).total));
    // each word is a phrase of its own: "NEAR(noon" is the phrase "near noon", "-noon" the word noon
    expect(totals).toEqual([0, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
    const bad = async (q: string) => json<{ error: { code: string; field?: string } }>(support.request('GET', `/conversations?${q}`), 400);
    expect((await bad(`from=${new Date(after).toISOString()}&to=${new Date(before).toISOString()}`)).error.field).toBe('from');
    expect((await bad(`q=${'x'.repeat(257)}`)).error.field).toBe('q');
    expect((await bad('from=yesterday')).error.field).toBe('from');
    expect((await bad('owner=alice')).error).toMatchObject({ code: 'unknown_field', field: 'owner' });
  });
});

interface Message { id: number; sender: string; recipients: string[]; contentType: string; displayType: string; text: string | null; storedAt: string; bytes: number }

describe('the conversation reader', () => {
  it('opens the messages page by page, in order, with their times, and audits every read', async () => {
    const [chat] = (await search(support, { participant: 'alice', peer: 'bob' })).items;
    expect(await json(support.request('GET', `/conversations/${chat.id}`))).toMatchObject({ id: chat.id, owner: ALICE, peers: [BOB], messageCount: 2, kind: 'pager' });
    const first = await json<{ items: Message[]; next: number | null }>(support.request('GET', `/conversations/${chat.id}/messages?limit=1`));
    expect(first.items).toMatchObject([{ sender: ALICE, recipients: [BOB], text: SENT[0].body, contentType: SENT[0].type, displayType: 'text/plain' }]);
    const second = await json<{ items: Message[]; next: number | null }>(support.request('GET', `/conversations/${chat.id}/messages?limit=1&after=${first.next}`));
    expect(second.items).toMatchObject([{ sender: BOB, text: SENT[1].body }]);
    const end = await json<{ items: Message[]; next: number | null }>(support.request('GET', `/conversations/${chat.id}/messages?after=${second.items[0].id}`));
    expect(end).toEqual({ items: [], next: null });
    const times = [...first.items, ...second.items].map((m) => Date.parse(m.storedAt));
    expect(times[0]).toBeGreaterThanOrEqual(before);
    expect(times[1]).toBeGreaterThanOrEqual(times[0]);
    expect(times[1]).toBeLessThanOrEqual(after);
    // a non-text message shows its type and no text
    const [withCarol] = (await search(support, { participant: 'alice', peer: 'carol' })).items;
    const opaque = await json<{ items: Message[] }>(support.request('GET', `/conversations/${withCarol.id}/messages`));
    expect(opaque.items.map((m) => [m.displayType, m.text])).toEqual([['application/vnd.parley-test', null], ['text/plain', SENT[3].body]]);

    const audit = await json<{ items: { actor: string; action: string; target: string; after: { owner: string; messages: number } }[] }>(admin.request('GET', '/audit?action=conversation.read'));
    expect(audit.items.filter((a) => a.target === chat.id).map((a) => [a.actor, a.after.owner, a.after.messages])).toEqual([
      ['helpdesk', ALICE, 0],
      ['helpdesk', ALICE, 1],
      ['helpdesk', ALICE, 1],
    ]);
    expect((await support.request('GET', '/conversations/nosuchconversation')).status).toBe(404);
    expect((await support.request('GET', '/conversations/bad%20id/messages')).status).toBe(400);
  });
});

interface Job { id: string; state: string; done: number; total: number; filename: string; format: string }

/** Starts an export as `s`, waits for it to finish, and downloads it: the response and its bytes. */
async function exported(s: AdminSession, conversation: string, format: string): Promise<{ job: Job; res: Response; bytes: Buffer }> {
  const started = await json<Job>(s.request('POST', `/conversations/${conversation}/exports`, { json: { format } }), 202);
  expect(started).toMatchObject({ format, total: 2 });
  // the job runs in the background; the console polls it the same way
  const job = await eventually(async () => {
    const j = await json<Job>(s.request('GET', `/exports/${started.id}`));
    return j.state === 'done' && j;
  }, 10_000);
  const res = await s.request('GET', `/exports/${job.id}/download`);
  expect(res.status).toBe(200);
  return { job, res, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe('conversation exports', () => {
  let chat: string;
  beforeAll(async () => {
    chat = (await search(admin, { participant: 'alice', peer: 'carol' })).items[0].id;
  });

  it('JSON: every field, the bodies byte for byte (non-text in base64), as a download named for the conversation', async () => {
    const { job, res, bytes } = await exported(support, chat, 'json');
    expect(job).toMatchObject({ done: 2, total: 2 });
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${job.filename}"`);
    expect(job.filename).toMatch(new RegExp(`^conversation-${chat}-\\d{8}-\\d{6}\\.json$`));
    const doc = JSON.parse(bytes.toString('utf8')) as { format: string; conversation: { id: string; owner: string }; messages: { sender: string; recipients: string[]; contentType: string; bodyEncoding: string; body: string; storedAt: string }[] };
    expect(doc.format).toBe('parley.conversation-export/1');
    expect(doc.conversation).toMatchObject({ id: chat, owner: ALICE });
    const read = await json<{ items: Message[] }>(admin.request('GET', `/conversations/${chat}/messages`));
    // parsed back, the export is the stored messages
    expect(doc.messages.map((m) => ({ sender: m.sender, recipients: m.recipients, contentType: m.contentType, body: Buffer.from(m.body, m.bodyEncoding === 'base64' ? 'base64' : 'utf8'), storedAt: m.storedAt }))).toEqual(
      [SENT[2], SENT[3]].map((s, i) => ({ sender: `sip:${s.from}@parley.test`, recipients: [`sip:${s.to}@parley.test`], contentType: s.type, body: Buffer.from(s.body), storedAt: read.items[i].storedAt })),
    );
    expect(doc.messages.map((m) => m.bodyEncoding)).toEqual(['base64', 'utf-8']);
  });

  it('CSV: RFC 4180 with a UTF-8 BOM, a header row, CRLF, quotes doubled', async () => {
    const other = (await search(admin, { participant: 'alice', peer: 'bob' })).items[0].id;
    const { job, res, bytes } = await exported(support, other, 'csv');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${job.filename}"`);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.toString('utf8');
    expect(text.replace(/"[^"]*"/g, '').split('\r\n')).toHaveLength(4);
    expect(text).not.toMatch(/[^\r]\n(?=[^"]*$)/);
    expect(text).toContain('"Lunch in Zürich at noon? ""quoted"", comma\r\nnew line <script>alert(1)</script>"');
    const rows = parse(text, { bom: true, columns: true }) as Record<string, string>[];
    expect(rows.map((r) => [r.sender, r.recipients, r.contentType, r.text, Buffer.from(r.body, r.bodyEncoding === 'base64' ? 'base64' : 'utf8').toString()])).toEqual(
      [SENT[0], SENT[1]].map((s) => [`sip:${s.from}@parley.test`, `sip:${s.to}@parley.test`, s.type, csvCellOf(s.body), csvCellOf(s.body)]),
    );
    // a text a spreadsheet would run as a formula is inert: a single quote in front (the JSON export keeps it as sent)
    expect(rows[1].text).toBe("'-Yes, noon is fine");
  });

  it('HTML: a self-contained, escaped transcript with ISO and readable times', async () => {
    const other = (await search(admin, { participant: 'alice', peer: 'bob' })).items[0].id;
    const { res, bytes } = await exported(support, other, 'html');
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = bytes.toString('utf8');
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\//);
    expect(html).toContain('Lunch in Zürich at noon? &quot;quoted&quot;, comma\r\nnew line &lt;script&gt;alert(1)&lt;/script&gt;');
    const read = await json<{ items: Message[] }>(admin.request('GET', `/conversations/${other}/messages`));
    for (const m of read.items) expect(html).toMatch(new RegExp(`<time datetime="${m.storedAt}">\\w+day, \\d+ \\w+ \\d{4} at \\d\\d:\\d\\d:\\d\\d UTC</time>`));
  });

  it('audits every export and download, keeps jobs to their account, and refuses what it does not make', async () => {
    const audit = await json<{ items: { actor: string; action: string; after: { format: string } }[] }>(admin.request('GET', '/audit?action=conversation.export'));
    expect(audit.items.map((a) => `${a.actor} ${a.action} ${a.after.format}`).sort()).toEqual(
      ['csv', 'html', 'json'].map((f) => `helpdesk conversation.export ${f}`),
    );
    const downloads = await json<{ items: unknown[] }>(admin.request('GET', '/audit?action=conversation.export.download'));
    expect(downloads.items).toHaveLength(3);
    const job = await json<Job>(support.request('POST', `/conversations/${chat}/exports`, { json: { format: 'json' } }), 202);
    expect((await admin.request('GET', `/exports/${job.id}`)).status).toBe(404);
    expect((await admin.request('GET', `/exports/${job.id}/download`)).status).toBe(404);
    const pdf = await json<{ error: { field: string } }>(support.request('POST', `/conversations/${chat}/exports`, { json: { format: 'pdf' } }), 400);
    expect(pdf.error.field).toBe('format');
    expect((await support.request('POST', '/conversations/nosuchconversation/exports', { json: { format: 'csv' } })).status).toBe(404);
    // a mutation like any other: without the CSRF token it is refused
    expect((await support.request('POST', `/conversations/${chat}/exports`, { json: { format: 'csv' }, csrf: false })).status).toBe(403);
  });
});

describe("a user's session history for support", () => {
  it('lists the finished sessions of a user, newest first', async () => {
    const { invite, bye } = await oneSession(app);
    expect(invite).toMatch(/^SIP\/2\.0 200 OK/);
    expect(bye).toMatch(/^SIP\/2\.0 200/);
    // the history row is written when the session's legs are gone
    const page = await eventually(async () => {
      const p = await json<{ items: { kind: string; caller: string; callee: string; endReason: string; startedAt: string; endedAt: string }[]; total: number }>(support.request('GET', '/users/erin/sessions'));
      return p.total > 0 && p;
    });
    expect(page.items[0]).toMatchObject({ kind: 'one-to-one', caller: 'sip:dave@parley.test', callee: 'sip:erin@parley.test', endReason: 'bye-caller' });
    expect(Date.parse(page.items[0].endedAt)).toBeGreaterThanOrEqual(Date.parse(page.items[0].startedAt));
    expect(await json(support.request('GET', '/users/carol/sessions'))).toEqual({ items: [], total: 0 });
    expect((await support.request('GET', '/users/bad%20name/sessions')).status).toBe(400);
  });
});
