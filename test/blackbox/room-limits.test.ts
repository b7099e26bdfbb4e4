import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { ChatClient } from '../support/msrp-client.js';
import { headerOf } from '../support/raw-client.js';
import { putGroupRooms } from '../support/rooms.js';
import { Subscriber } from '../support/subscriber.js';
import { readConferenceInfo, type UserInfo } from '../support/conference-info.js';

const NAMES = ['alice', 'bob', 'carol', 'dave'] as const;
let app: RunningAppliance;
const clients: ChatClient[] = [];
const subscribers: Subscriber[] = [];

beforeAll(async () => {
  // the operator allows two participants per room, whatever the groups say
  app = await startAppliance({ users: Object.fromEntries(NAMES.map((n) => [n, `${n}-pw`])), config: { conference: { maxParticipants: 2 } } });
  // "square" has no limit of its own; "plaza" asks for 10, above the operator's cap
  expect(await putGroupRooms(app, 'alice', [{ name: 'square' }, { name: 'plaza', maxParticipants: 10 }])).toBe(201);
});
afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of subscribers) s.close();
  await app?.cleanup();
});

async function client(name: (typeof NAMES)[number], register = false): Promise<ChatClient> {
  const c = await ChatClient.connect(app, name, `${name}-pw`, register);
  clients.push(c);
  return c;
}

describe("the operator's participant limit (conference.maxParticipants)", () => {
  it('caps a room without a limit of its own and one whose group asks for more: the third caller gets 486 with the limit', async () => {
    const [alice, bob, carol] = [await client('alice'), await client('bob'), await client('carol')];
    for (const room of ['square', 'plaza']) {
      expect((await alice.invite(room)).final).toMatch(/^SIP\/2\.0 200 /);
      expect((await bob.invite(room)).final).toMatch(/^SIP\/2\.0 200 /);
      expect((await carol.invite(room)).final).toMatch(/^SIP\/2\.0 486 Room is full \(2 participants\)/);
    }
  });

  it('caps an ad-hoc room too: a listed user who answers once it is full gets a BYE saying why, and the conference-info shows their invitation failed', async () => {
    const [bob, carol, dave] = [await client('bob', true), await client('carol', true), await client('dave')];
    const D = app.domain;
    const list = `<?xml version="1.0" encoding="UTF-8"?>\r\n<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>${['bob', 'carol'].map((n) => `<entry uri="sip:${n}@${D}"/>`).join('')}</list></resource-lists>`;
    const wrap = (sdp: string) => ({
      body: ['--b1', 'Content-Type: application/sdp', '', sdp, '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', list, '--b1--', ''].join('\r\n'),
      contentType: 'multipart/mixed;boundary=b1',
    });
    // dave creates the room (one participant) and invites bob and carol: only one more fits; the
    // other's MSRP leg is closed by the focus, so that client's bind fails (481)
    const [created, answers] = await Promise.all([dave.invite('conf-factory', { wrap }), Promise.allSettled([bob.answerInvite(), carol.answerInvite()])]);
    expect(created.final).toMatch(/^SIP\/2\.0 200 /);
    expect(answers.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
    // and that one gets a BYE with the reason (RFC 3326)
    const bye = await Promise.any([bob, carol].map((c) => c.sip.next((x) => x.startsWith('BYE '), 10_000)));
    expect(headerOf(bye, 'Reason')[0]).toMatch(/text="Room is full \(2 participants\)"/);
    // the creator learns it from the room's conference-info (RFC 5366 §3.1): failed, not busy (the focus refused, RFC 4575 §5.6.5)
    const loser = /<(sip:[^>]+)>/.exec(headerOf(bye, 'To')[0])![1];
    const room = /<sip:(chat-[0-9a-f]+)@/.exec(headerOf(created.final, 'Contact')[0])![1];
    const watcher = await Subscriber.udp(app, 'dave');
    subscribers.push(watcher);
    expect(await watcher.subscribe({ event: 'conference', target: room, accept: 'application/conference-info+xml' })).toMatch(/^SIP\/2\.0 200/);
    const users = new Map<string, UserInfo>();
    const end = Date.now() + 10_000;
    // the first document is full, the later ones name whole users (state full) for an invitation
    while (users.get(loser)?.endpoints[0]?.status !== 'disconnected') {
      if (Date.now() > end) throw new Error(`conference-info never showed ${loser} disconnected`);
      for (const u of readConferenceInfo((await watcher.nextNotify(Math.max(1, end - Date.now()))).body).users) users.set(u.entity, u);
    }
    expect(users.get(loser)!.endpoints[0]).toMatchObject({ entity: loser, disconnectionMethod: 'failed', reason: 'SIP;cause=486;text="Room is full (2 participants)"', joiningMethod: 'dialed-out' });
  });
});
