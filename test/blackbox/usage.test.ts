import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { startAppliance, eventually, ROOT, type RunningAppliance } from '../support/appliance.js';
import { sipp, sippOk, sippDevice, received } from '../support/sipp.js';
import { ChatClient } from '../support/msrp-client.js';
import type { ReceivedMessage } from '../../appliance/src/msrp/msrp-session.js';

// SIPp answers only MD5 challenges; one message per sender waiting for a recipient, so the second is refused (480);
// every accepted pager message stored in both users' conversations; records committed every 100 ms
const CONFIG = { auth: { algorithms: ['MD5', 'SHA-256'] }, deferred: { maxPerSender: 1 }, history: { storeAll: true }, usage: { flushMs: 100 } };
const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw', erin: 'erin-pw' };
const CLI = path.join(ROOT, 'appliance/dist/cli.js');

let app: RunningAppliance;
let from: string;
const clients: ChatClient[] = [];

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: USERS });
  from = new Date(Date.now() - 60_000).toISOString();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await app?.cleanup();
});

function send(sender: keyof typeof USERS, to: string, body: string) {
  return sipp({ scenario: 'message-uac.xml', remotePort: app.sipPort, service: sender, auth: { user: sender, password: USERS[sender] }, vars: { domain: app.domain, to, body } }).done;
}

/** The CLI's exit code, standard output and standard error (the harness's `cli` rejects on a failure). */
function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: app.env }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number((err as { code?: number }).code), stdout, stderr }));
  });
}

const to = (): string => new Date(Date.now() + 60_000).toISOString();
const aor = (u: string): string => `sip:${u}@parley.test`;

/** A record as the CSV gives it, without its id and time (they are checked apart). */
const line = (r: Record<string, string>): string => [r.kind, r.user, r.peer, r.service, r.outcome, r.status, r.reason, r.bytes, r.messages, r.duration_ms].join('|');

describe('usage records and `parley usage export` (C5)', () => {
  it('records pager messages (delivered, stored, refused), a session and stored-conversation messages, and exports them line by line', async () => {
    // delivered: bob has a device that answers 200
    const device = await sippDevice({ scenario: 'message-uas.xml', remotePort: app.sipPort, calls: 1, timeoutSec: 30 });
    await sippOk({ scenario: 'register.xml', remotePort: app.sipPort, service: 'bob', auth: { user: 'bob', password: 'bob-pw' }, vars: { domain: app.domain, expires: '300', contact: `127.0.0.1:${device.port}` } });
    const toBob = await send('alice', 'bob', 'hello bob');
    expect(received(toBob.messages).pop()).toMatch(/^SIP\/2\.0 200/);
    expect((await device.run.done).code).toBe(0);
    // stored: carol has no device (202), then refused: alice's one place in carol's store is taken (480)
    expect(received((await send('alice', 'carol', 'for later')).messages).pop()).toMatch(/^SIP\/2\.0 202/);
    expect(received((await send('alice', 'carol', 'one too many')).messages).pop()).toMatch(/^SIP\/2\.0 480/);
    // a one-to-one session: dave calls erin, one message, dave hangs up
    const dave = await ChatClient.connect(app, 'dave', USERS.dave, true);
    const erin = await ChatClient.connect(app, 'erin', USERS.erin, true);
    clients.push(dave, erin);
    const [dCall, eCall] = await Promise.all([dave.invite('erin'), erin.answerInvite()]);
    expect(dCall.final).toMatch(/^SIP\/2\.0 200/);
    const got = new Promise<ReceivedMessage>((resolve) => {
      eCall.session.onMessage = (m) => {
        m.report(200);
        resolve(m);
      };
    });
    expect((await dCall.session.send('text/plain', Buffer.from('hi erin'))).status).toBe(200);
    await got;
    const bye = dave.bye(dCall);
    await erin.awaitBye(eCall);
    await bye;

    // the body's bytes on the wire: SIPp's scenario ends the text with a CRLF
    const n = (text: string): number => Buffer.byteLength(text) + 2;
    const expected = [
      `pager|${aor('alice')}|${aor('bob')}||delivered|200|OK|${n('hello bob')}||`,
      `conversation|${aor('alice')}|${aor('bob')}||stored|||${n('hello bob')}||`,
      `conversation|${aor('bob')}|${aor('alice')}||stored|||${n('hello bob')}||`,
      `pager|${aor('alice')}|${aor('carol')}||stored|202|Accepted|${n('for later')}||`,
      `deferred|${aor('carol')}|${aor('alice')}||stored|||${n('for later')}||`,
      `conversation|${aor('alice')}|${aor('carol')}||stored|||${n('for later')}||`,
      `conversation|${aor('carol')}|${aor('alice')}||stored|||${n('for later')}||`,
      `pager|${aor('alice')}|${aor('carol')}||refused|480|Too many of your messages are waiting for this recipient|${n('one too many')}||`,
      // history.storeAll stores the session for both sides too (7 bytes: 'hi erin')
      `conversation|${aor('dave')}|${aor('erin')}||stored|||7||`,
      `conversation|${aor('erin')}|${aor('dave')}||stored|||7||`,
      `session|${aor('dave')}|${aor('erin')}||ended||bye-caller|7|1|`,
    ];
    // waiting for the last record (the session's, written when it ends) to be committed and exported
    const rows = await eventually(async () => {
      const r = parse(await app.cli('usage', 'export', '--from', from, '--to', to(), '--format', 'csv'), { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
      return r.length >= expected.length && r;
    }, 20_000);
    // every line, and nothing else (the session's duration is whatever it took: checked apart)
    const session = rows.find((r) => r.kind === 'session')!;
    expect(Number(session.duration_ms)).toBeGreaterThanOrEqual(0);
    expect(rows.map((r) => line({ ...r, duration_ms: '' })).sort()).toEqual([...expected].sort());
    // in time order, ids unique, times ISO 8601 within the range
    const times = rows.map((r) => Date.parse(r.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(rows.every((r) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(r.at) && Date.parse(r.at) >= Date.parse(from))).toBe(true);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);

    // JSON Lines: the same records, one per line, for one user (as user or peer)
    const json = (await app.cli('usage', 'export', '--from', from, '--to', to(), '--format', 'json', '--user', 'carol')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(json.map((r) => `${String(r.kind)}|${String(r.outcome)}|${String(r.status)}`)).toEqual(
      rows.filter((r) => r.user === aor('carol') || r.peer === aor('carol')).map((r) => `${r.kind}|${r.outcome}|${r.status === '' ? 'null' : r.status}`),
    );

    // into a new file, which is then refused a second time
    const file = path.join(app.dataDir, 'usage.csv');
    const written = await run('usage', 'export', '--from', from, '--to', to(), '--output', file);
    expect(written.code).toBe(0);
    expect(parse(readFileSync(file, 'utf8'), { columns: true, record_delimiter: '\r\n' })).toHaveLength(rows.length);
    const again = await run('usage', 'export', '--from', from, '--to', to(), '--output', file);
    expect(again).toMatchObject({ code: 2, stderr: expect.stringMatching(/usage\.csv exists: give a new file/) });
  }, 90_000);

  it("records the stored message's delivery when its recipient registers", async () => {
    const device = await sippDevice({ scenario: 'message-uas.xml', remotePort: app.sipPort, calls: 1, timeoutSec: 30 });
    await sippOk({ scenario: 'register.xml', remotePort: app.sipPort, service: 'carol', auth: { user: 'carol', password: USERS.carol }, vars: { domain: app.domain, expires: '300', contact: `127.0.0.1:${device.port}` } });
    expect(received((await device.run.done).messages)[0]).toContain('for later');
    // waiting for the delivery's record to be committed
    const delivered = await eventually(async () => {
      const lines = (await app.cli('usage', 'export', '--from', from, '--to', to(), '--format', 'json', '--user', 'carol')).trimEnd().split('\n');
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.kind === 'deferred' && r.outcome === 'delivered');
    }, 20_000);
    expect(delivered).toMatchObject({ user: aor('carol'), peer: aor('alice'), bytes: Buffer.byteLength('for later') + 2, status: null });
  }, 60_000);

  it('says what is wrong with the options, exit status 2, and writes nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['--from', 'last week', '--to', '2026-12-01'], /--from "last week": give a date \(YYYY-MM-DD\) or an ISO 8601 date and time/],
      [['--from', '2026-11-01', '--to', '2026-02-30'], /--to "2026-02-30": no such date/],
      [['--from', '2026-12-01', '--to', '2026-11-01'], /must be after --from/],
      [['--to', '2026-11-01'], /--from is required/],
      [['--from', '2026-11-01', '--to', '2026-12-01', '--format', 'xml'], /--format "xml": csv or json/],
    ];
    const results = await Promise.all(cases.map(([args]) => run('usage', 'export', ...args)));
    for (const [i, [args, message]] of cases.entries()) {
      const r = results[i];
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
    }
  }, 90_000); // five CLI processes at once, each loading the appliance's modules
});
