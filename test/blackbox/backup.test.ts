import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAppliance, health, type RunningAppliance } from '../support/appliance.js';
import { sendMessage } from '../support/sip-user.js';
import { xcapRequest } from '../support/xcap-client.js';

const USERS = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`u${i}`, `u${i}-pw`]));
const NAMES = Object.keys(USERS);
const RL = 'urn:ietf:params:xml:ns:resource-lists';
const doc = (n: string, i: number) => `<?xml version="1.0" encoding="UTF-8"?>\n<resource-lists xmlns="${RL}"><list name="l${i}"><entry uri="sip:${n}@example.com"/></list></resource-lists>`;
const docPath = (app: RunningAppliance, user: string, i: number) => `resource-lists/users/sip:${user}@${app.domain}/list-${i}.xml`;

let app: RunningAppliance;
let target: RunningAppliance;
const work = mkdtempSync(path.join(os.tmpdir(), 'parley-backup-'));

beforeAll(async () => {
  app = await startAppliance({ users: USERS });
  target = await startAppliance();
});
afterAll(async () => {
  await app?.cleanup();
  await target?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const put = (a: RunningAppliance, user: string, i: number) =>
  xcapRequest(a, 'PUT', docPath(a, user, i), { user, body: doc(user, i), headers: { 'Content-Type': 'application/resource-lists+xml' } });

describe('parley backup / restore (A4)', () => {
  it('copies a serving store under load, and restores every user, document and stored message into a fresh folder', async () => {
    // before the backup: a document per user, two stored messages per user (nobody is registered)
    for (const res of await Promise.all(NAMES.map((u) => put(app, u, 0)))) expect(res.status).toBe(201);
    const sent = await Promise.all(NAMES.flatMap((u, i) => [0, 1].map((k) => sendMessage(app, { name: u, password: USERS[u] }, NAMES[(i + 1) % NAMES.length], `before ${u} ${k}`))));
    for (const r of sent) expect(r).toMatch(/^SIP\/2\.0 202/);

    // the backup runs while documents and messages keep arriving
    const file = path.join(work, 'parley.backup');
    const load = Promise.all([
      ...NAMES.map((u) => put(app, u, 1)),
      ...NAMES.map((u, i) => sendMessage(app, { name: u, password: USERS[u] }, NAMES[(i + 2) % NAMES.length], `during ${u}`)),
    ]);
    const out = await app.cli('backup', file);
    const during = await load;
    expect(during.filter((r) => typeof r === 'string').every((r) => /^SIP\/2\.0 202/.test(r as string))).toBe(true);
    const [, users, documents, stored] = /(\d+) users, (\d+) XCAP documents, (\d+) stored messages/.exec(out)!.map(Number);
    expect(users).toBe(NAMES.length);
    expect(documents).toBeGreaterThanOrEqual(NAMES.length);
    expect(stored).toBeGreaterThanOrEqual(2 * NAMES.length);
    expect(statSync(file).mode & 0o777).toBe(0o600); // it holds the message key and password hashes
    await expect(app.cli('backup', file)).rejects.toThrow(/exists already/);

    // restore: refused over a store, then forced into the stopped target
    await expect(target.cli('restore', file)).rejects.toThrow(/already holds a store: stop the service and add --force/);
    await target.stop();
    expect(await target.cli('restore', file, '--force')).toMatch(new RegExp(`${users} users, ${documents} XCAP documents, ${stored} stored messages`));
    await target.restart();

    expect((await target.cli('user', 'list')).trim().split('\n').map((l) => l.split('\t')[0]).sort()).toEqual([...NAMES].sort());
    expect((await health(target)).storedMessages).toBe(stored);
    // the stored bodies are sealed with the folder's key: the restored folder has the same one
    expect(readFileSync(path.join(target.dataDir, 'message-store.key'))).toEqual(readFileSync(path.join(app.dataDir, 'message-store.key')));
    for (const u of NAMES) {
      const res = await xcapRequest(target, 'GET', docPath(target, u, 0), { user: u });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(doc(u, 0));
    }
  });

  it('refuses a file that is not a backup, and a backup from a newer schema', async () => {
    const bogus = path.join(work, 'not-a-backup');
    writeFileSync(bogus, 'hello');
    await expect(target.cli('restore', bogus, '--force')).rejects.toThrow(/is not a Parley backup/);

    const file = path.join(work, 'newer.backup');
    await app.cli('backup', file);
    // a migration this version does not know, as a later Parley would have applied
    const { default: sqlite3 } = await import('sqlite3');
    await new Promise<void>((resolve, reject) => {
      const db = new sqlite3.Database(file, (err) => {
        if (err) return reject(err);
        db.run("INSERT INTO migrations (timestamp, name) VALUES (9999999999999, 'FutureThing9999999999999')", (e) => db.close(() => (e ? reject(e) : resolve())));
      });
    });
    await expect(target.cli('restore', file, '--force')).rejects.toThrow(/does not know \(FutureThing9999999999999\)/);
  });
});
