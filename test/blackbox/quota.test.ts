import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { RawClient, headerOf } from '../support/raw-client.js';
import { registerContact, sendMessage } from '../support/sip-user.js';
import { xcapRequest } from '../support/xcap-client.js';
import { addConsoleAccount, login, type AdminSession } from '../support/admin-client.js';

const D = 'parley.test';
const NAMES = ['alice', 'bob', 'carol', 'dave'] as const;
type Name = (typeof NAMES)[number];
const user = (name: Name) => ({ name, password: `${name}-pw` });
// small quotas so a few messages cross the thresholds: 1000 bytes, warnings at 50% and 80%
const CONFIG = { quota: { defaultBytes: 1000, warnAt: [50, 80] } };
const STORAGE = `sip:storage@${D}`;

let app: RunningAppliance;
let admin: AdminSession;
let support: AdminSession;
const devices = new Map<Name, RawClient>();

async function online(name: Name): Promise<RawClient> {
  const dev = await RawClient.udp(app.sipPort);
  devices.set(name, dev);
  expect(await registerContact(app, user(name), `127.0.0.1:${dev.localPort}`)).toMatch(/^SIP\/2\.0 200/);
  return dev;
}

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: Object.fromEntries(NAMES.map((n) => [n, `${n}-pw`])) });
  await online('alice');
  await online('bob');
  await addConsoleAccount(app, 'root', 'root-password-1');
  await addConsoleAccount(app, 'helpdesk', 'helpdesk-password-1', 'support');
  admin = await login(app, 'root', 'root-password-1');
  support = await login(app, 'helpdesk', 'helpdesk-password-1');
  // two CLI runs and a start: on a loaded CI machine each CLI run alone can take 10 s
}, 120_000);
afterAll(async () => {
  for (const d of devices.values()) d.close();
  await app?.cleanup();
});

/** `from` sends `body` to `to` (authenticating when challenged); the final response. */
const send = (from: Name, to: Name, body: string, headers: string[] = []): Promise<string> => sendMessage(app, user(from), to, body, { headers });

/** The next MESSAGE a device gets whose text includes `marker`, answered 200. */
async function receive(dev: RawClient, marker: string): Promise<string> {
  const m = await dev.next((x) => x.startsWith('MESSAGE ') && x.includes(marker), 12_000);
  dev.answer(m, 200, 'OK', 'dev');
  return m;
}

/** alice asks to store her chat with bob and sends him `n` bytes; bob's device takes it live. Alice's answer. */
async function storedToBob(n: number, marker: string): Promise<string> {
  const body = `${marker}:`.padEnd(n, 'x');
  const [answer] = await Promise.all([send('alice', 'bob', body, ['Conversation-Store: on']), receive(devices.get('bob')!, marker)]);
  return answer;
}

const statusLine = (r: string) => r.split('\r\n')[0];
const bodyOf = (m: string) => m.slice(m.indexOf('\r\n\r\n') + 4);

/** The user's quota document over XCAP, its elements as numbers (storing as 1/0). */
async function quotaDoc(name: Name): Promise<Record<string, number>> {
  const res = await xcapRequest(app, 'GET', `storage-quota/users/sip:${name}@${D}/index`, { user: name });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('application/vnd.parley.storage-quota+xml');
  const xml = await res.text();
  const out: Record<string, number> = {};
  for (const el of ['used', 'quota', 'percent', 'conversation-bytes', 'deferred-bytes', 'level']) out[el] = Number(new RegExp(`<${el}>(\\d+)</${el}>`).exec(xml)![1]);
  out.storing = /<storing>true<\/storing>/.test(xml) ? 1 : 0;
  out.thresholds = Number([...xml.matchAll(/<threshold>(\d+)<\/threshold>/g)].map((m) => m[1]).join(''));
  return out;
}

describe('storage quota (H3): warnings at each threshold, refusal at 100% while live delivery goes on', () => {
  it('counts stored conversation bytes exactly and warns once per threshold from the service identity', async () => {
    expect(statusLine(await storedToBob(400, 'q-one'))).toBe('SIP/2.0 200 OK');
    expect(await eventually(async () => ((await quotaDoc('alice')).used === 400 ? quotaDoc('alice') : undefined))).toMatchObject({
      used: 400, quota: 1000, percent: 40, 'conversation-bytes': 400, 'deferred-bytes': 0, level: 0, storing: 1, thresholds: 5080100,
    });
    // 550 bytes: past 50%
    await storedToBob(150, 'q-two');
    const first = await receive(devices.get('alice')!, 'Storage warning');
    expect(headerOf(first, 'From')[0]).toContain(`<${STORAGE}>`);
    expect(headerOf(first, 'Content-Type')).toEqual(['text/plain;charset=utf-8']);
    expect(bodyOf(first)).toBe('Storage warning: you store 550 bytes of 1000 bytes (55%) of your storage quota, past 50%. At 100% new messages are no longer stored.');
    expect(await quotaDoc('alice')).toMatchObject({ used: 550, percent: 55, level: 50 });
    // 850 bytes: past 80%; the 50% warning is not repeated
    await storedToBob(300, 'q-three');
    const second = await receive(devices.get('alice')!, 'Storage warning');
    expect(bodyOf(second)).toContain('850 bytes of 1000 bytes (85%)');
    expect(bodyOf(second)).toContain('past 80%');
    expect(await quotaDoc('alice')).toMatchObject({ used: 850, level: 80 });
  });

  it('at the quota: the message is still delivered live, not stored, the sender told by a Warning and once by the service', async () => {
    const answer = await storedToBob(200, 'q-four');
    expect(statusLine(answer)).toBe('SIP/2.0 200 OK');
    // RFC 3261 §20.43: warn-code 399, the server adding it as warn-agent
    expect(headerOf(answer, 'Warning')).toHaveLength(1);
    expect(headerOf(answer, 'Warning')[0]).toMatch(/^399 \S+ "Not stored: storage quota reached"$/);
    const reached = await receive(devices.get('alice')!, 'Storage quota reached');
    expect(bodyOf(reached)).toContain('850 bytes of 1000 bytes (85%)');
    expect(await eventually(async () => ((await quotaDoc('alice')).level === 100 ? quotaDoc('alice') : undefined))).toMatchObject({ used: 850, 'conversation-bytes': 850 });
    // again: delivered and flagged, no second "reached" notice (the next notice alice gets is the one below)
    expect(headerOf(await storedToBob(200, 'q-five'), 'Warning')[0]).toContain('Not stored');
    // a message that fits is stored again, and the sender's answer has no Warning
    const small = await storedToBob(100, 'q-six');
    expect(headerOf(small, 'Warning')).toEqual([]);
    await eventually(async () => (await quotaDoc('alice')).used === 950);
    expect((await quotaDoc('alice')).level).toBe(100);
    await expect(devices.get('alice')!.next((x) => x.includes('Storage quota reached'), 0)).rejects.toThrow(/no matching message/);
  });

  it('counts deferred bytes for an offline recipient; past her quota a message to be stored is 480 with Retry-After', async () => {
    expect((await admin.request('PUT', '/quotas/carol', { json: { bytes: 300 } })).status).toBe(200);
    expect(statusLine(await send('alice', 'carol', 'd1:'.padEnd(200, 'y')))).toBe('SIP/2.0 202 Accepted');
    expect(await quotaDoc('carol')).toMatchObject({ used: 200, quota: 300, 'deferred-bytes': 200, 'conversation-bytes': 0, level: 50 });
    const refused = await send('alice', 'carol', 'd2:'.padEnd(200, 'y'));
    expect(statusLine(refused)).toBe("SIP/2.0 480 Recipient's storage quota is full");
    expect(headerOf(refused, 'Retry-After')).toEqual(['3600']);
    // the warnings waiting for carol are stored without counting: still 200 bytes
    expect(await quotaDoc('carol')).toMatchObject({ used: 200, level: 100 });
    // carol comes online: the stored message and both notices arrive; her usage drops to nothing
    const dev = await online('carol');
    await receive(dev, 'd1:');
    expect(bodyOf(await receive(dev, 'Storage warning'))).toContain('past 50%');
    expect(bodyOf(await receive(dev, 'Storage quota reached'))).toContain('200 bytes of 300 bytes (66%)');
    await eventually(async () => (await quotaDoc('carol')).used === 0);
    expect(await quotaDoc('carol')).toMatchObject({ used: 0, 'deferred-bytes': 0, level: 0 });
  });

  it('delivers live to an online recipient who is over her quota', async () => {
    expect((await admin.request('PUT', '/quotas/carol', { json: { bytes: 0 } })).status).toBe(200);
    const [answer, got] = await Promise.all([send('alice', 'carol', 'live-over-quota'), receive(devices.get('carol')!, 'live-over-quota')]);
    expect(statusLine(answer)).toBe('SIP/2.0 200 OK');
    expect(bodyOf(got)).toBe('live-over-quota');
    expect((await admin.request('PUT', '/quotas/carol', { json: { bytes: null } })).status).toBe(200);
  });

  it('warns again after usage dropped below a threshold and crossed it again', async () => {
    // dave is offline: 600 deferred bytes cross 50%; delivered, they go; 600 more cross 50% again
    for (const round of [1, 2]) {
      expect(statusLine(await send('bob', 'dave', `r${round}:`.padEnd(600, 'z')))).toBe('SIP/2.0 202 Accepted');
      expect(await quotaDoc('dave')).toMatchObject({ used: 600, level: 50 });
      const dev = devices.get('dave') ?? (await online('dave'));
      if (round === 2) expect(await registerContact(app, user('dave'), `127.0.0.1:${dev.localPort}`)).toMatch(/^SIP\/2\.0 200/);
      await receive(dev, `r${round}:`);
      expect(bodyOf(await receive(dev, 'Storage warning'))).toContain('600 bytes of 1000 bytes (60%)');
      await eventually(async () => (await quotaDoc('dave')).used === 0);
      expect((await quotaDoc('dave')).level).toBe(0);
      // offline again for the second round
      expect(await registerContact(app, user('dave'), `127.0.0.1:${dev.localPort}`, 0)).toMatch(/^SIP\/2\.0 200/);
    }
  });
});

describe('the quota document over XCAP is the owner’s, and read-only', () => {
  it('refuses another user (403) and writes (405, Allow: GET)', async () => {
    expect((await xcapRequest(app, 'GET', `storage-quota/users/sip:alice@${D}/index`, { user: 'bob' })).status).toBe(403);
    for (const method of ['PUT', 'DELETE']) {
      const res = await xcapRequest(app, method, `storage-quota/users/sip:alice@${D}/index`, { body: method === 'PUT' ? '<storage-quota/>' : undefined, headers: { 'Content-Type': 'application/vnd.parley.storage-quota+xml' } });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET');
    }
    expect((await xcapRequest(app, 'GET', `storage-quota/users/sip:alice@${D}/other`)).status).toBe(404);
    expect(await (await xcapRequest(app, 'GET', 'xcap-caps/global/index')).text()).toContain('<auid>storage-quota</auid>');
  });
});

describe('quotas in the admin API and the CLI', () => {
  it('lists usage per user largest first with near/over, to support too; only admin sets quotas, audited', async () => {
    const res = await support.request('GET', '/quotas');
    expect(res.status).toBe(200);
    const list = (await res.json()) as { defaultBytes: number; thresholds: number[]; items: { user: string; usedBytes: number; state: string; override: boolean }[] };
    expect(list.defaultBytes).toBe(1000);
    expect(list.thresholds).toEqual([50, 80, 100]);
    expect(list.items[0]).toMatchObject({ user: 'alice', usedBytes: 950, state: 'near', override: false });
    expect(list.items.map((i) => i.user).sort()).toEqual([...NAMES].sort());
    const asc = (await (await support.request('GET', '/quotas?sort=bytes&order=asc')).json()) as typeof list;
    expect(asc.items.at(-1)!.user).toBe('alice');
    expect((await support.request('PUT', '/quotas/bob', { json: { bytes: 5 } })).status).toBe(403);
    const set = await admin.request('PUT', '/quotas/alice', { json: { bytes: 900 } });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ user: 'alice', quotaBytes: 900, override: true, state: 'over' });
    const over = (await (await support.request('GET', '/quotas?state=over')).json()) as typeof list;
    expect(over.items.map((i) => i.user)).toEqual(['alice']);
    expect((await admin.request('PUT', '/quotas/alice', { json: { bytes: -1 } })).status).toBe(400);
    expect((await admin.request('PUT', '/quotas/nobody', { json: { bytes: 1 } })).status).toBe(404);
    const audit = (await (await admin.request('GET', '/audit?action=quota.set')).json()) as { items: { target: string; before: unknown; after: unknown }[] };
    expect(audit.items[0]).toMatchObject({ target: 'alice', before: { bytes: null }, after: { bytes: 900 } });
  });

  it('parley quota set/show, and the running server follows at once', async () => {
    expect(await app.cli('quota', 'set', 'alice', '2K')).toContain('alice\t950\t2048\t46%');
    await eventually(async () => (await quotaDoc('alice')).quota === 2048);
    expect(await app.cli('quota', 'set', 'alice', 'default')).toContain('alice\t950\t1000 (default)');
    // back at 95% of the default: the server, not the CLI, tells alice she is past 80% again
    expect(bodyOf(await receive(devices.get('alice')!, 'Storage warning'))).toContain('950 bytes of 1000 bytes (95%)');
    expect(await app.cli('quota', 'show')).toMatch(/^default quota 1000 bytes .*warnings at 50, 80, 100%\nalice\t950\t/);
    await expect(app.cli('quota', 'set', 'alice', 'lots')).rejects.toThrow(/not a size in bytes/);
    await eventually(async () => (await quotaDoc('alice')).quota === 1000);
  }, 120_000);
});

describe('the ledger survives a restart and is repaired by a recount', () => {
  it('keeps usage across a restart; parley quota recount recomputes it from the stored messages', async () => {
    await app.restart();
    expect(await quotaDoc('alice')).toMatchObject({ used: 950, 'conversation-bytes': 950, level: 80 });
    const out = await app.cli('quota', 'recount');
    expect(out).toContain('alice\t950 -> 950');
    expect(out).not.toContain('corrected');
  }, 120_000);
});
