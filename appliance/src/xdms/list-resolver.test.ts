import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOMParser } from '@xmldom/xmldom';
import { tempStore } from '../../../test/support/temp-store.js';
import { DocumentStore } from './document-store.js';
import { ListResolver } from './list-resolver.js';
import { AttributeIndex } from './attribute-index.js';
import { LocalDomain } from '../core/local-domain.js';

let temp: Awaited<ReturnType<typeof tempStore>>;
let store: DocumentStore;
let resolver: ListResolver;
const RL = 'urn:ietf:params:xml:ns:resource-lists';
const BASE = 'http://127.0.0.1:8080/xcap-root/resource-lists/users';
const anchor = (user: string, list: string) => `${BASE}/sip:${user}@parley.test/index/~~/resource-lists/list%5B@name=%22${list}%22%5D`;
const doc = (lists: string) => `<?xml version="1.0"?><resource-lists xmlns="${RL}">${lists}</resource-lists>`;
const key = (user: string) => ({ auid: 'resource-lists', owner: `sip:${user}@parley.test`, path: 'index' });
const root = (xml: string) => new DOMParser().parseFromString(xml, 'text/xml').documentElement as never;

beforeAll(async () => {
  temp = await tempStore('lists');
  store = new DocumentStore(temp.ds);
  const groups = new AttributeIndex(store, 'org.openmobilealliance.groups', 'urn:oma:xml:poc:list-service', 'list-service', 'uri');
  resolver = new ListResolver(store, new LocalDomain('parley.test', ['127.0.0.1']), '/xcap-root', groups);
  await store.put(key('bob'), doc(`<list name="team"><entry uri="sip:carol@parley.test"/><list name="sub"><entry uri="sip:dave@parley.test"/></list></list>`), {});
  await store.put(
    key('alice'),
    doc(`<list name="all"><entry uri="sip:bob@parley.test"><display-name>Bob</display-name></entry><external anchor="${anchor('bob', 'team')}"/><external anchor="http://elsewhere.example/xcap-root/resource-lists/users/sip:x@elsewhere.example/index"/><entry uri="sip:carol@parley.test"/></list>`),
    {},
  );
  await store.put(
    { auid: 'org.openmobilealliance.groups', owner: 'sip:alice@parley.test', path: 'index' },
    `<group xmlns="urn:oma:xml:poc:list-service"><list-service uri="sip:team@parley.test"><display-name>Team</display-name><list><entry uri="sip:erin@parley.test"/><external anchor="${anchor('bob', 'team')}"/></list><max-participant-count>10</max-participant-count></list-service></group>`,
    {},
  );
});
afterAll(async () => {
  await temp.cleanup();
});

describe('list resolver (X5, S6)', () => {
  it('expands nested lists and external references within our XCAP root, each URI once', async () => {
    const row = await store.get(key('alice'));
    const members = await resolver.expand(root(row!.content));
    expect(members.map((m) => m.uri)).toEqual(['sip:bob@parley.test', 'sip:carol@parley.test', 'sip:dave@parley.test']);
    expect(members[0].display).toBe('Bob');
  });

  it('refuses a document whose references loop back', async () => {
    const looping = doc(`<list name="team"><external anchor="${anchor('alice', 'all')}"/></list>`);
    await expect(resolver.checkNoLoops(key('bob'), looping)).rejects.toMatchObject({ status: 409, condition: 'constraint-failure' });
    await expect(resolver.checkNoLoops(key('bob'), doc(`<list name="team"><entry uri="sip:x@parley.test"/></list>`))).resolves.toBeUndefined();
  });

  it('resolves a group URI to its members, display name, limit and who may join', async () => {
    const g = await resolver.groupMembers('sip:team@parley.test');
    expect(g).toEqual({
      displayName: 'Team',
      maxParticipants: 10,
      // no rule lets anyone (<cp:many/>) join: members only (OMA PoC XDM join-handling)
      membersOnly: true,
      members: [
        { uri: 'sip:erin@parley.test', display: null },
        { uri: 'sip:carol@parley.test', display: null },
        { uri: 'sip:dave@parley.test', display: null },
      ],
    });
    expect(await resolver.groupMembers('sip:nobody@parley.test')).toBeNull();
  });
});
