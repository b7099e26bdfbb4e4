import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { multipartParts } from '../support/mime.js';
import { ImUser, bodyOf, cpimWithImdn, imdnCpim, cpimHeader, imdnElement, imdnStatus } from '../support/im-user.js';
import { headerOf } from '../support/raw-client.js';
import { ChatClient } from '../support/msrp-client.js';
import { putGroupRooms } from '../support/rooms.js';
import type { ReceivedReport } from '../../appliance/src/msrp/msrp-session.js';

// Delivery and display notifications (P5: RFC 5438 IMDN carried in RFC 3862 CPIM) end to end:
// live, from deferred storage, and through the exploder. Each user is a RawClient device, so the
// assertions read what reached the device byte for byte.
const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw', erin: 'erin-pw', frank: 'frank-pw', gina: 'gina-pw', hank: 'hank-pw', ivan: 'ivan-pw', judy: 'judy-pw', kate: 'kate-pw' };

let app: RunningAppliance;
const open: ImUser[] = [];

async function user(name: keyof typeof USERS, register = true, on = app): Promise<ImUser> {
  const u = await ImUser.open(on, name, USERS[name]);
  open.push(u);
  if (register) expect(await u.register()).toMatch(/^SIP\/2\.0 200 /);
  return u;
}

beforeAll(async () => {
  app = await startAppliance({ users: USERS, config: { imdn: { aggregationWindow: 2 } } });
}, 180_000);
afterAll(async () => {
  for (const u of open) u.close();
  await app?.cleanup();
});

const stamp = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

describe('IMDN live (P5, RFC 5438)', () => {
  it('a message asking for notifications reaches the recipient with its CPIM headers intact, and the delivery and display notifications reach the sender matching it', async () => {
    const [alice, bob] = [await user('alice'), await user('bob')];
    const dateTime = stamp();
    const cpim = cpimWithImdn({ from: alice.aor, to: bob.aor, messageId: 'live-34jk324j', dateTime, dispositions: 'positive-delivery, negative-delivery, display', text: 'Hello live' });
    const sent = alice.message('bob', 'message/cpim', cpim);
    const got = await bob.received('the message');
    expect(await sent).toMatch(/^SIP\/2\.0 200 /);
    // RFC 5438 §6: the headers the sender set travel unchanged
    expect(bodyOf(got)).toBe(cpim);
    expect(cpimHeader(bodyOf(got), 'imdn.Message-ID')).toBe('live-34jk324j');

    for (const [kind, status] of [['delivery', 'delivered'], ['display', 'displayed']] as const) {
      const imdn = imdnCpim({ from: bob.aor, to: alice.aor, messageId: 'live-34jk324j', dateTime, originalRecipient: bob.aor, kind, status });
      const answer = bob.message('alice', 'message/cpim', imdn);
      const back = bodyOf(await alice.received(`the ${kind} notification`));
      expect(await answer).toMatch(/^SIP\/2\.0 200 /);
      const xml = back.slice(back.indexOf('<?xml'));
      // RFC 5438 §7.1.2: the sender matches by <message-id>, and by recipient with original-recipient-uri
      expect(imdnElement(xml, 'message-id')).toBe('live-34jk324j');
      expect(imdnElement(xml, 'datetime')).toBe(dateTime);
      expect(imdnElement(xml, 'original-recipient-uri')).toBe(bob.aor);
      expect(imdnStatus(xml)).toEqual({ kind, status });
    }
    alice.close();
    bob.close();
  });
});

describe('IMDN through deferred storage (P2, P5)', () => {
  it('a delivery notification for a message pushed from storage reaches the sender with the original Message-ID', async () => {
    const alice = await user('alice');
    const carol = await user('carol', false);
    const dateTime = stamp();
    const cpim = cpimWithImdn({ from: alice.aor, to: carol.aor, messageId: 'stored-77aa', dateTime, dispositions: 'positive-delivery', text: 'Hello later' });
    expect(await alice.message('carol', 'message/cpim', cpim)).toMatch(/^SIP\/2\.0 202 /);
    expect(await carol.register()).toMatch(/^SIP\/2\.0 200 /);
    const pushed = await carol.received('the pushed message');
    expect(bodyOf(pushed)).toBe(cpim);
    const imdn = imdnCpim({ from: carol.aor, to: cpimHeader(bodyOf(pushed), 'From')!.replace(/[<>]/g, ''), messageId: cpimHeader(bodyOf(pushed), 'imdn.Message-ID')!, dateTime: cpimHeader(bodyOf(pushed), 'DateTime')!, originalRecipient: carol.aor, kind: 'delivery', status: 'delivered' });
    const answer = carol.message('alice', 'message/cpim', imdn);
    const xml = bodyOf(await alice.received('the delivery notification', (m) => m.includes('message/imdn+xml')));
    expect(await answer).toMatch(/^SIP\/2\.0 200 /);
    expect(imdnElement(xml, 'message-id')).toBe('stored-77aa');
    expect(imdnElement(xml, 'datetime')).toBe(dateTime);
    expect(imdnStatus(xml)).toEqual({ kind: 'delivery', status: 'delivered' });
    alice.close();
    carol.close();
  });

  it('a message pushed from storage keeps the Call-ID and From tag it was sent with, which a SIP SIMPLE client\'s delivery notification names as <message-id>', async () => {
    const alice = await user('alice');
    const dave = await user('dave', false);
    // liblinphone without CPIM: the outgoing message's id is its Call-ID (seen on the wire, docs)
    expect(await alice.message('dave', 'text/plain', 'plain hello', [], 'ffqb9rgMGBs')).toMatch(/^SIP\/2\.0 202 /);
    expect(await dave.register()).toMatch(/^SIP\/2\.0 200 /);
    const pushed = await dave.received('the pushed message');
    expect(headerOf(pushed, 'Call-ID')).toEqual(['ffqb9rgMGBs']);
    expect(headerOf(pushed, 'From')[0]).toMatch(/^<sip:alice@parley\.test>;tag=/);
    alice.close();
    dave.close();
  });
});

/** The IMDN XML inside a CPIM body (after its second blank line). */
const xmlOf = (cpim: string): string => cpim.slice(cpim.indexOf('<?xml'));

describe('IMDN for messages sent over MSRP and pushed from storage (RFC 5438 §7.2.1, §7.1.2)', () => {
  const chats: ChatClient[] = [];
  afterAll(() => {
    for (const c of chats) c.close();
  });
  const chat = async (name: keyof typeof USERS, register = true): Promise<ChatClient> => {
    const c = await ChatClient.connect(app, name, USERS[name], register);
    chats.push(c);
    return c;
  };

  /**
   * The recipient's side: the pushed MESSAGE (a new Call-ID: an MSRP message has none of its own)
   * carries the CPIM envelope with the sender's imdn.Message-ID and DateTime; the recipient's
   * delivery notification goes to the CPIM From, and the sender's SIP connection gets it.
   */
  async function answerPushedAndNotify(recipient: ImUser, sender: ChatClient, messageId: string, dateTime: string): Promise<void> {
    expect(await recipient.register()).toMatch(/^SIP\/2\.0 200 /);
    const pushed = await recipient.received('the pushed message', (m) => m.includes(messageId), 15_000);
    expect(headerOf(pushed, 'Content-Type')[0]).toBe('message/cpim'); // the SIP header, before the CPIM's own
    // RFC 3261 §8.1.1.3: the request's From has a tag
    expect(headerOf(pushed, 'From')[0]).toMatch(new RegExp(`^<${sender.aor}>;tag=\\S+`));
    const cpim = bodyOf(pushed);
    expect(cpimHeader(cpim, 'imdn.Message-ID')).toBe(messageId);
    expect(cpimHeader(cpim, 'DateTime')).toBe(dateTime);
    const to = /<([^>]+)>/.exec(cpimHeader(cpim, 'From')!)![1];
    expect(to).toBe(sender.aor);
    const imdn = imdnCpim({ from: recipient.aor, to, messageId: cpimHeader(cpim, 'imdn.Message-ID')!, dateTime: cpimHeader(cpim, 'DateTime')!, originalRecipient: recipient.aor, kind: 'delivery', status: 'delivered' });
    const answer = recipient.message(to, 'message/cpim', imdn);
    const back = await sender.sip.next((m) => m.startsWith('MESSAGE ') && m.includes('message/imdn+xml') && m.includes(messageId), 15_000);
    sender.sip.answer(back.slice(0, back.indexOf('\r\n\r\n')));
    expect(await answer).toMatch(/^SIP\/2\.0 200 /);
    const xml = xmlOf(bodyOf(back));
    // RFC 5438 §7.1.2: the sender matches the notification to its message by <message-id>
    expect(imdnElement(xml, 'message-id')).toBe(messageId);
    expect(imdnElement(xml, 'datetime')).toBe(dateTime);
    expect(imdnStatus(xml)).toEqual({ kind: 'delivery', status: 'delivered' });
  }

  it('a message sent over an MSRP session to an offline user and stored (P4) is pushed with its CPIM envelope, and the delivery notification reaches the sender with the same Message-ID', async () => {
    const ivan = await chat('ivan');
    const judy = await user('judy', false);
    const call = await ivan.invite('judy', { direction: 'sendonly' });
    expect(call.final).toMatch(/^SIP\/2\.0 200 Stored for later delivery/);
    const dateTime = stamp();
    const cpim = cpimWithImdn({ from: ivan.aor, to: judy.aor, messageId: 'msrp-stored-1', dateTime, dispositions: 'positive-delivery', text: 'sent over MSRP' });
    expect((await call.session.send('message/cpim', Buffer.from(cpim))).status).toBe(200);
    expect(await ivan.bye(call)).toMatch(/^SIP\/2\.0 200/);
    await answerPushedAndNotify(judy, ivan, 'msrp-stored-1', dateTime);
    judy.close();
  });

  it('a private room message that asks for notifications, stored for a member who left, is pushed with its CPIM envelope, and the delivery notification reaches the sender with the same Message-ID', async () => {
    expect(await putGroupRooms(app, 'alice', [{ name: 'lobby' }])).toBe(201);
    const ivan = await chat('ivan');
    const kateThen = await chat('kate', false);
    const i = await ivan.invite('lobby');
    const k = await kateThen.invite('lobby');
    expect([i.final, k.final].map((f) => f.split('\r\n')[0])).toEqual(['SIP/2.0 200 OK', 'SIP/2.0 200 OK']);
    expect(await kateThen.bye(k)).toMatch(/^SIP\/2\.0 200/);
    const kate = await user('kate', false);
    const dateTime = stamp();
    const priv = cpimWithImdn({ from: ivan.aor, to: kate.aor, messageId: 'room-stored-1', dateTime, dispositions: 'positive-delivery', text: 'while you were out' });
    const report = new Promise<ReceivedReport>((resolve) => (i.session.onReport = resolve));
    expect((await i.session.send('message/cpim', Buffer.from(priv), { successReport: true })).status).toBe(200);
    expect(await report).toMatchObject({ status: 200, comment: 'Stored for later delivery' });
    await answerPushedAndNotify(kate, ivan, 'room-stored-1', dateTime);
    await ivan.bye(i);
    kate.close();
  });
});

describe('IMDN as an intermediary: stored and expired messages (RFC 5438 §8)', () => {
  it('a message that asks for processing notifications and is stored brings the sender a <stored/> processing notification from the recipient; one that does not ask brings none', async () => {
    const alice = await user('alice');
    const erin = await user('erin', false);
    const quiet = cpimWithImdn({ from: alice.aor, to: erin.aor, messageId: 'no-processing-1', dateTime: stamp(), dispositions: 'positive-delivery', text: 'no processing asked' });
    expect(await alice.message('erin', 'message/cpim', quiet)).toMatch(/^SIP\/2\.0 202 /);
    const dateTime = stamp();
    const asked = cpimWithImdn({ from: alice.aor, to: erin.aor, messageId: 'processing-2', dateTime, dispositions: 'positive-delivery, processing', text: 'processing asked' });
    expect(await alice.message('erin', 'message/cpim', asked)).toMatch(/^SIP\/2\.0 202 /);
    // notifications arrive in the order of the messages: the first one is for the second message
    const note = await alice.received('the processing notification');
    const cpim = bodyOf(note);
    expect(headerOf(note, 'Content-Type')[0]).toBe('message/cpim'); // the SIP header, before the CPIM's own
    expect(headerOf(note, 'From')[0]).toMatch(/^<sip:erin@parley\.test>;tag=/);
    expect(cpimHeader(cpim, 'From')).toBe(`<${erin.aor}>`);
    expect(cpimHeader(cpim, 'To')).toBe(`<${alice.aor}>`);
    expect(cpimHeader(cpim, 'imdn.Disposition-Notification')).toBeUndefined(); // an IMDN asks for none
    expect(cpim).toMatch(/\r\nContent-Disposition: notification\r\n/);
    expect(imdnElement(xmlOf(cpim), 'message-id')).toBe('processing-2');
    expect(imdnElement(xmlOf(cpim), 'datetime')).toBe(dateTime);
    expect(imdnElement(xmlOf(cpim), 'original-recipient-uri')).toBe(erin.aor);
    expect(imdnStatus(xmlOf(cpim))).toEqual({ kind: 'processing', status: 'stored' });
    alice.close();
    erin.close();
  });

  it('sends its own notification to the authenticated sender, whatever CPIM From the client wrote', async () => {
    const alice = await user('alice');
    const forged = cpimWithImdn({ from: `sip:carol@${app.domain}`, to: `sip:erin@${app.domain}`, messageId: 'forged-3', dateTime: stamp(), dispositions: 'processing', text: 'from "carol"' });
    expect(await alice.message('erin', 'message/cpim', forged)).toMatch(/^SIP\/2\.0 202 /);
    // (each test's alice is a new device; a notification for an earlier one may still be pushed to it)
    const note = await alice.received('the processing notification', (m) => m.includes('forged-3'));
    expect(imdnElement(xmlOf(bodyOf(note)), 'message-id')).toBe('forged-3');
    expect(headerOf(note, 'To')[0]).toBe(`<sip:alice@${app.domain}>`);
    alice.close();
  });

  it('an IMDN stored for an offline sender never brings a notification of its own', async () => {
    const frank = await user('frank');
    const gina = await user('gina', false);
    // an IMDN that (wrongly) asks for processing notifications: still only bookkeeping
    const imdn = imdnCpim({ from: frank.aor, to: gina.aor, messageId: 'orig-1', dateTime: stamp(), originalRecipient: frank.aor, kind: 'delivery', status: 'delivered' }).replace('DateTime:', 'imdn.Disposition-Notification: processing\r\nDateTime:');
    expect(await frank.message('gina', 'message/cpim', imdn)).toMatch(/^SIP\/2\.0 202 /);
    const marker = cpimWithImdn({ from: frank.aor, to: gina.aor, messageId: 'marker-2', dateTime: stamp(), dispositions: 'processing', text: 'marker' });
    expect(await frank.message('gina', 'message/cpim', marker)).toMatch(/^SIP\/2\.0 202 /);
    const first = bodyOf(await frank.received('the marker\'s processing notification'));
    expect(imdnElement(xmlOf(first), 'message-id')).toBe('marker-2');
    frank.close();
    gina.close();
  });
});

describe('IMDN for stored messages that expire (RFC 5438 §8.2)', () => {
  let short: RunningAppliance;
  beforeAll(async () => {
    short = await startAppliance({ users: { alice: USERS.alice, bob: USERS.bob }, config: { deferred: { retention: 1, sweepInterval: 1 } } });
  }, 180_000);
  afterAll(async () => {
    await short?.cleanup();
  });

  it('a stored message that asked for negative-delivery and expires undelivered brings the sender a <failed/> delivery notification from the recipient; one that did not ask brings none', async () => {
    const alice = await user('alice', true, short);
    const bob = await user('bob', false, short);
    const quiet = cpimWithImdn({ from: alice.aor, to: bob.aor, messageId: 'expires-quietly', dateTime: stamp(), dispositions: 'positive-delivery', text: 'no negative asked' });
    expect(await alice.message('bob', 'message/cpim', quiet)).toMatch(/^SIP\/2\.0 202 /);
    const dateTime = stamp();
    const asked = cpimWithImdn({ from: alice.aor, to: bob.aor, messageId: 'expires-loudly', dateTime, dispositions: 'positive-delivery, negative-delivery', text: 'negative asked' });
    expect(await alice.message('bob', 'message/cpim', asked)).toMatch(/^SIP\/2\.0 202 /);
    const note = await alice.received('the negative delivery notification', () => true, 15_000);
    const cpim = bodyOf(note);
    expect(headerOf(note, 'From')[0]).toMatch(/^<sip:bob@parley\.test>;tag=/);
    expect(cpimHeader(cpim, 'From')).toBe(`<${bob.aor}>`);
    expect(imdnElement(xmlOf(cpim), 'message-id')).toBe('expires-loudly');
    expect(imdnElement(xmlOf(cpim), 'datetime')).toBe(dateTime);
    expect(imdnElement(xmlOf(cpim), 'original-recipient-uri')).toBe(bob.aor);
    expect(imdnStatus(xmlOf(cpim))).toEqual({ kind: 'delivery', status: 'failed' });
    // and the expired message is not pushed when Bob comes online
    expect(await bob.register()).toMatch(/^SIP\/2\.0 200 /);
    await expect(bob.received('nothing', () => true, 1500)).rejects.toThrow(/no matching message/);
    alice.close();
    bob.close();
  });
});

describe('IMDN for stored messages that expire while the server is down (RFC 5438 §8.2)', () => {
  let down: RunningAppliance;
  beforeAll(async () => {
    // a second's retention and no live sweep within the test: the expiry passes while the server is stopped
    down = await startAppliance({ users: { alice: USERS.alice, bob: USERS.bob }, config: { deferred: { retention: 1, sweepInterval: 3600 } } });
  }, 180_000);
  afterAll(async () => {
    await down?.cleanup();
  });

  it('the sweep at start-up sends the sender the <failed/> notification the live sweep would, and a later restart sends none again', { timeout: 90_000 }, async () => {
    const alice = await user('alice', true, down);
    const bob = await user('bob', false, down);
    const dateTime = stamp();
    const asked = cpimWithImdn({ from: alice.aor, to: bob.aor, messageId: 'expired-while-down', dateTime, dispositions: 'negative-delivery', text: 'sent before the outage' });
    const storedAt = Date.now();
    expect(await alice.message('bob', 'message/cpim', asked)).toMatch(/^SIP\/2\.0 202 /);
    await down.stop();
    // wait (bounded) until the one-second retention has passed, with the server down
    await eventually(() => Date.now() > storedAt + 1500, 5000);
    await down.restart();
    // the sender's device registers again (a binding may or may not have outlived the restart)
    expect(await alice.register()).toMatch(/^SIP\/2\.0 200 /);
    const note = await alice.received('the negative delivery notification after the restart', (m) => m.includes('expired-while-down'), 20_000);
    const cpim = bodyOf(note);
    expect(headerOf(note, 'From')[0]).toMatch(/^<sip:bob@parley\.test>;tag=/);
    expect(cpimHeader(cpim, 'From')).toBe(`<${bob.aor}>`);
    expect(imdnElement(xmlOf(cpim), 'message-id')).toBe('expired-while-down');
    expect(imdnElement(xmlOf(cpim), 'datetime')).toBe(dateTime);
    expect(imdnStatus(xmlOf(cpim))).toEqual({ kind: 'delivery', status: 'failed' });

    // once: after another restart the next thing Alice's device gets is Bob's marker, not the notification again
    await down.restart();
    expect(await alice.register()).toMatch(/^SIP\/2\.0 200 /);
    expect(await bob.register()).toMatch(/^SIP\/2\.0 200 /);
    const marker = bob.message('alice', 'text/plain', 'marker after the second restart');
    expect(bodyOf(await alice.received('the marker'))).toBe('marker after the second restart');
    expect(await marker).toMatch(/^SIP\/2\.0 200 /);
    alice.close();
    bob.close();
  });
});

describe('IMDN through the exploder (RFC 5365, RFC 5438 §8.3)', () => {
  const listBody = (cpim: string, members: string[]) => {
    const list = `<?xml version="1.0" encoding="UTF-8"?><resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>${members.map((m) => `<entry uri="${m}"/>`).join('')}</list></resource-lists>`;
    const body = ['--b1', 'Content-Type: message/cpim', '', cpim, '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', list, '--b1--', ''].join('\r\n');
    return { body, contentType: 'multipart/mixed;boundary="b1"' };
  };

  it('each copy carries the list\'s IMDN-Record-Route; the recipients\' delivery notifications come back as one aggregated IMDN naming each recipient, and a display notification alone after the aggregation window', async () => {
    const [alice, bob, carol] = [await user('alice'), await user('bob'), await user('carol')];
    const factory = `sip:conf-factory@${app.domain}`;
    const dateTime = stamp();
    const cpim = cpimWithImdn({ from: alice.aor, to: factory, messageId: 'list-msg-1', dateTime, dispositions: 'positive-delivery, display', text: 'hello list' });
    const { body, contentType } = listBody(cpim, [bob.aor, carol.aor]);
    expect(await alice.message('conf-factory', contentType, body)).toMatch(/^SIP\/2\.0 202 /);
    const copies = [await bob.received('the copy'), await carol.received('the copy')].map(bodyOf);
    for (const c of copies) {
      expect(cpimHeader(c, 'imdn.Message-ID')).toBe('list-msg-1');
      expect(cpimHeader(c, 'imdn.IMDN-Record-Route')).toBe(`<${factory}>`);
    }
    // RFC 5438 §7.2.1: each recipient sends its notification through the recorded route
    for (const u of [bob, carol]) {
      const imdn = imdnCpim({ from: u.aor, to: alice.aor, messageId: 'list-msg-1', dateTime, kind: 'delivery', status: 'delivered' }).replace('DateTime:', `imdn.IMDN-Route: <${factory}>\r\nDateTime:`);
      expect(await u.message(factory, 'message/cpim', imdn)).toMatch(/^SIP\/2\.0 202 /);
    }
    const aggregate = await alice.received('the aggregated delivery notification', (m) => m.includes('list-msg-1'));
    expect(headerOf(aggregate, 'From')[0]).toMatch(new RegExp(`^<${factory}>;tag=`));
    const type = headerOf(aggregate, 'Content-Type')[0];
    expect(type).toMatch(/^multipart\/mixed;\s*boundary=/);
    const parts = multipartParts(type, bodyOf(aggregate));
    const byRecipient = new Map(parts.map((p) => [imdnElement(xmlOf(p.body), 'recipient-uri'), p.body]));
    expect([...byRecipient.keys()].sort()).toEqual([bob.aor, carol.aor]);
    for (const [who, part] of byRecipient) {
      expect(cpimHeader(part, 'From')).toBe(`<${who}>`);
      expect(imdnElement(xmlOf(part), 'message-id')).toBe('list-msg-1');
      expect(imdnElement(xmlOf(part), 'datetime')).toBe(dateTime);
      expect(imdnElement(xmlOf(part), 'original-recipient-uri')).toBe(who);
      expect(imdnStatus(xmlOf(part))).toEqual({ kind: 'delivery', status: 'delivered' });
    }
    // only Bob reads it: after the window his display notification goes on alone
    const shown = imdnCpim({ from: bob.aor, to: alice.aor, messageId: 'list-msg-1', dateTime, kind: 'display', status: 'displayed' });
    expect(await bob.message(factory, 'message/cpim', shown)).toMatch(/^SIP\/2\.0 202 /);
    const display = bodyOf(await alice.received('the display notification after the window', (m) => m.includes('list-msg-1'), 15_000));
    expect(imdnElement(xmlOf(display), 'recipient-uri')).toBe(bob.aor);
    expect(imdnStatus(xmlOf(display))).toEqual({ kind: 'display', status: 'displayed' });
  });

  it('a copy that cannot be delivered is a <failed/> or <forbidden/> delivery notification for that recipient when negative-delivery was asked', async () => {
    const [alice, hank] = [await user('alice'), await user('hank')];
    const factory = `sip:conf-factory@${app.domain}`;
    const cpim = cpimWithImdn({ from: alice.aor, to: factory, messageId: 'list-msg-2', dateTime: stamp(), dispositions: 'negative-delivery', text: 'hello list 2' });
    const { body, contentType } = listBody(cpim, [hank.aor, `sip:nobody@${app.domain}`]);
    expect(await alice.message('conf-factory', contentType, body)).toMatch(/^SIP\/2\.0 202 /);
    await hank.received('the copy');
    const note = bodyOf(await alice.received('the negative notification for nobody', (m) => m.includes('list-msg-2'), 15_000));
    expect(imdnElement(xmlOf(note), 'original-recipient-uri')).toBe(`sip:nobody@${app.domain}`);
    expect(imdnStatus(xmlOf(note))).toEqual({ kind: 'delivery', status: 'failed' });
  });

  it('refuses a notification for a message the list never exploded (404) and one that is not an IMDN it can read (400)', async () => {
    const bob = await user('bob');
    const factory = `sip:conf-factory@${app.domain}`;
    const stray = imdnCpim({ from: bob.aor, to: `sip:alice@${app.domain}`, messageId: 'never-sent', dateTime: stamp(), kind: 'delivery', status: 'delivered' });
    expect(await bob.message(factory, 'message/cpim', stray)).toMatch(/^SIP\/2\.0 404 No message awaits this notification/);
    const broken = stray.replace('<message-id>never-sent</message-id>', '');
    expect(await bob.message(factory, 'message/cpim', broken)).toMatch(/^SIP\/2\.0 400 Malformed IMDN/);
  });
});
