import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { RawClient, headerOf } from '../support/raw-client.js';
import { registerContact, sendMessage } from '../support/sip-user.js';
import { xcapRequest } from '../support/xcap-client.js';
import { multipartParts } from '../support/mime.js';

const D = 'parley.test';
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'] as const;
type Name = (typeof NAMES)[number];
const user = (name: Name) => ({ name, password: `${name}-pw` });
const REPORT_TYPE = 'application/vnd.parley.recipient-report+json';

let app: RunningAppliance;
/** the registered devices (dave stays offline until a test brings him online) */
const devices = new Map<Name, RawClient>();

async function online(name: Name): Promise<RawClient> {
  const dev = await RawClient.udp(app.sipPort);
  devices.set(name, dev);
  expect(await registerContact(app, user(name), `127.0.0.1:${dev.localPort}`)).toMatch(/^SIP\/2\.0 200/);
  return dev;
}

beforeAll(async () => {
  app = await startAppliance({ users: Object.fromEntries(NAMES.map((n) => [n, `${n}-pw`])) });
  for (const n of ['alice', 'bob', 'carol', 'erin', 'frank'] as const) await online(n);
  // erin blocks alice (Y2), in her IM access rules
  const rules = `<?xml version="1.0" encoding="UTF-8"?>
<cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy" xmlns:ir="urn:parley:params:xml:ns:im-rules">
  <cp:rule id="r1"><cp:conditions><cp:identity><cp:one id="sip:alice@${D}"/></cp:identity></cp:conditions><cp:actions><ir:im-handling>block</ir:im-handling></cp:actions></cp:rule>
</cp:ruleset>`;
  const put = await xcapRequest(app, 'PUT', `im-access-rules/users/sip:erin@${D}/index`, { user: 'erin', body: rules, headers: { 'Content-Type': 'application/auth-policy+xml' } });
  expect(put.status).toBe(201);
  // alice's groups: team (private: bob, frank) and all (public: carol and the group team)
  const rule = (id: string, cond: string) =>
    `<cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy"><cp:rule id="parley-join-${id}"><cp:conditions>${cond}</cp:conditions><cp:actions><join-handling>true</join-handling></cp:actions></cp:rule></cp:ruleset>`;
  const groups = `<?xml version="1.0" encoding="UTF-8"?>
<group xmlns="urn:oma:xml:poc:list-service">
<list-service uri="sip:team@${D}"><display-name>Team</display-name><list><entry uri="sip:bob@${D}"/><entry uri="sip:frank@${D}"/></list>${rule('team', '<is-list-member/>')}</list-service>
<list-service uri="sip:all@${D}"><display-name>All</display-name><list><entry uri="sip:carol@${D}"/><entry uri="sip:team@${D}"/></list>${rule('all', `<cp:identity><cp:many domain="${D}"/></cp:identity>`)}</list-service>
</group>`;
  const g = await xcapRequest(app, 'PUT', `org.openmobilealliance.groups/users/sip:alice@${D}/index`, { body: groups, headers: { 'Content-Type': 'application/vnd.oma.poc.groups+xml' } });
  expect(g.status).toBe(201);
});
afterAll(async () => {
  for (const d of devices.values()) d.close();
  await app?.cleanup();
});

/** An RFC 5365 body: the message part and the URI list part (RFC 5366-style recipient-list disposition). */
function listBody(text: string, entries: string): { body: string; contentType: string } {
  const list = `<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>${entries}</list></resource-lists>`;
  const body = ['--b1', 'Content-Type: text/plain', '', text, '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', list, '--b1--', ''].join('\r\n');
  return { body, contentType: 'multipart/mixed;boundary="b1"' };
}

const entry = (name: string) => `<entry uri="sip:${name}@${D}"/>`;

/** `from` sends one MESSAGE to `sip:<to>@D` (authenticating when challenged); the final response. */
const send = (from: Name, to: string, body: string, opts: { contentType?: string; headers?: string[] } = {}): Promise<string> => sendMessage(app, user(from), to, body, opts);

/** The next MESSAGE a device gets whose text includes `marker`, answered 200. */
async function receive(dev: RawClient, marker: string): Promise<string> {
  const m = await dev.next((x) => x.startsWith('MESSAGE ') && x.includes(marker), 12_000);
  dev.answer(m, 200, 'OK', 'dev');
  return m;
}

const bodyOf = (m: string) => m.slice(m.indexOf('\r\n\r\n') + 4);
const statusLine = (r: string) => r.split('\r\n')[0];

/** The next per-recipient report alice gets: recipient user part -> final status. */
async function reportFor(): Promise<Record<string, number>> {
  const m = await receive(devices.get('alice')!, REPORT_TYPE);
  const report = JSON.parse(bodyOf(m)) as { recipients: { uri: string; status: number }[] };
  return Object.fromEntries(report.recipients.map((r) => [r.uri.replace(`@${D}`, '').replace('sip:', ''), r.status]));
}

describe('message exploder (P3): a MESSAGE to the conference factory with an RFC 5365 URI list', () => {
  it('reaches every member through their own policy: live, stored for the offline one, refused by the blocking one; the report says which', async () => {
    // carol in a nested <list>: nested lists are expanded (S6)
    const { body, contentType } = listBody('hello list-1', `${entry('bob')}<list>${entry('carol')}</list>${entry('dave')}${entry('erin')}${entry('alice')}`);
    const answer = await send('alice', 'conf-factory', body, { contentType, headers: ['P-Parley-Report: recipients'] });
    expect(statusLine(answer)).toBe('SIP/2.0 202 Accepted');
    const [toBob, toCarol] = await Promise.all([receive(devices.get('bob')!, 'hello list-1'), receive(devices.get('carol')!, 'hello list-1')]);
    for (const [m, name] of [[toBob, 'bob'], [toCarol, 'carol']] as const) {
      expect(bodyOf(m)).toBe('hello list-1'); // the message part alone, not the multipart body
      expect(headerOf(m, 'Content-Type')).toEqual(['text/plain']);
      expect(headerOf(m, 'From')[0]).toContain(`sip:alice@${D}`);
      expect(headerOf(m, 'To')[0]).toBe(`<sip:${name}@${D}>`);
      expect(headerOf(m, 'P-Parley-Exploded')).toEqual([`<sip:conf-factory@${D}>`]);
    }
    // the sender is not sent her own message; erin blocks alice (403), dave is offline (stored, 202)
    expect(await reportFor()).toEqual({ bob: 200, carol: 200, dave: 202, erin: 403 });
    // the report comes after every outcome: erin's device got nothing by then
    await expect(devices.get('erin')!.next((x) => x.includes('hello list-1'), 0)).rejects.toThrow(/no matching message/);
    // dave comes online and gets the stored copy (deferred storage)
    const dave = await online('dave');
    const stored = await receive(dave, 'hello list-1');
    expect(headerOf(stored, 'From')[0]).toContain(`sip:alice@${D}`);
  });

  it('sends no report unless asked for one', async () => {
    const { body, contentType } = listBody('hello list-2', entry('bob'));
    expect(statusLine(await send('alice', 'conf-factory', body, { contentType }))).toBe('SIP/2.0 202 Accepted');
    await receive(devices.get('bob')!, 'hello list-2');
    // a later report-carrying fan-out is the first report alice sees
    const again = listBody('hello list-3', entry('carol'));
    await send('alice', 'conf-factory', again.body, { contentType: again.contentType, headers: ['P-Parley-Report: recipients'] });
    await receive(devices.get('carol')!, 'hello list-3');
    expect(await reportFor()).toEqual({ carol: 200 });
  });

  it('refuses bad input with a precise status', async () => {
    const ok = listBody('x', entry('bob'));
    expect(statusLine(await send('alice', 'conf-factory', 'just text'))).toBe('SIP/2.0 415 Unsupported Media Type');
    expect(statusLine(await send('alice', 'conf-factory', '--b1\r\nContent-Type: text/plain\r\n\r\nx\r\n', { contentType: ok.contentType }))).toBe('SIP/2.0 400 Malformed multipart body');
    const noList = ['--b1', 'Content-Type: text/plain', '', 'x', '--b1--', ''].join('\r\n');
    expect(statusLine(await send('alice', 'conf-factory', noList, { contentType: ok.contentType }))).toMatch(/^SIP\/2\.0 400 Expected one resource-lists part/);
    const badXml = ok.body.replace('</resource-lists>', '');
    expect(statusLine(await send('alice', 'conf-factory', badXml, { contentType: ok.contentType }))).toBe('SIP/2.0 400 URI list is not well-formed XML');
    const onlyMe = listBody('x', entry('alice'));
    expect(statusLine(await send('alice', 'conf-factory', onlyMe.body, { contentType: onlyMe.contentType }))).toBe('SIP/2.0 400 The list names no recipient');
    const unknownExt = await send('alice', 'conf-factory', ok.body, { contentType: ok.contentType, headers: ['Require: recipient-list-message, foo'] });
    expect(statusLine(unknownExt)).toBe('SIP/2.0 420 Bad Extension');
    expect(headerOf(unknownExt, 'Unsupported')).toEqual(['foo']);
    expect(statusLine(await send('alice', 'nobody-here', 'x'))).toBe('SIP/2.0 404 Not Found');
  });

  it('takes Require: recipient-list-message (RFC 5365 option tag)', async () => {
    const { body, contentType } = listBody('hello list-4', entry('bob'));
    expect(statusLine(await send('alice', 'conf-factory', body, { contentType, headers: ['Require: recipient-list-message'] }))).toBe('SIP/2.0 202 Accepted');
    await receive(devices.get('bob')!, 'hello list-4');
  });
});

describe('message exploder (P3): a MESSAGE to a group URI', () => {
  it('reaches every other member, with the group as To', async () => {
    expect(statusLine(await send('bob', 'team', 'hello team-1'))).toBe('SIP/2.0 202 Accepted');
    const m = await receive(devices.get('frank')!, 'hello team-1');
    expect(headerOf(m, 'To')).toEqual([`<sip:team@${D}>`]);
    expect(headerOf(m, 'From')[0]).toContain(`sip:bob@${D}`);
    // bob, the sender, is not sent his own message (frank's copy went out after the sender was left out)
    await expect(devices.get('bob')!.next((x) => x.includes('hello team-1'), 0)).rejects.toThrow(/no matching message/);
  });

  it('takes messages to a private group from its members only', async () => {
    expect(statusLine(await send('carol', 'team', 'let me in'))).toBe('SIP/2.0 403 Only members may send to this group');
  });
});

describe('loop guard (S6)', () => {
  it('refuses a group nested in a group: the marked copy to the inner group gets 482, the others are delivered', async () => {
    expect(statusLine(await send('alice', 'all', 'hello all-1', { headers: ['P-Parley-Report: recipients'] }))).toBe('SIP/2.0 202 Accepted');
    await receive(devices.get('carol')!, 'hello all-1');
    expect(await reportFor()).toEqual({ carol: 200, team: 482 });
    // nobody of the inner group got it
    await expect(devices.get('bob')!.next((x) => x.includes('hello all-1'), 0)).rejects.toThrow(/no matching message/);
  });

  it('refuses a URI list that names the factory or a group', async () => {
    const { body, contentType } = listBody('hello list-5', `${entry('conf-factory')}${entry('team')}${entry('carol')}`);
    await send('alice', 'conf-factory', body, { contentType, headers: ['P-Parley-Report: recipients'] });
    await receive(devices.get('carol')!, 'hello list-5');
    expect(await reportFor()).toEqual({ 'conf-factory': 482, team: 482, carol: 200 });
  });

  it('refuses a request that already passed a controlling function, at the factory and at a group', async () => {
    const { body, contentType } = listBody('x', entry('bob'));
    const marked = ['P-Parley-Exploded: <sip:elsewhere@example.com>'];
    expect(statusLine(await send('alice', 'conf-factory', body, { contentType, headers: marked }))).toBe('SIP/2.0 482 Loop Detected: already expanded by sip:elsewhere@example.com');
    expect(statusLine(await send('bob', 'team', 'x', { headers: marked }))).toMatch(/^SIP\/2\.0 482 Loop Detected/);
  });
});

describe('RFC 5364 copy control in the exploder', () => {
  /** The history list a copy carries (RFC 5365 recipient-list-history): each entry's uri, copyControl and count. */
  function history(m: string): { text: string; entries: { uri: string; control: string; count: string | null }[] } {
    const parts = multipartParts(headerOf(m, 'Content-Type')[0], bodyOf(m));
    expect(parts).toHaveLength(2);
    const [content, list] = parts;
    expect(list.headers['content-type']).toBe('application/resource-lists+xml');
    expect(list.headers['content-disposition']).toBe('recipient-list-history; handling=optional');
    const entries = [...list.body.matchAll(/<entry uri="([^"]+)" cp:copyControl="([^"]+)"(?: cp:count="(\d+)")?/g)].map((e) => ({ uri: e[1], control: e[2], count: e[3] ?? null }));
    expect(content.headers['content-type']).toBe('text/plain');
    return { text: content.body, entries };
  }

  it('shows every recipient the to and cc recipients, never a bcc one, and an anonymized one only as a count', async () => {
    const cp = (name: string, control: string, anonymize = false) => `<entry uri="sip:${name}@${D}" cp:copyControl="${control}"${anonymize ? ' cp:anonymize="true"' : ''}/>`;
    const list = `<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists" xmlns:cp="urn:ietf:params:xml:ns:copycontrol"><list>${cp('bob', 'to')}${cp('dave', 'to', true)}${cp('carol', 'cc')}${cp('frank', 'bcc')}</list></resource-lists>`;
    const body = ['--b1', 'Content-Type: text/plain', '', 'hello cc-1', '--b1', 'Content-Type: application/resource-lists+xml', 'Content-Disposition: recipient-list', '', list, '--b1--', ''].join('\r\n');
    expect(statusLine(await send('alice', 'conf-factory', body, { contentType: 'multipart/mixed;boundary="b1"' }))).toBe('SIP/2.0 202 Accepted');
    const dave = devices.get('dave') ?? (await online('dave'));
    const copies = await Promise.all([receive(devices.get('bob')!, 'hello cc-1'), receive(dave, 'hello cc-1'), receive(devices.get('carol')!, 'hello cc-1'), receive(devices.get('frank')!, 'hello cc-1')]);
    for (const m of copies) {
      const h = history(m);
      expect(h.text).toBe('hello cc-1');
      // the same list for everyone, the bcc recipient (frank) included: to and cc only, dave as a count
      expect(h.entries).toEqual([
        { uri: `sip:bob@${D}`, control: 'to', count: null },
        { uri: `sip:carol@${D}`, control: 'cc', count: null },
        { uri: 'sip:anonymous@anonymous.invalid', control: 'to', count: '1' },
      ]);
      // no copy's body names the bcc recipient or the anonymized one (each copy's To names its own recipient only)
      expect(bodyOf(m)).not.toContain(`frank@${D}`);
      expect(bodyOf(m)).not.toContain(`dave@${D}`);
    }
  });
});
