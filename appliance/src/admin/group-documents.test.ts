import { describe, expect, it } from 'vitest';
import { putBlocked, putGroup, readBlocked, readGroups, removeGroup, serialize } from './group-documents.js';

const D = 'example.com';
const nameOf = (uri: string) => uri.slice(4, uri.indexOf('@'));

describe('groups as <list-service>s of the OMA groups document', () => {
  it('reads back what it writes, one join rule per group (rule ids are unique in the document)', () => {
    let xml = serialize(putGroup(null, { uri: `sip:a@${D}`, displayName: 'A', visibility: 'public', maxParticipants: 3, members: [`sip:x@${D}`] }, D));
    xml = serialize(putGroup(xml, { uri: `sip:b@${D}`, displayName: 'B', visibility: 'private', maxParticipants: null, members: [] }, D));
    expect(xml.match(/<\?xml/g)).toHaveLength(1);
    expect(xml).toContain('id="parley-join-a"');
    expect(xml).toContain('id="parley-join-b"');
    expect(readGroups(xml, nameOf)).toEqual([
      { name: 'a', uri: `sip:a@${D}`, displayName: 'A', visibility: 'public', maxParticipants: 3, members: [`sip:x@${D}`] },
      { name: 'b', uri: `sip:b@${D}`, displayName: 'B', visibility: 'private', maxParticipants: null, members: [] },
    ]);
    expect(removeGroup(xml, `sip:c@${D}`)).toBe('absent');
    const one = removeGroup(xml, `sip:a@${D}`);
    expect(readGroups(serialize(one as never), nameOf).map((g) => g.name)).toEqual(['b']);
    expect(removeGroup(serialize(one as never), `sip:b@${D}`)).toBeNull();
  });

  it('keeps what the console does not manage when it replaces a group', () => {
    const xml = `<group xmlns="urn:oma:xml:poc:list-service"><list-service uri="sip:a@${D}"><display-name>A</display-name><invite-members>true</invite-members></list-service></group>`;
    const out = serialize(putGroup(xml, { uri: `sip:a@${D}`, displayName: 'A2', visibility: 'private', maxParticipants: null, members: [] }, D));
    expect(out).toContain('<invite-members>true</invite-members>');
    expect(readGroups(out, nameOf)[0].displayName).toBe('A2');
  });
});

describe('block lists in im-access-rules', () => {
  it('replaces only pure block rules and keeps the others', () => {
    const xml = `<cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy" xmlns:ir="urn:parley:params:xml:ns:im-rules">
      <cp:rule id="old"><cp:conditions><cp:identity><cp:one id="sip:x@${D}"/></cp:identity></cp:conditions><cp:actions><ir:im-handling>block</ir:im-handling></cp:actions></cp:rule>
      <cp:rule id="keep"><cp:conditions><cp:identity><cp:one id="sip:y@${D}"/></cp:identity></cp:conditions><cp:actions><ir:im-handling>polite-block</ir:im-handling></cp:actions></cp:rule>
    </cp:ruleset>`;
    expect(readBlocked(xml)).toEqual([`sip:x@${D}`]);
    const out = serialize(putBlocked(xml, [`sip:z@${D}`]));
    expect(readBlocked(out)).toEqual([`sip:z@${D}`]);
    expect(out).toContain('id="keep"');
    expect(out).not.toContain('id="old"');
    expect(readBlocked(serialize(putBlocked(null, [])))).toEqual([]);
  });
});
