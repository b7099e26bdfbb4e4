import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, Settled, type RunningAppliance } from '../support/appliance.js';
import { RawClient } from '../support/raw-client.js';
import { withDigest } from '../support/sip-user.js';
import { xcapRequest } from '../support/xcap-client.js';
import { conversationsOf } from '../support/conversations.js';
import { addConsoleAccount, apiUrl, login, type AdminSession } from '../support/admin-client.js';

// Two nodes on one data folder: two appliance processes sharing the store (SQLite in WAL mode
// takes several processes, as the CLI-while-running tests show), each with its own ports.
const D = 'parley.test';
const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' };
type Name = keyof typeof USERS;
const aor = (n: string) => `sip:${n}@${D}`;
let a: RunningAppliance;
let b: RunningAppliance;

beforeAll(async () => {
  a = await startAppliance({ users: USERS });
  b = await startAppliance({ shareWith: a });
});
afterAll(async () => {
  await b?.cleanup();
  await a?.cleanup();
});

/** A text MESSAGE from `from` to `to` through `node` (digest over UDP), with extra header lines; the final response. */
async function message(node: RunningAppliance, from: Name, to: Name, text: string, headers: string[] = []): Promise<string> {
  const client = await RawClient.udp(node.sipPort);
  try {
    const spec = {
      method: 'MESSAGE', uri: `sip:${to}@${D}`, from: aor(from), to: aor(to), transport: 'UDP' as const, localPort: client.localPort,
      callId: `scale-${from}-${process.hrtime.bigint()}`, body: text, headers,
    };
    return await withDigest(client, spec, { name: from, password: USERS[from] }, 12_000);
  } finally {
    client.close();
  }
}

/** The same console session, its requests sent to `node` (sessions are rows in the shared store). */
function through(node: RunningAppliance, s: AdminSession): (method: string, path: string, json?: unknown) => Promise<Response> {
  return (method, path, json) =>
    fetch(apiUrl(node, path), {
      method,
      headers: { Cookie: s.cookie, 'X-CSRF-Token': s.csrfToken, ...(json === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
}

interface Job { id: string; state: string; done: number; total: number; filename: string; error: string | null }

/** `owner`'s pager conversation with `peer`, as the store has it. */
async function pagerConversation(owner: Name, peer: Name) {
  return (await conversationsOf(a, aor(owner))).find((c) => c.kind === 'pager' && c.peers[0] === aor(peer));
}

describe('state shared by two nodes through the store (issue 11)', () => {
  it('a pager recording started on one node stores what the other node takes, and one stopped there ends on the first', async () => {
    // carol is offline: her messages are kept for later (202)
    expect(await message(a, 'alice', 'carol', 'keep this, on node A', ['Conversation-Store: on'])).toMatch(/^SIP\/2\.0 202/);
    const started = await eventually(() => pagerConversation('alice', 'carol').then((c) => c?.recording === true && c.messageCount === 1 && c));

    // node B learns of the recording within its watch interval: wait until a message it takes is stored
    await eventually(async () => {
      expect(await message(b, 'alice', 'carol', 'through node B')).toMatch(/^SIP\/2\.0 202/);
      return ((await pagerConversation('alice', 'carol'))?.messageCount ?? 0) > 1;
    });

    // stopped through node B (that message is not stored): node A stops storing within its interval
    expect(await message(b, 'alice', 'carol', 'stop now', ['Conversation-Store: off'])).toMatch(/^SIP\/2\.0 202/);
    await eventually(() => pagerConversation('alice', 'carol').then((c) => c?.recording === false));
    await eventually(async () => {
      const before = (await pagerConversation('alice', 'carol'))!.messageCount;
      expect(await message(a, 'alice', 'carol', 'not kept, on node A')).toMatch(/^SIP\/2\.0 202/);
      return (await pagerConversation('alice', 'carol'))!.messageCount === before;
    });
    expect((await pagerConversation('alice', 'carol'))!.publicId).toBe(started.publicId);
  });

  it("a storage preference set through one node's XCAP server is followed by the other node", async () => {
    const put = await xcapRequest(a, 'PUT', `im-preferences/users/${aor('bob')}/index`, {
      user: 'bob',
      body: '<im-preferences xmlns="urn:parley:params:xml:ns:im-prefs"><store-conversations>true</store-conversations></im-preferences>',
      headers: { 'Content-Type': 'application/vnd.parley.im-preferences+xml' },
    });
    expect(put.status).toBe(201);
    // node B stores alice's plain messages to bob for bob once it has read the preference
    await eventually(async () => {
      expect(await message(b, 'alice', 'bob', 'stored for bob by node B')).toMatch(/^SIP\/2\.0 202/);
      return (await pagerConversation('bob', 'alice'))?.messageCount;
    });
    expect(await pagerConversation('alice', 'bob')).toBeUndefined();
  });

  it('an export started on one node is polled and downloaded on the other, and outlives a restart', async () => {
    await addConsoleAccount(a, 'helpdesk', 'helpdesk-password-1', 'support');
    const session = await login(a, 'helpdesk', 'helpdesk-password-1');
    const [onA, onB] = [through(a, session), through(b, session)];
    const chat = (await pagerConversation('alice', 'carol'))!;
    const post = await onA('POST', `/conversations/${chat.publicId}/exports`, { format: 'csv' });
    expect(post.status).toBe(202);
    const started = (await post.json()) as Job;
    expect(started).toMatchObject({ state: 'running', total: chat.messageCount });

    // node B answers the progress of node A's job, and serves its output
    let seen: Job | undefined;
    const job = await eventually(async () => {
      const res = await onB('GET', `/exports/${started.id}`);
      expect(res.status).toBe(200);
      const j = (seen = (await res.json()) as Job);
      // a failed job says why (it is not retried by waiting); a running one is waited for, with
      // room for a loaded CI machine (done in ~40 ms on an idle one)
      if (j.state === 'failed') return new Settled(`export failed: ${j.error}`);
      return j.state === 'done' && j;
    }, 30_000).catch((err: Error) => {
      // what node A, which runs the job, said about it
      const said = a.logs.filter((l) => /export|"level":(40|50)/.test(l)).slice(-10);
      throw new Error(`${err.message}\nlast job state: ${JSON.stringify(seen)}\nnode A:\n${said.join('\n')}`);
    });
    expect(job).toMatchObject({ done: chat.messageCount, total: chat.messageCount });
    const fromB = await onB('GET', `/exports/${job.id}/download`);
    expect(fromB.status).toBe(200);
    expect(fromB.headers.get('content-disposition')).toBe(`attachment; filename="${job.filename}"`);
    const csv = Buffer.from(await fromB.arrayBuffer());
    expect(Number(fromB.headers.get('content-length'))).toBe(csv.length);
    expect(csv.toString('utf8')).toContain('keep this, on node A');
    expect(csv.toString('utf8')).toContain('through node B');

    // node A restarted: the job and its output are still there, byte for byte
    await a.restart();
    const again = await onA('GET', `/exports/${job.id}`);
    expect(((await again.json()) as Job).state).toBe('done');
    const fromA = await onA('GET', `/exports/${job.id}/download`);
    expect(fromA.status).toBe(200);
    expect(Buffer.from(await fromA.arrayBuffer())).toEqual(csv);
  });
});
